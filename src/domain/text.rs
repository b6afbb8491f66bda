//! Text bodies arrive in chunks whose boundaries can fall inside a UTF-8 sequence. This checks
//! validity and counts Unicode scalar values across chunks without holding the whole body.

/// Incremental UTF-8 validation and character counting.
#[derive(Debug, Default)]
pub struct Utf8Counter {
    /// Bytes of a sequence cut by the previous chunk's end (at most 3).
    pending: Vec<u8>,
    chars: u64,
    valid_bytes: u64,
}

/// The body is not UTF-8; `offset` is the byte where the first bad sequence starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not valid UTF-8 text (first bad byte at offset {offset})")]
pub struct NotUtf8 {
    pub offset: u64,
}

impl Utf8Counter {
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), NotUtf8> {
        let mut rest = chunk;
        if !self.pending.is_empty() {
            // Complete the cut sequence with as few bytes as it still needs.
            while !rest.is_empty() && self.pending.len() < 4 {
                self.pending.push(rest[0]);
                rest = &rest[1..];
                match std::str::from_utf8(&self.pending) {
                    Ok(s) => {
                        self.chars += s.chars().count() as u64;
                        self.valid_bytes += self.pending.len() as u64;
                        self.pending.clear();
                        break;
                    }
                    Err(e) if e.error_len().is_some() => return Err(NotUtf8 { offset: self.valid_bytes }),
                    Err(_) => {}
                }
            }
            if !self.pending.is_empty() {
                return Ok(());
            }
        }
        match std::str::from_utf8(rest) {
            Ok(s) => {
                self.chars += s.chars().count() as u64;
                self.valid_bytes += rest.len() as u64;
                Ok(())
            }
            Err(e) => {
                let good = e.valid_up_to();
                // Valid prefix: from_utf8 guarantees these bytes are valid UTF-8.
                let prefix = std::str::from_utf8(&rest[..good]).unwrap_or_default();
                self.chars += prefix.chars().count() as u64;
                self.valid_bytes += good as u64;
                if e.error_len().is_some() {
                    return Err(NotUtf8 { offset: self.valid_bytes });
                }
                self.pending.extend_from_slice(&rest[good..]);
                Ok(())
            }
        }
    }

    /// Ends the text; a sequence still cut at the end is an error.
    pub fn finish(self) -> Result<u64, NotUtf8> {
        if self.pending.is_empty() { Ok(self.chars) } else { Err(NotUtf8 { offset: self.valid_bytes }) }
    }
}

/// Escapes text for HTML and XML, in text and in attribute values alike: `&`, `<`, `>`, `"`
/// and `'`.
pub fn escape_markup_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_chars_across_every_split_point() {
        let text = "关于2026年预算 budget 👩‍👩‍👧 e\u{301}\r\n";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut c = Utf8Counter::default();
            c.feed(&bytes[..cut]).unwrap();
            c.feed(&bytes[cut..]).unwrap();
            assert_eq!(c.finish().unwrap(), text.chars().count() as u64, "cut at {cut}");
        }
    }

    #[test]
    fn single_bytes_work_too() {
        let text = "公文流转";
        let mut c = Utf8Counter::default();
        for b in text.as_bytes() {
            c.feed(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(c.finish().unwrap(), 4);
    }

    #[test]
    fn invalid_and_truncated_sequences_are_refused() {
        let mut c = Utf8Counter::default();
        assert_eq!(c.feed(b"ok\xff"), Err(NotUtf8 { offset: 2 }));
        let mut c = Utf8Counter::default();
        c.feed(&"公".as_bytes()[..2]).unwrap();
        assert!(c.finish().is_err());
        let mut c = Utf8Counter::default();
        c.feed(b"\xe5\x85").unwrap();
        assert!(c.feed(b"A").is_err());
    }
}
