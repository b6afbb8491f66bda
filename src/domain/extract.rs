//! Text of attachments: which files carry text and how it is read (plain text, Word, OFD in
//! process; PDF and scanned images by outside engines), the text object every reading ends in
//! (pages, and word boxes where OCR gives them), and the bracket pairs a misreading confuses.
//! Pure functions over bytes already read.

use std::io::{Cursor, Read};

use quick_xml::events::Event;
use serde::{Deserialize, Serialize};
use super::traces::units::is_cjk;

pub const DOCX_MEDIA_TYPE: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
pub const OFD_MEDIA_TYPE: &str = "application/ofd";
/// The format of the text object (`extracted/<sha256>/<engine>.json`).
pub const TEXT_FORMAT: &str = "henji-text/1";

/// An XML part larger than this is not read (a zip bomb, or not a document).
const MAX_PART: u64 = 16 * 1024 * 1024;
/// All the parts of one package read together, at most.
const MAX_PACKAGE: u64 = 64 * 1024 * 1024;
/// Entries a package may have.
const MAX_ENTRIES: usize = 10_000;
/// Pages of an OFD read at most.
const MAX_PAGES: usize = 5_000;

/// What kind of text an attachment holds, judged by its media type and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextSource {
    Plain,
    Docx,
    /// GB/T 33190, China's fixed-layout format: a zip of XML, text in `TextCode`.
    Ofd,
    /// Its text layer, and OCR of the pages that have none.
    Pdf,
    /// PNG, JPEG or TIFF (several pages): OCR.
    Image,
}

impl TextSource {
    /// Whether an outside engine reads it (else it is read in process).
    pub fn needs_engine(self) -> bool {
        matches!(self, TextSource::Pdf | TextSource::Image)
    }
}

pub fn text_source(media_type: &str, name: &str) -> Option<TextSource> {
    let media_type = media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    let ext = |e: &[&str]| e.iter().any(|x| name.ends_with(x));
    if media_type == DOCX_MEDIA_TYPE || ext(&[".docx"]) {
        Some(TextSource::Docx)
    } else if media_type == OFD_MEDIA_TYPE || ext(&[".ofd"]) {
        Some(TextSource::Ofd)
    } else if media_type == "application/pdf" || ext(&[".pdf"]) {
        Some(TextSource::Pdf)
    } else if matches!(media_type.as_str(), "image/png" | "image/jpeg" | "image/tiff") || ext(&[".png", ".jpg", ".jpeg", ".tif", ".tiff"]) {
        Some(TextSource::Image)
    } else if media_type.starts_with("text/") || ext(&[".txt", ".md", ".csv"]) {
        Some(TextSource::Plain)
    } else {
        None
    }
}

/// Why a file yields no text: it is damaged, protected or hostile. Reading it again will not
/// help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// The pages of a file read in process (plain text, Word, OFD).
pub fn read_in_process(source: TextSource, bytes: &[u8]) -> Result<Vec<String>, Unreadable> {
    match source {
        TextSource::Plain => Ok(vec![String::from_utf8_lossy(bytes).into_owned()]),
        TextSource::Docx => docx_text(bytes).map(|t| vec![t]).ok_or_else(|| Unreadable("not a readable Word document (.docx)".into())),
        TextSource::Ofd => ofd_pages(bytes),
        TextSource::Pdf | TextSource::Image => Err(Unreadable("needs an outside engine".into())),
    }
}

/// The state of an extraction job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    /// The file's type carries no text henji reads.
    Unsupported,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Unsupported => "unsupported",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [JobState::Queued, JobState::Running, JobState::Done, JobState::Failed, JobState::Unsupported].into_iter().find(|j| j.as_str() == s)
    }
}

/// The text of one file: its pages, in order, as the engine read them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtractedText {
    pub format: String,
    /// The blob it was read from (its stored digest).
    pub source: String,
    /// Which engine and version read it (`tesseract-5.3.0-chi_sim`, `pdftotext-22.12.0`, …).
    pub engine: String,
    pub pages: Vec<PageText>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageText {
    /// From 1.
    pub page: u32,
    pub text: String,
    /// Where OCR found each word on the page image (pixels), to highlight a hit on the scan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<WordBox>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WordBox {
    pub text: String,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl ExtractedText {
    /// Every page's text as search reads it, a form feed between pages.
    pub fn searchable(&self) -> String {
        self.pages.iter().map(PageText::searchable).collect::<Vec<_>>().join("\u{c}")
    }
}

impl PageText {
    /// The text with the line breaks of a Chinese paragraph's layout taken out: a scan's
    /// lines end where the paper did, not where a word does, and a phrase must match across.
    pub fn searchable(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut chars = self.text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\n' && out.chars().last().is_some_and(is_cjk) && chars.peek().is_some_and(|n| is_cjk(*n)) {
                continue;
            }
            out.push(c);
        }
        out
    }
}

/// One page as tesseract's TSV gives it: the words in reading order, lines as lines, and the
/// word boxes. Words are joined without a space unless both sides are Latin letters or
/// digits, as tesseract's own text output does for Chinese.
pub fn page_from_tsv(page: u32, tsv: &str) -> PageText {
    let mut text = String::new();
    let mut words = Vec::new();
    let mut line: Option<(u32, u32, u32)> = None;
    for row in tsv.lines().skip(1) {
        let cols: Vec<&str> = row.splitn(12, '\t').collect();
        if cols.len() < 12 || cols[0] != "5" {
            continue;
        }
        let word = cols[11].trim();
        if word.is_empty() {
            continue;
        }
        let n = |i: usize| cols[i].parse::<u32>().unwrap_or(0);
        let here = (n(2), n(3), n(4));
        match line {
            Some(l) if l == here => {
                let joins_latin = text.chars().last().is_some_and(|c| c.is_ascii_alphanumeric()) && word.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
                if joins_latin {
                    text.push(' ');
                }
            }
            Some(_) => text.push('\n'),
            None => {}
        }
        line = Some(here);
        text.push_str(word);
        words.push(WordBox { text: word.to_owned(), x: n(6), y: n(7), w: n(8), h: n(9) });
    }
    PageText { page, text, words }
}

/// Bracket pairs a reader or an OCR engine confuses (〔〕 of a 发文字号 read as 【】, full-width
/// square brackets) folded to one pair, keeping every byte offset: each replacement has the
/// length of what it replaces.
pub fn fold_brackets(s: &str) -> std::borrow::Cow<'_, str> {
    const OPEN: &[char] = &['【', '［', '〖', '〘'];
    const CLOSE: &[char] = &['】', '］', '〗', '〙'];
    if !s.contains(|c| OPEN.contains(&c) || CLOSE.contains(&c)) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(s.chars().map(|c| if OPEN.contains(&c) { '〔' } else if CLOSE.contains(&c) { '〕' } else { c }).collect())
}

/// A zip read with limits: entries, the size of each part, and all parts together.
struct Package<'a> {
    zip: zip::ZipArchive<Cursor<&'a [u8]>>,
    read: u64,
}

impl<'a> Package<'a> {
    fn open(bytes: &'a [u8], what: &str) -> Result<Self, Unreadable> {
        let zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| Unreadable(format!("not a readable {what} (not a zip)")))?;
        if zip.len() > MAX_ENTRIES {
            return Err(Unreadable(format!("the {what} has {} parts, more than {MAX_ENTRIES}", zip.len())));
        }
        Ok(Self { zip, read: 0 })
    }

    /// A part's text; a part that expands past the limits is refused, whatever its header says.
    fn part(&mut self, name: &str) -> Result<String, Unreadable> {
        let name = name.trim_start_matches('/');
        let entry = self.zip.by_name(name).map_err(|_| Unreadable(format!("the part {name} is missing")))?;
        if entry.size() > MAX_PART {
            return Err(Unreadable(format!("the part {name} expands to {} bytes, more than {MAX_PART} (a zip bomb?)", entry.size())));
        }
        let mut out = Vec::new();
        entry.take(MAX_PART + 1).read_to_end(&mut out).map_err(|e| Unreadable(format!("the part {name} cannot be read: {e}")))?;
        if out.len() as u64 > MAX_PART {
            return Err(Unreadable(format!("the part {name} expands past {MAX_PART} bytes (a zip bomb?)")));
        }
        self.read += out.len() as u64;
        if self.read > MAX_PACKAGE {
            return Err(Unreadable(format!("the parts expand past {MAX_PACKAGE} bytes in all (a zip bomb?)")));
        }
        String::from_utf8(out).map_err(|_| Unreadable(format!("the part {name} is not UTF-8 XML")))
    }
}

fn docx_text(bytes: &[u8]) -> Option<String> {
    let mut package = Package::open(bytes, "Word document").ok()?;
    let xml = package.part("word/document.xml").ok()?;
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
            Event::GeneralRef(r) if in_text => out.extend(resolve_entity(&r)),
            Event::Eof => break,
            _ => {}
        }
    }
    Some(out)
}

fn resolve_entity(r: &quick_xml::events::BytesRef<'_>) -> Option<char> {
    match r.resolve_char_ref() {
        Ok(Some(c)) => Some(c),
        _ => match &r[..] {
            b"amp" => Some('&'),
            b"lt" => Some('<'),
            b"gt" => Some('>'),
            b"quot" => Some('"'),
            b"apos" => Some('\''),
            _ => None,
        },
    }
}

/// The local name of an element (`ofd:TextCode` → `TextCode`): producers differ in prefix.
fn local(name: &[u8]) -> &[u8] {
    name.rsplit(|b| *b == b':').next().unwrap_or(name)
}

/// The value of an attribute, by local name.
fn attribute(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes().flatten().find(|a| local(a.key.as_ref()) == name).map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

/// Joins an OFD path to the folder of the part that names it (`/` starts from the root).
fn ofd_join(base: &str, path: &str) -> String {
    if let Some(absolute) = path.strip_prefix('/') {
        return absolute.to_owned();
    }
    let dir = base.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for piece in path.split('/') {
        match piece {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The pages of an OFD document: `OFD.xml` names the document root, the document lists its
/// pages, and each page's text is in its `TextCode` elements (one line per text object).
fn ofd_pages(bytes: &[u8]) -> Result<Vec<String>, Unreadable> {
    let mut package = Package::open(bytes, "OFD document")?;
    let root = package.part("OFD.xml")?;
    let doc_root = first_text_of(&root, b"DocRoot").ok_or_else(|| Unreadable("OFD.xml names no DocRoot".into()))?;
    let doc_path = ofd_join("OFD.xml", doc_root.trim());
    let document = package.part(&doc_path)?;
    let mut pages = Vec::new();
    let mut reader = quick_xml::Reader::from_str(&document);
    loop {
        match reader.read_event().map_err(|e| Unreadable(format!("{doc_path} is not XML: {e}")))? {
            Event::Start(e) | Event::Empty(e) if local(e.name().as_ref()) == b"Page" => {
                if let Some(loc) = attribute(&e, b"BaseLoc") {
                    pages.push(ofd_join(&doc_path, &loc));
                }
                if pages.len() > MAX_PAGES {
                    return Err(Unreadable(format!("more than {MAX_PAGES} pages")));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if pages.is_empty() {
        return Err(Unreadable(format!("{doc_path} lists no pages")));
    }
    pages.iter().map(|p| package.part(p).and_then(|xml| ofd_page_text(p, &xml))).collect()
}

fn first_text_of(xml: &str, element: &[u8]) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut inside = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if local(e.name().as_ref()) == element => inside = true,
            Event::Text(t) if inside => return t.decode().ok().map(|t| t.into_owned()),
            Event::Eof => return None,
            _ => {}
        }
    }
}

fn ofd_page_text(name: &str, xml: &str) -> Result<String, Unreadable> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = String::new();
    let mut in_code = false;
    loop {
        match reader.read_event().map_err(|e| Unreadable(format!("{name} is not XML: {e}")))? {
            Event::Start(e) => match local(e.name().as_ref()) {
                b"TextCode" => in_code = true,
                b"TextObject" if !out.is_empty() && !out.ends_with('\n') => out.push('\n'),
                _ => {}
            },
            Event::End(e) if local(e.name().as_ref()) == b"TextCode" => in_code = false,
            Event::Text(t) if in_code => out.push_str(&t.decode().map_err(|e| Unreadable(format!("{name}: {e}")))?),
            Event::GeneralRef(r) if in_code => out.extend(resolve_entity(&r)),
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::domain::traces::report::{LegendEntry, MarkRevision, TraceReport};
    use crate::domain::traces::{attribute as attribute_spans, docx};

    #[test]
    fn sources_are_judged_by_type_and_name() {
        assert_eq!(text_source("text/plain; charset=utf-8", "a"), Some(TextSource::Plain));
        assert_eq!(text_source("application/octet-stream", "报告.DOCX"), Some(TextSource::Docx));
        assert_eq!(text_source("image/png", "scan"), Some(TextSource::Image));
        assert_eq!(text_source("application/octet-stream", "扫描.TIF"), Some(TextSource::Image));
        assert_eq!(text_source("application/pdf", "x"), Some(TextSource::Pdf));
        assert_eq!(text_source("application/octet-stream", "公文.ofd"), Some(TextSource::Ofd));
        assert_eq!(text_source("application/vnd.ms-excel", "表.xls"), None);
    }

    #[test]
    fn docx_text_is_the_accepted_text_with_paragraphs() {
        // A .docx of our own making: its w:t runs hold the accepted text, w:delText is skipped.
        let spans = attribute_spans(&["甲乙 & 丙", "甲乙 & 丁\n第二段"], None);
        let legend = vec![LegendEntry { user: "u".into(), display_name: "U".into(), department: "D".into(), department_name: "D".into(), color: "#C62828".into() }];
        let revisions = vec![MarkRevision { id: "r".into(), author: 0, created_at: "2026-11-23T10:00:00.000Z".into() }];
        let report = TraceReport { document: "x", title: "t", from: None, to: "r", legend: &legend, revisions: &revisions, spans: &spans };
        let bytes = docx::traces_docx(&report).unwrap();
        assert_eq!(read_in_process(TextSource::Docx, &bytes).unwrap(), vec!["甲乙 & 丁\n第二段\n".to_owned()]);
        assert!(read_in_process(TextSource::Docx, b"not a zip").is_err());
    }

    fn zip(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut out);
        for (name, bytes) in parts {
            w.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn ofd_pages_are_read_in_order_from_their_text_codes() {
        let ofd = zip(&[
            ("OFD.xml", b"<ofd:OFD xmlns:ofd=\"http://www.ofdspec.org/2016\"><ofd:DocBody><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"),
            ("Doc_0/Document.xml", b"<ofd:Document xmlns:ofd=\"http://www.ofdspec.org/2016\"><ofd:Pages><ofd:Page ID=\"1\" BaseLoc=\"Pages/Page_0/Content.xml\"/><ofd:Page ID=\"2\" BaseLoc=\"Pages/Page_1/Content.xml\"/></ofd:Pages></ofd:Document>"),
            ("Doc_0/Pages/Page_0/Content.xml", "<ofd:Page xmlns:ofd=\"x\"><ofd:Content><ofd:Layer><ofd:TextObject ID=\"5\"><ofd:TextCode X=\"0\" Y=\"10\">关于做好</ofd:TextCode><ofd:TextCode X=\"40\" Y=\"10\">预算&amp;编制</ofd:TextCode></ofd:TextObject><ofd:TextObject ID=\"6\"><ofd:TextCode>第二行</ofd:TextCode></ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>".as_bytes()),
            ("Doc_0/Pages/Page_1/Content.xml", "<Page><TextObject><TextCode>第二页</TextCode></TextObject></Page>".as_bytes()),
        ]);
        assert_eq!(read_in_process(TextSource::Ofd, &ofd).unwrap(), vec!["关于做好预算&编制\n第二行".to_owned(), "第二页".to_owned()]);
        assert_eq!(ofd_join("Doc_0/Document.xml", "../Res/a.xml"), "Res/a.xml");
        assert_eq!(ofd_join("Doc_0/Document.xml", "/Doc_0/p.xml"), "Doc_0/p.xml");
    }

    #[test]
    fn a_zip_bomb_in_ofd_clothing_is_refused_not_expanded() {
        let zeros = vec![0u8; (MAX_PART + 4096) as usize];
        let bomb = zip(&[("OFD.xml", &zeros)]);
        assert!(bomb.len() < 100_000, "deflated: {}", bomb.len());
        let e = read_in_process(TextSource::Ofd, &bomb).unwrap_err();
        assert!(e.0.contains("zip bomb"), "{e}");
        assert!(read_in_process(TextSource::Ofd, b"PK\x03\x04 broken").is_err());
    }

    #[test]
    fn tesseract_tsv_becomes_lines_and_word_boxes() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
                   1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t\n\
                   5\t1\t1\t1\t1\t1\t10\t20\t30\t40\t96\t关于\n\
                   5\t1\t1\t1\t1\t2\t40\t20\t30\t40\t95\t预算\n\
                   5\t1\t1\t1\t1\t3\t70\t20\t30\t40\t90\tGB\n\
                   5\t1\t1\t1\t1\t4\t90\t20\t30\t40\t90\t9704\n\
                   5\t1\t1\t1\t2\t1\t10\t80\t30\t40\t93\t第二行\n";
        let page = page_from_tsv(1, tsv);
        assert_eq!(page.text, "关于预算GB 9704\n第二行");
        assert_eq!(page.words.len(), 5);
        assert_eq!(page.words[0], WordBox { text: "关于".into(), x: 10, y: 20, w: 30, h: 40 });
    }

    #[test]
    fn a_scanned_paragraph_is_searched_across_its_line_breaks() {
        let page = PageText { page: 1, text: "为切实做好预\n算编制工作。\nSee page\n2 of 3".into(), words: vec![] };
        assert_eq!(page.searchable(), "为切实做好预算编制工作。\nSee page\n2 of 3");
    }

    #[test]
    fn brackets_fold_without_moving_offsets() {
        let read = "国办发【2026】12号";
        let folded = fold_brackets(read);
        assert_eq!(folded, "国办发〔2026〕12号");
        assert_eq!(folded.len(), read.len());
        assert!(matches!(fold_brackets("无括号"), std::borrow::Cow::Borrowed(_)));
    }
}
