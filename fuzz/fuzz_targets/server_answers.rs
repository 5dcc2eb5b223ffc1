//! Whatever a server answers: a file download's JSON envelope fed in arbitrary chunks (the
//! streaming scanner and base64 decoder), and an error body summed up for a message. Errors
//! are fine; panics, hangs and unbounded memory are not.
#![no_main]

use ferry::files::envelope::{Base64Stream, Scanner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ferry::net::body_summary(data);
    // The first byte picks the chunk size, so chunk boundaries land everywhere.
    let Some((&n, body)) = data.split_first() else {
        return;
    };
    let chunk = (n as usize % 64) + 1;
    let mut scanner = Scanner::new("data", "mime_type", Vec::new());
    let mut ok = true;
    for c in body.chunks(chunk) {
        if scanner.feed(c).is_err() {
            ok = false;
            break;
        }
    }
    if ok {
        let _ = scanner.mime();
        let _ = scanner.finish();
    }
    // Both decoders: the one that skips whitespace, and the fast one for text the scanner
    // saw none in (it must still refuse whitespace, never panic on it).
    let mut b64 = Base64Stream::new(chunk % 2 == 0);
    for c in body.chunks(chunk) {
        if b64.feed(c).is_err() {
            return;
        }
    }
});
