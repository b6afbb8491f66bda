//! The units people see change. A diff by bytes or by code points shows half a word or half an
//! emoji as changed; a diff by these units shows what a reader would mark with a pen.
//!
//! - every CJK character (汉字, kana, hangul, CJK punctuation, full-width forms) is a unit;
//! - a run of letters (a Latin word), a run of digits, a run of spaces are units;
//! - each line break is a unit (CRLF is one), so paragraphs split cleanly;
//! - anything else (punctuation, symbols, emoji) is a unit per grapheme cluster.
//!
//! Units never split a grapheme cluster: an emoji with its modifiers, a letter with its
//! combining marks, a CRLF.

use unicode_segmentation::{GraphemeCursor, UnicodeSegmentation};

/// Whether `c` is written in a CJK script, where every character is a word of its own.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF       // radicals
        | 0x3000..=0x303F     // CJK symbols and punctuation (、。「」)
        | 0x3040..=0x30FF     // hiragana, katakana
        | 0x3100..=0x31FF     // bopomofo, hangul compatibility jamo, kanbun, strokes
        | 0x3200..=0x33FF     // enclosed CJK, compatibility
        | 0x3400..=0x4DBF     // extension A
        | 0x4E00..=0x9FFF     // unified ideographs
        | 0xAC00..=0xD7AF     // hangul syllables
        | 0xF900..=0xFAFF     // compatibility ideographs
        | 0xFE30..=0xFE4F     // compatibility forms
        | 0xFF00..=0xFFEF     // full-width forms (，：；！？)
        | 0x20000..=0x3FFFF   // extensions B and later
    )
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Letters,
    Digits,
    Spaces,
    LineBreak,
    Single,
}

fn class_of(grapheme: &str) -> Class {
    let Some(c) = grapheme.chars().next() else { return Class::Single };
    if c == '\n' || c == '\r' {
        Class::LineBreak
    } else if c.is_whitespace() {
        Class::Spaces
    } else if is_cjk(c) {
        Class::Single
    } else if c.is_alphabetic() {
        Class::Letters
    } else if c.is_numeric() {
        Class::Digits
    } else {
        Class::Single
    }
}

/// The byte offsets where units start in `text`, followed by `text.len()`.
pub fn unit_bounds(text: &str) -> Vec<usize> {
    let mut bounds = Vec::with_capacity(text.len() / 2 + 1);
    let mut previous: Option<Class> = None;
    for (at, grapheme) in text.grapheme_indices(true) {
        let class = class_of(grapheme);
        let joins = previous == Some(class) && matches!(class, Class::Letters | Class::Digits | Class::Spaces);
        if !joins {
            bounds.push(at);
        }
        previous = Some(class);
    }
    bounds.push(text.len());
    bounds
}

/// The units of `text`, in order; joined they give `text` back.
pub fn units(text: &str) -> Vec<&str> {
    unit_bounds(text).windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

/// Sentence and paragraph boundaries: byte offsets after a line break or a sentence end
/// (。！？； or an ASCII `.!?;` before a space), followed by `text.len()`. A segment boundary
/// is always a unit boundary, so a coarse diff over segments can be refined unit by unit
/// inside the segments that changed.
pub fn segment_bounds(text: &str) -> Vec<usize> {
    let mut bounds = vec![0];
    let bytes = text.as_bytes();
    for (at, c) in text.char_indices() {
        let end = at + c.len_utf8();
        let ends_segment = match c {
            '\n' => true,
            '。' | '！' | '？' | '；' => true,
            '.' | '!' | '?' | ';' => bytes.get(end).is_some_and(|b| b.is_ascii_whitespace() && *b != b'\r'),
            _ => false,
        };
        // A sentence mark followed by a combining mark is one grapheme: no boundary inside it.
        if ends_segment && end < text.len() && is_grapheme_boundary(text, end) {
            bounds.push(end);
        }
    }
    if !text.is_empty() {
        bounds.push(text.len());
    }
    bounds
}

fn is_grapheme_boundary(text: &str, at: usize) -> bool {
    GraphemeCursor::new(at, text.len(), true).is_boundary(text, 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_characters_are_units_and_words_stay_whole() {
        assert_eq!(units("关于2026年budget的通知。"), vec!["关", "于", "2026", "年", "budget", "的", "通", "知", "。"]);
        assert_eq!(units("Hello,  world!"), vec!["Hello", ",", "  ", "world", "!"]);
    }

    #[test]
    fn graphemes_and_crlf_are_never_split() {
        let family = "👨\u{200d}👩\u{200d}👧";
        let text = format!("a{family}👍🏽e\u{301}\r\n甲\r\n");
        let u = units(&text);
        assert!(u.contains(&family));
        assert!(u.contains(&"👍🏽"));
        assert!(u.contains(&"\r\n"));
        assert!(u.contains(&"ae\u{301}") || u.contains(&"e\u{301}"));
        assert_eq!(u.concat(), text);
    }

    #[test]
    fn segments_end_after_sentences_and_lines() {
        let text = "第一句。第二句！\nEnd. Next";
        let b = segment_bounds(text);
        let segs: Vec<&str> = b.windows(2).map(|w| &text[w[0]..w[1]]).collect();
        assert_eq!(segs, vec!["第一句。", "第二句！", "\n", "End.", " Next"]);
        assert_eq!(segment_bounds(""), vec![0]);
        // A full stop carrying a combining mark is one grapheme and is not cut.
        assert_eq!(segment_bounds("甲。\u{301}乙"), vec![0, "甲。\u{301}乙".len()]);
    }

    #[test]
    fn segment_bounds_are_unit_bounds() {
        let text = "一。二\r\n三! four. 5;6\n";
        let units = unit_bounds(text);
        for b in segment_bounds(text) {
            assert!(units.contains(&b), "{b}");
        }
    }
}
