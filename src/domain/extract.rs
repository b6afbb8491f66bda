//! Text of attachments, for search: plain text as it is, and the body text of a Word
//! document (.docx: runs, tabs and paragraphs of `word/document.xml`). Scans and PDFs come
//! later. Pure functions over bytes already read.

use std::io::{Cursor, Read};

use quick_xml::events::Event;

pub const DOCX_MEDIA_TYPE: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// `word/document.xml` larger than this is not read (a zip bomb, or not a letter).
const MAX_DOCUMENT_XML: u64 = 64 * 1024 * 1024;

/// What kind of text an attachment holds, judged by its media type and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextSource {
    Plain,
    Docx,
}

pub fn text_source(media_type: &str, name: &str) -> Option<TextSource> {
    let media_type = media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    if media_type == DOCX_MEDIA_TYPE || name.ends_with(".docx") {
        Some(TextSource::Docx)
    } else if media_type.starts_with("text/") || name.ends_with(".txt") || name.ends_with(".md") || name.ends_with(".csv") {
        Some(TextSource::Plain)
    } else {
        None
    }
}

/// The text of `bytes`, or `None` if it has none we can read.
pub fn extract(source: TextSource, bytes: &[u8]) -> Option<String> {
    match source {
        TextSource::Plain => Some(String::from_utf8_lossy(bytes).into_owned()),
        TextSource::Docx => docx_text(bytes),
    }
}

fn docx_text(bytes: &[u8]) -> Option<String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    let mut xml = String::new();
    zip.by_name("word/document.xml").ok()?.take(MAX_DOCUMENT_XML).read_to_string(&mut xml).ok()?;
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut out = String::new();
    let mut in_text = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if e.name().as_ref() == b"w:t" => in_text = true,
            Event::End(e) => match e.name().as_ref() {
                b"w:t" => in_text = false,
                b"w:p" => out.push('\n'),
                _ => {}
            },
            Event::Empty(e) => match e.name().as_ref() {
                b"w:tab" => out.push('\t'),
                b"w:br" => out.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => out.push_str(&t.decode().ok()?),
            Event::GeneralRef(r) if in_text => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match &r[..] {
                        b"amp" => Some('&'),
                        b"lt" => Some('<'),
                        b"gt" => Some('>'),
                        b"quot" => Some('"'),
                        b"apos" => Some('\''),
                        _ => None,
                    },
                };
                out.extend(resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::traces::report::{LegendEntry, MarkRevision, TraceReport};
    use crate::domain::traces::{attribute, docx};

    #[test]
    fn sources_are_judged_by_type_and_name() {
        assert_eq!(text_source("text/plain; charset=utf-8", "a"), Some(TextSource::Plain));
        assert_eq!(text_source("application/octet-stream", "报告.DOCX"), Some(TextSource::Docx));
        assert_eq!(text_source("image/png", "scan.png"), None);
    }

    #[test]
    fn docx_text_is_the_accepted_text_with_paragraphs() {
        // A .docx of our own making: its w:t runs hold the accepted text, w:delText is skipped.
        let spans = attribute(&["甲乙 & 丙", "甲乙 & 丁\n第二段"], None);
        let legend = vec![LegendEntry { user: "u".into(), display_name: "U".into(), department: "D".into(), department_name: "D".into(), color: "#C62828".into() }];
        let revisions = vec![MarkRevision { id: "r".into(), author: 0, created_at: "2026-11-23T10:00:00.000Z".into() }];
        let report = TraceReport { document: "x", title: "t", from: None, to: "r", legend: &legend, revisions: &revisions, spans: &spans };
        let bytes = docx::traces_docx(&report).unwrap();
        assert_eq!(extract(TextSource::Docx, &bytes).unwrap(), "甲乙 & 丁\n第二段\n");
        assert_eq!(extract(TextSource::Docx, b"not a zip"), None);
    }
}
