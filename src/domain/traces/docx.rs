//! The traces as a Word document whose marks are real tracked changes (修订): `w:ins` and
//! `w:del` with `w:author` and `w:date`, so Word, WPS and LibreOffice show each reviewer's
//! marks natively; "accept all" gives the `to` text and "reject all" the `from` text.
//!
//! Line breaks become paragraphs. A paragraph mark that was inserted or deleted is marked as
//! such in the paragraph's properties, which is how Word itself records joining and splitting
//! paragraphs. Text inserted and deleted again in the range is an insertion holding a deletion,
//! as Word writes it when a second reviewer deletes the first one's insertion.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::report::TraceReport;
use super::{SpanOp, TraceSpan};

pub const MEDIA_TYPE: &str = crate::domain::extract::DOCX_MEDIA_TYPE;

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/word/settings.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>"#;

const PACKAGE_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>"#;

const DOCUMENT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/settings" Target="settings.xml"/></Relationships>"#;

/// Further edits in Word stay tracked too.
const SETTINGS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:settings xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:trackRevisions/></w:settings>"#;

const STYLES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii="Times New Roman" w:hAnsi="Times New Roman" w:eastAsia="SimSun"/><w:sz w:val="28"/><w:lang w:val="en-US" w:eastAsia="zh-CN"/></w:rPr></w:rPrDefault><w:pPrDefault><w:pPr><w:spacing w:line="360" w:lineRule="auto"/></w:pPr></w:pPrDefault></w:docDefaults></w:styles>"#;

const W_NS: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

/// The .docx bytes.
pub fn traces_docx(report: &TraceReport<'_>) -> zip::result::ZipResult<Vec<u8>> {
    let parts = [
        ("[Content_Types].xml", CONTENT_TYPES.to_owned()),
        ("_rels/.rels", PACKAGE_RELS.to_owned()),
        ("word/_rels/document.xml.rels", DOCUMENT_RELS.to_owned()),
        ("word/settings.xml", SETTINGS.to_owned()),
        ("word/styles.xml", STYLES.to_owned()),
        ("docProps/core.xml", core_properties(report)),
        ("word/document.xml", document_xml(report)),
    ];
    // A fixed timestamp: the same trace gives the same bytes.
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).last_modified_time(DateTime::default());
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, xml) in parts {
        zip.start_file(name, options)?;
        zip.write_all(xml.as_bytes())?;
    }
    Ok(zip.finish()?.into_inner())
}

fn core_properties(report: &TraceReport<'_>) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{}</dc:title><dc:identifier>{}</dc:identifier></cp:coreProperties>"#,
        xml_escape(report.title),
        xml_escape(report.document)
    )
}

/// A tracked change's attributes.
struct Change {
    author: String,
    date: String,
}

struct Writer<'r, 'a> {
    report: &'r TraceReport<'a>,
    authors: Vec<String>,
    xml: String,
    /// The current paragraph's runs; its properties are only known at its end.
    paragraph: String,
    next_id: u64,
}

fn document_xml(report: &TraceReport<'_>) -> String {
    let mut w = Writer { report, authors: author_names(report), xml: String::new(), paragraph: String::new(), next_id: 1 };
    w.xml.push_str(&format!("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:document xmlns:w=\"{W_NS}\"><w:body>"));
    for span in report.spans {
        w.span(span);
    }
    w.end_paragraph(None, None);
    w.xml.push_str("<w:sectPr><w:pgSz w:w=\"11906\" w:h=\"16838\"/><w:pgMar w:top=\"2098\" w:right=\"1474\" w:bottom=\"1984\" w:left=\"1588\" w:header=\"851\" w:footer=\"992\" w:gutter=\"0\"/></w:sectPr></w:body></w:document>");
    w.xml
}

/// Word tells reviewers apart by name: two people with one display name get their user names.
fn author_names(report: &TraceReport<'_>) -> Vec<String> {
    report
        .legend
        .iter()
        .map(|e| {
            let shared = report.legend.iter().filter(|o| o.display_name == e.display_name).count() > 1;
            if shared { format!("{} ({})", e.display_name, e.user) } else { e.display_name.clone() }
        })
        .collect()
}

impl Writer<'_, '_> {
    fn change(&self, position: Option<usize>) -> Option<Change> {
        let (revision, _) = self.report.mark(position?)?;
        let author = self.authors.get(revision.author).cloned().unwrap_or_default();
        // xsd:dateTime without fractions: what Word writes and every reader accepts.
        let date = chrono::DateTime::parse_from_rfc3339(&revision.created_at)
            .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        Some(Change { author, date })
    }

    fn span(&mut self, span: &TraceSpan) {
        let (ins, del) = match span.op {
            SpanOp::Equal => (None, None),
            SpanOp::Insert => (self.change(span.inserted_in), None),
            SpanOp::Delete => (None, self.change(span.deleted_in)),
            SpanOp::Transient => (self.change(span.inserted_in), self.change(span.deleted_in)),
        };
        // A line break one reviewer inserted and another deleted is no paragraph in either
        // text: it stays a break (`w:br`) inside the stacked insertion and deletion, which
        // Word and LibreOffice both show with the two marks, where a paragraph mark carrying
        // both lost one of them in LibreOffice.
        if span.op == SpanOp::Transient {
            self.run(&span.text.replace("\r\n", "\n").replace('\r', "\n"), ins.as_ref(), del.as_ref());
            return;
        }
        let mut rest = span.text.as_str();
        while let Some(at) = rest.find(['\r', '\n']) {
            self.run(&rest[..at], ins.as_ref(), del.as_ref());
            self.end_paragraph(ins.as_ref(), del.as_ref());
            let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
            rest = &rest[at + skip..];
        }
        self.run(rest, ins.as_ref(), del.as_ref());
    }

    fn run(&mut self, text: &str, ins: Option<&Change>, del: Option<&Change>) {
        if text.is_empty() {
            return;
        }
        let tag = if del.is_some() { "w:delText" } else { "w:t" };
        let mut run = String::from("<w:r>");
        for (l, line) in text.split('\n').enumerate() {
            if l > 0 {
                run.push_str("<w:br/>");
            }
            for (i, piece) in line.split('\t').enumerate() {
                if i > 0 {
                    run.push_str("<w:tab/>");
                }
                if !piece.is_empty() {
                    run.push_str(&format!("<{tag} xml:space=\"preserve\">{}</{tag}>", xml_escape(piece)));
                }
            }
        }
        run.push_str("</w:r>");
        if let Some(d) = del {
            run = format!("<w:del {}>{run}</w:del>", self.attributes(d));
        }
        if let Some(i) = ins {
            run = format!("<w:ins {}>{run}</w:ins>", self.attributes(i));
        }
        self.paragraph.push_str(&run);
    }

    /// Closes the paragraph; its mark was inserted and/or deleted when the line break was.
    fn end_paragraph(&mut self, ins: Option<&Change>, del: Option<&Change>) {
        self.xml.push_str("<w:p>");
        if ins.is_some() || del.is_some() {
            self.xml.push_str("<w:pPr><w:rPr>");
            for (tag, change) in [("w:ins", ins), ("w:del", del)] {
                if let Some(c) = change {
                    let attributes = self.attributes(c);
                    self.xml.push_str(&format!("<{tag} {attributes}/>"));
                }
            }
            self.xml.push_str("</w:rPr></w:pPr>");
        }
        self.xml.push_str(&std::mem::take(&mut self.paragraph));
        self.xml.push_str("</w:p>");
    }

    fn attributes(&mut self, c: &Change) -> String {
        let id = self.next_id;
        self.next_id += 1;
        format!("w:id=\"{id}\" w:author=\"{}\" w:date=\"{}\"", xml_escape(&c.author), c.date)
    }
}

/// Escapes markup and replaces what XML 1.0 cannot carry at all (most C0 controls), since a
/// document Word refuses to open helps no one.
pub fn xml_escape(s: &str) -> String {
    let carriable: String = s.chars().map(|c| if ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}' { '\u{FFFD}' } else { c }).collect();
    let mut out = String::with_capacity(carriable.len());
    crate::domain::text::escape_markup_into(&carriable, &mut out);
    out
}
