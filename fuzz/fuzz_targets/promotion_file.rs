//! Any text as a promotion file: parsed or refused with a positioned message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ferry::promotion::Loaded::parse("fuzz.toml", text, std::path::PathBuf::new()) {
        Ok(_) => {}
        Err(e) => assert!(
            e.to_string().starts_with("fuzz.toml"),
            "an error without its file: {e}"
        ),
    }
});
