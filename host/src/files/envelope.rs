//! A JSON envelope (`{"data": "<file>", "mime_type": "..."}`) read as a stream: the string
//! at the data key is unescaped chunk by chunk into a spool file, so memory stays flat
//! whatever the file's size; the media type (which may come after the data) is kept. Only
//! top-level keys are read this way; other values are skipped without being stored.

use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// before the opening brace
    Start,
    /// inside the object, waiting for a key, a comma or the closing brace
    Member,
    /// reading a key
    Key,
    /// after a key, waiting for the colon
    Colon,
    /// waiting for a value
    Value,
    /// inside a string value (`Target` says where it goes)
    Str,
    /// inside a nested object or array being skipped, `depth` deep
    Nested,
    /// inside a string within a skipped nested value
    NestedStr,
    /// inside a number, true, false or null
    Scalar,
    /// after the closing brace
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Data,
    Mime,
    Skip,
}

/// Feeds on the envelope's bytes; writes the data string's content to `sink`.
pub struct Scanner<W: Write> {
    data_key: String,
    mime_key: String,
    state: State,
    target: Target,
    depth: usize,
    key: Vec<u8>,
    mime: Vec<u8>,
    /// inside a string: after a backslash
    escape: bool,
    /// inside a \uXXXX escape: the hex digits so far
    unicode: Option<String>,
    /// a high surrogate waiting for its low half
    surrogate: Option<u16>,
    sink: W,
    buf: Vec<u8>,
    /// bytes of data written
    pub data_len: u64,
    /// of which not whitespace (what base64 decodes)
    pub data_nonws: u64,
    pub saw_data: bool,
}

const SMALL: usize = 1024;

#[derive(Debug)]
pub struct Finished<W> {
    pub sink: W,
    pub len: u64,
    pub nonws: u64,
    pub mime: Option<String>,
    pub saw_data: bool,
}

impl<W: Write> Scanner<W> {
    pub fn new(data_key: &str, mime_key: &str, sink: W) -> Self {
        Scanner {
            data_key: data_key.to_string(),
            mime_key: mime_key.to_string(),
            state: State::Start,
            target: Target::Skip,
            depth: 0,
            key: vec![],
            mime: vec![],
            escape: false,
            unicode: None,
            surrogate: None,
            sink,
            buf: Vec::with_capacity(64 * 1024),
            data_len: 0,
            data_nonws: 0,
            saw_data: false,
        }
    }

    pub fn mime(&self) -> Option<String> {
        (!self.mime.is_empty()).then(|| String::from_utf8_lossy(&self.mime).into_owned())
    }

    /// The sink, the data's length (all bytes, and those that are not whitespace), the
    /// media type, and whether the data key was there.
    pub fn finish(mut self) -> Result<Finished<W>, String> {
        self.flush()?;
        if self.state != State::Done {
            return Err("the JSON envelope ends early (truncated body?)".into());
        }
        let mime = self.mime();
        Ok(Finished {
            sink: self.sink,
            len: self.data_len,
            nonws: self.data_nonws,
            mime,
            saw_data: self.saw_data,
        })
    }

    fn flush(&mut self) -> Result<(), String> {
        if !self.buf.is_empty() {
            self.sink
                .write_all(&self.buf)
                .map_err(|e| format!("spooling the file: {e}"))?;
            self.data_len += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// One unescaped byte of the current string.
    fn emit(&mut self, b: u8) -> Result<(), String> {
        match (self.state, self.target) {
            (State::Key, _) if self.key.len() < SMALL => self.key.push(b),
            (State::Str, Target::Mime) if self.mime.len() < SMALL => self.mime.push(b),
            (State::Str, Target::Data) => {
                if !b.is_ascii_whitespace() {
                    self.data_nonws += 1;
                }
                self.buf.push(b);
                if self.buf.len() >= 64 * 1024 {
                    self.flush()?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn emit_char(&mut self, c: char) -> Result<(), String> {
        let mut tmp = [0u8; 4];
        for b in c.encode_utf8(&mut tmp).bytes() {
            self.emit(b)?;
        }
        Ok(())
    }

    /// A byte inside a string (key or value); returns true at its closing quote.
    fn string_byte(&mut self, b: u8) -> Result<bool, String> {
        if let Some(hex) = &mut self.unicode {
            hex.push(b as char);
            if hex.len() < 4 {
                return Ok(false);
            }
            let code =
                u16::from_str_radix(hex, 16).map_err(|_| format!("bad \\u escape {hex:?}"))?;
            self.unicode = None;
            match (self.surrogate.take(), code) {
                (None, 0xD800..=0xDBFF) => self.surrogate = Some(code),
                (Some(hi), 0xDC00..=0xDFFF) => {
                    let c = char::from_u32(
                        0x10000 + (((hi as u32) - 0xD800) << 10) + (code as u32 - 0xDC00),
                    )
                    .unwrap_or('\u{FFFD}');
                    self.emit_char(c)?;
                }
                (_, c) => self.emit_char(char::from_u32(c as u32).unwrap_or('\u{FFFD}'))?,
            }
            return Ok(false);
        }
        if self.escape {
            self.escape = false;
            match b {
                b'"' | b'\\' | b'/' => self.emit(b)?,
                b'b' => self.emit(8)?,
                b'f' => self.emit(12)?,
                b'n' => self.emit(b'\n')?,
                b'r' => self.emit(b'\r')?,
                b't' => self.emit(b'\t')?,
                b'u' => self.unicode = Some(String::new()),
                other => return Err(format!("bad escape \\{}", other as char)),
            }
            return Ok(false);
        }
        match b {
            b'\\' => self.escape = true,
            b'"' => return Ok(true),
            b => self.emit(b)?,
        }
        Ok(false)
    }

    /// A run of plain bytes (no quote, no backslash) inside the data string, written as is.
    fn data_run(&mut self, run: &[u8]) -> Result<(), String> {
        self.data_nonws += not_whitespace(run);
        if self.buf.len() + run.len() > self.buf.capacity() {
            self.flush()?;
        }
        if run.len() >= self.buf.capacity() {
            self.sink
                .write_all(run)
                .map_err(|e| format!("spooling the file: {e}"))?;
            self.data_len += run.len() as u64;
        } else {
            self.buf.extend_from_slice(run);
        }
        Ok(())
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        let mut at = 0;
        while at < chunk.len() {
            // The data string is nearly all of an envelope: copy its plain runs whole rather
            // than byte by byte.
            if self.state == State::Str
                && self.target == Target::Data
                && !self.escape
                && self.unicode.is_none()
            {
                let rest = &chunk[at..];
                let run = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                self.data_run(&rest[..run])?;
                at += run;
                if at == chunk.len() {
                    break;
                }
            }
            let b = chunk[at];
            at += 1;
            match self.state {
                State::Start => match b {
                    b'{' => self.state = State::Member,
                    b if b.is_ascii_whitespace() => {}
                    _ => return Err("the envelope is not a JSON object".into()),
                },
                State::Member => match b {
                    b'"' => {
                        self.key.clear();
                        self.state = State::Key;
                    }
                    b'}' => self.state = State::Done,
                    b',' => {}
                    b if b.is_ascii_whitespace() => {}
                    _ => return Err("unexpected byte in the envelope".into()),
                },
                State::Key => {
                    if self.string_byte(b)? {
                        self.state = State::Colon;
                    }
                }
                State::Colon => match b {
                    b':' => self.state = State::Value,
                    b if b.is_ascii_whitespace() => {}
                    _ => return Err("expected ':' in the envelope".into()),
                },
                State::Value => match b {
                    b'"' => {
                        let key = String::from_utf8_lossy(&self.key);
                        self.target = if key == self.data_key {
                            self.saw_data = true;
                            Target::Data
                        } else if key == self.mime_key {
                            self.mime.clear();
                            Target::Mime
                        } else {
                            Target::Skip
                        };
                        self.state = State::Str;
                    }
                    b'{' | b'[' => {
                        self.depth = 1;
                        self.state = State::Nested;
                    }
                    b if b.is_ascii_whitespace() => {}
                    _ => self.state = State::Scalar,
                },
                State::Str => {
                    if self.string_byte(b)? {
                        if self.target == Target::Data {
                            self.flush()?;
                        }
                        self.target = Target::Skip;
                        self.state = State::Member;
                    }
                }
                State::Nested => match b {
                    b'"' => self.state = State::NestedStr,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            self.state = State::Member;
                        }
                    }
                    _ => {}
                },
                State::NestedStr => {
                    if self.escape {
                        self.escape = false;
                    } else if b == b'\\' {
                        self.escape = true;
                    } else if b == b'"' {
                        self.state = State::Nested;
                    }
                }
                State::Scalar => match b {
                    b',' => self.state = State::Member,
                    b'}' => self.state = State::Done,
                    _ => {}
                },
                State::Done => {
                    if !b.is_ascii_whitespace() {
                        return Err("bytes after the envelope's end".into());
                    }
                }
            }
        }
        Ok(())
    }
}

/// How many bytes of `run` are not ASCII whitespace. A base64 run usually has no byte at or
/// below b' ', which a branch-free pass (one the compiler vectorises) shows at about memory
/// speed; only a run that has one is counted byte by byte.
fn not_whitespace(run: &[u8]) -> u64 {
    let low = run.iter().fold(false, |seen, &b| seen | (b <= b' '));
    if low {
        run.iter().filter(|b| !b.is_ascii_whitespace()).count() as u64
    } else {
        run.len() as u64
    }
}

/// Decodes base64 text arriving in chunks of any size (whitespace ignored).
pub struct Base64Stream {
    /// the start of a group (under 4 bytes) the last chunk ended in
    pending: Vec<u8>,
    /// whether the text may hold whitespace; the scanner knows when it holds none, and then
    /// the chunks are decoded as they are, without a pass to look for it
    whitespace: bool,
}

impl Base64Stream {
    pub fn new(whitespace: bool) -> Self {
        Base64Stream {
            pending: Vec::with_capacity(4),
            whitespace,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, String> {
        use base64::Engine as _;
        let engine = &base64::engine::general_purpose::STANDARD;
        let bad = |e: base64::DecodeError| format!("bad base64: {e}");
        let filtered: Vec<u8>;
        let mut rest = chunk;
        if self.whitespace && chunk.iter().any(|b| b.is_ascii_whitespace()) {
            filtered = chunk
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            rest = &filtered;
        }
        let mut out = Vec::with_capacity((self.pending.len() + rest.len()) / 4 * 3);
        if !self.pending.is_empty() {
            let take = (4 - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() < 4 {
                return Ok(out);
            }
            engine.decode_vec(&self.pending, &mut out).map_err(bad)?;
            self.pending.clear();
        }
        let whole = rest.len() / 4 * 4;
        engine.decode_vec(&rest[..whole], &mut out).map_err(bad)?;
        self.pending.extend_from_slice(&rest[whole..]);
        Ok(out)
    }

    #[cfg(test)]
    pub fn finish(self) -> Result<(), String> {
        if self.pending.is_empty() {
            Ok(())
        } else {
            Err("bad base64: the data ends mid-group".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> (Vec<u8>, Option<String>) {
        let mut s = Scanner::new("data", "mime_type", Vec::new());
        for c in chunks {
            s.feed(c).unwrap();
        }
        let f = s.finish().unwrap();
        assert!(f.saw_data);
        assert_eq!(f.len as usize, f.sink.len());
        (f.sink, f.mime)
    }

    #[test]
    fn unescapes_across_chunk_edges_in_any_member_order() {
        let text = br#"{"extra": {"a": ["}", "\""]}, "n": 12, "data": "a,b\n\"c\" \u00e9\ud83d\ude00", "mime_type": "text/csv"}"#;
        let whole = scan(&[text]);
        assert_eq!(whole.0, "a,b\n\"c\" é😀".as_bytes());
        assert_eq!(whole.1.as_deref(), Some("text/csv"));
        // Every split point gives the same result.
        for cut in 1..text.len() {
            assert_eq!(scan(&[&text[..cut], &text[cut..]]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn truncated_or_malformed_envelopes_are_errors() {
        let mut s = Scanner::new("data", "mime_type", Vec::new());
        s.feed(br#"{"data": "abc"#).unwrap();
        assert!(s.finish().unwrap_err().contains("ends early"));
        let mut s = Scanner::new("data", "mime_type", Vec::new());
        assert!(s.feed(b"<html>").is_err());
    }

    #[test]
    fn whitespace_is_counted_exactly() {
        assert_eq!(not_whitespace(b"QUJDRA=="), 8);
        assert_eq!(not_whitespace(b"QUJD\r\nRA== "), 8);
        // A control byte below b' ' that is not whitespace still counts.
        assert_eq!(not_whitespace(b"QU\x01D\tx"), 5);
        assert_eq!(not_whitespace(b""), 0);
    }

    #[test]
    fn base64_decodes_in_any_chunking() {
        use base64::Engine as _;
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 256) as u8).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        // Wrapped at 76 columns, as MIME does: whitespace is skipped.
        let wrapped: String = text
            .as_bytes()
            .chunks(76)
            .map(|l| format!("{}\r\n", std::str::from_utf8(l).unwrap()))
            .collect();
        for (text, whitespace) in [(&text, false), (&text, true), (&wrapped, true)] {
            for size in [1, 2, 3, 5, 64, 77, 1000, 5000] {
                let mut d = Base64Stream::new(whitespace);
                let mut out = Vec::new();
                for c in text.as_bytes().chunks(size) {
                    out.extend(d.feed(c).unwrap());
                }
                d.finish().unwrap();
                assert_eq!(out, bytes, "chunks of {size}, whitespace {whitespace}");
            }
        }
        // A group cut by the end of the text is an error, as is a character out of the alphabet.
        let mut d = Base64Stream::new(false);
        d.feed(b"QUJD").unwrap();
        d.feed(b"QU").unwrap();
        assert!(d.finish().is_err());
        assert!(Base64Stream::new(false).feed(b"QU*D").is_err());
    }
}
