//! Scanned papers become text, read by the real engines (tesseract with chi_sim, poppler) in
//! the background: pages rendered here at 300 dpi in a Song, a Kai and a Hei face, clean and
//! degraded (skewed, blurred, noised, JPEG), a two-page scanned PDF, a PDF whose text layer uses
//! a Chinese font it does not embed, an OFD and a .docx. Each text's character error rate
//! against what was rendered is printed and bounded, and phrases from each page find its
//! document. A duplicate is read once, a restart finishes a long job, hostile files fail with
//! their reason.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::scans::{cer, render};

/// The faces a 公文 is set in (Debian's fonts-arphic-uming, fonts-arphic-ukai,
/// fonts-wqy-microhei), as `file:face index`.
const SONG: &str = "/usr/share/fonts/truetype/arphic/uming.ttc:0";
pub const KAI: &str = "/usr/share/fonts/truetype/arphic/ukai.ttc:0";
const HEI: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc:0";

/// Four 通知 in the usual wording: title, 发文字号, addressees, numbered paragraphs.
const BUDGET: &str = include_str!("../../fixtures/notices/budget.txt");
const SAFETY: &str = include_str!("../../fixtures/notices/safety.txt");
pub const MEETING: &str = include_str!("../../fixtures/notices/meeting.txt");
const CONDUCT: &str = include_str!("../../fixtures/notices/conduct.txt");

/// How a file was made, and the error rate its text may have.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Made {
    CleanScan,
    DegradedScan,
    /// Text, not pixels: it must come back exactly.
    Text,
}

impl Made {
    fn bound(self) -> f64 {
        match self {
            Made::CleanScan => 0.03,
            Made::DegradedScan => 0.05,
            Made::Text => 0.0,
        }
    }
}

struct Fixture {
    what: &'static str,
    file_name: &'static str,
    media_type: &'static str,
    bytes: Vec<u8>,
    /// The text as it was put on the page.
    reference: String,
    made: Made,
}

/// A scanned page (or pages) of `text` made by render_scan.py: the file's bytes and the text
/// as printed.
pub fn scan(dir: &Path, font: &str, text: &str, name: &str, extra: &[&str]) -> (Vec<u8>, String) {
    let (path, printed) = render(dir, font, text, name, extra);
    (std::fs::read(path).unwrap(), printed)
}

/// A one-page PDF whose text is in STSong-Light, a standard Adobe-GB1 font no file embeds, with
/// UniGB-UCS2-H codes and no ToUnicode map: readers need their own CJK data to read it.
fn text_layer_pdf(text: &str) -> Vec<u8> {
    let mut content = String::from("BT\n/F1 15 Tf\n22 TL\n60 780 Td\n");
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        for piece in chars.chunks(30) {
            let hex: String = piece.iter().collect::<String>().encode_utf16().map(|u| format!("{u:04X}")).collect();
            content.push_str(&format!("<{hex}> Tj T*\n"));
        }
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [6 0 R] >>".to_owned(),
        "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 7 0 R /DW 1000 >>".to_owned(),
        "<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>".to_owned(),
    ];
    pdf_of(&objects)
}

fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
    for (name, bytes) in parts {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// An OFD (GB/T 33190) of one page: each line a TextObject with its TextCode.
fn ofd(text: &str) -> Vec<u8> {
    let objects: String = text
        .lines()
        .enumerate()
        .map(|(i, line)| format!(r#"<ofd:TextObject ID="{}" Boundary="20 {} 170 8" Font="3" Size="5.6"><ofd:TextCode X="0" Y="5">{line}</ofd:TextCode></ofd:TextObject>"#, i + 10, 30 + 9 * i))
        .collect();
    let page = format!(r#"<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Content><ofd:Layer ID="2">{objects}</ofd:Layer></ofd:Content></ofd:Page>"#);
    zip_of(&[
        ("OFD.xml", br#"<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" DocType="OFD" Version="1.1"><ofd:DocBody><ofd:DocInfo><ofd:DocID>a1</ofd:DocID></ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"#),
        ("Doc_0/Document.xml", br#"<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="http://www.ofdspec.org/2016"><ofd:CommonData><ofd:MaxUnitID>99</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea></ofd:CommonData><ofd:Pages><ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages></ofd:Document>"#),
        ("Doc_0/Pages/Page_0/Content.xml", page.as_bytes()),
    ])
}

/// Registers an incoming document with `file` attached; returns its id and the file's digest.
async fn register_with(s: &Server, token: &str, title: &str, classification: &str, file: (&str, &str, Vec<u8>)) -> (String, String) {
    let (name, media_type, bytes) = file;
    let sha = sha256_hex(&bytes);
    let meta = serde_json::to_string(&incoming(title, classification, "正文见附件")).unwrap();
    let form = Form::new().part("meta", Part::text(meta).mime_str("application/json").unwrap()).part("attachment", Part::bytes(bytes).file_name(name.to_owned()).mime_str(media_type).unwrap());
    let r = s.req(Method::POST, "/api/v1/documents", token).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let doc: Value = r.json().await.unwrap();
    let named = doc["attachments"][0]["sha256"].as_str().unwrap().to_owned();
    // A sealed attachment is named by the digest of what is stored.
    assert!(named == sha || classification == "secret", "{doc}");
    (doc["id"].as_str().unwrap().to_owned(), named)
}

fn text_path(doc: &str, sha: &str) -> String {
    format!("/api/v1/documents/{doc}/attachments/{sha}/text")
}

/// Polls the attachment's text until its job has ended; returns the answer and when it was
/// first seen ended. While it runs the answer is 202 with progress.
async fn await_text(s: &Server, token: &str, doc: &str, sha: &str, within: Duration) -> (Value, Instant) {
    let deadline = Instant::now() + within;
    loop {
        let r = s.req(Method::GET, &text_path(doc, sha), token).send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        match status {
            StatusCode::OK => return (v, Instant::now()),
            StatusCode::ACCEPTED => {
                assert!(v["status"] == "queued" || v["status"] == "running", "{v}");
                assert!(v["pages_done"].as_i64().unwrap() <= v["pages"].as_i64().unwrap().max(v["pages_done"].as_i64().unwrap()), "{v}");
            }
            other => panic!("text of {sha}: {other} {v}"),
        }
        assert!(Instant::now() < deadline, "the text of {sha} was not read within {within:?}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pages_text(v: &Value) -> String {
    v["pages"].as_array().unwrap().iter().map(|p| p["text"].as_str().unwrap()).collect::<Vec<_>>().join("\n")
}

async fn search(s: &Server, token: &str, q: &str) -> Value {
    let url = reqwest::Url::parse_with_params(&s.url("/api/v1/search"), [("q", q), ("limit", "50")]).unwrap();
    let r = s.client.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{q}");
    r.json().await.unwrap()
}

/// Four-character phrases of Chinese letters at five places spread over the reference.
fn phrases(reference: &str) -> Vec<String> {
    let chars: Vec<char> = reference.chars().filter(|c| !c.is_whitespace()).collect();
    let windows: Vec<String> = chars.windows(4).filter(|w| w.iter().all(|c| ('\u{4e00}'..='\u{9fff}').contains(c))).map(|w| w.iter().collect()).collect();
    (0..5).map(|i| windows[i * (windows.len() - 1) / 4].clone()).collect()
}

/// Waits (up to `within`) until searching `q` finds document `id`; returns its hit.
async fn await_hit(s: &Server, token: &str, q: &str, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let found = search(s, token, q).await;
        if let Some(hit) = found["hits"].as_array().unwrap().iter().find(|h| h["document"] == id) {
            return hit.clone();
        }
        assert!(Instant::now() < deadline, "{q} did not find {id} within {within:?}: {found}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric(s: &Server, name: &str) -> u64 {
    let text = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or_else(|| panic!("{name} not in /metrics"))
}

/// Every kind of file a clerk attaches, read and found; the error rates printed.
#[tokio::test]
async fn scans_pdfs_ofd_and_word_files_become_searchable_text() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let mut fixtures = vec![];
    for (face, font, clean_text, degraded_text) in [("Song", SONG, BUDGET, SAFETY), ("Kai", KAI, SAFETY, MEETING), ("Hei", HEI, MEETING, BUDGET)] {
        let (bytes, reference) = scan(dir, font, clean_text, &format!("{face}.png"), &[]);
        fixtures.push(Fixture { what: leak(format!("{face}, clean, PNG")), file_name: "扫描件.png", media_type: "image/png", bytes, reference, made: Made::CleanScan });
        let (bytes, reference) = scan(dir, font, degraded_text, &format!("{face}.jpg"), &["--degrade"]);
        fixtures.push(Fixture { what: leak(format!("{face}, skewed, blurred, noised, JPEG q60")), file_name: "扫描件.jpg", media_type: "image/jpeg", bytes, reference, made: Made::DegradedScan });
    }
    let (bytes, reference) = scan(dir, SONG, CONDUCT, "two-pages.pdf", &["--pages-of", "7"]);
    fixtures.push(Fixture { what: "Song, two-page scanned PDF", file_name: "来文扫描.pdf", media_type: "application/pdf", bytes, reference, made: Made::CleanScan });
    fixtures.push(Fixture { what: "PDF text layer, STSong-Light not embedded", file_name: "电子公文.pdf", media_type: "application/pdf", bytes: text_layer_pdf(CONDUCT), reference: CONDUCT.to_owned(), made: Made::Text });
    fixtures.push(Fixture { what: "OFD", file_name: "电子公文.ofd", media_type: "application/ofd", bytes: ofd(SAFETY), reference: SAFETY.to_owned(), made: Made::Text });
    let paragraphs: String = MEETING.lines().map(|l| format!("</w:t></w:r></w:p><w:p><w:r><w:t>{l}")).collect();
    fixtures.push(Fixture { what: "Word (.docx)", file_name: "会议通知.docx", media_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", bytes: word_document(&paragraphs), reference: MEETING.to_owned(), made: Made::Text });

    let s = Server::start().await;
    let (_, clerk) = s.office_clerk("internal").await;
    let mut docs = vec![];
    for (n, f) in fixtures.iter().enumerate() {
        let started = Instant::now();
        let (id, sha) = register_with(&s, &clerk, &format!("来文 {n}"), "internal", (f.file_name, f.media_type, f.bytes.clone())).await;
        // The upload's answer does not wait for the reading.
        assert!(started.elapsed() < Duration::from_secs(5), "{}: the upload took {:?}", f.what, started.elapsed());
        docs.push((id, sha));
    }

    println!("{:<46} {:>6} {:>8} {:>7}  engine", "file", "pages", "CER", "bound");
    let mut failures = vec![];
    for (f, (id, sha)) in fixtures.iter().zip(&docs) {
        let (v, done_at) = await_text(&s, &clerk, id, sha, Duration::from_secs(240)).await;
        assert_eq!(v["status"], "done", "{}: {v}", f.what);
        let read = pages_text(&v);
        let rate = cer(&f.reference, &read);
        let pages = v["pages"].as_array().unwrap().len();
        println!("{:<46} {:>6} {:>7.2}% {:>6.1}%  {}", f.what, pages, rate * 100.0, f.made.bound() * 100.0, v["engine"].as_str().unwrap());
        if rate > f.made.bound() {
            failures.push(format!("{}: CER {:.2}% over {:.0}%\nread:\n{read}", f.what, rate * 100.0, f.made.bound() * 100.0));
        }
        if f.what.contains("two-page") {
            assert_eq!(pages, 2, "{v}");
            assert!(v["engine"].as_str().unwrap().contains("tesseract"), "{v}");
        }
        // Phrases of the page find the document within 2 s of the job's end, and say where.
        let compact: String = v["pages"].as_array().unwrap().iter().map(|p| p["text"].as_str().unwrap().split_whitespace().collect::<String>()).collect();
        let readable: Vec<String> = phrases(&f.reference).into_iter().filter(|p| compact.contains(p.as_str())).collect();
        assert!(readable.len() >= 3, "{}: of the phrases {:?} the engine read only {readable:?}", f.what, phrases(&f.reference));
        for phrase in &readable {
            let hit = await_hit(&s, &clerk, phrase, id, (done_at + Duration::from_secs(2)).saturating_duration_since(Instant::now())).await;
            assert_eq!(hit["found_in"]["sha256"], sha.as_str(), "{}: {phrase}: {hit}", f.what);
            assert!(hit["found_in"]["page"].as_u64().unwrap() >= 1, "{hit}");
            assert!(hit["snippet"].as_str().unwrap().contains(&format!("<mark>{phrase}</mark>")), "{hit}");
            let prefixed = search(&s, &clerk, &format!("attachments:{phrase}")).await;
            assert!(prefixed["hits"].as_array().unwrap().iter().any(|h| h["document"] == id.as_str()), "attachments:{phrase}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // A 发文字号 is found whichever brackets were read or typed; the bodies hold no such words.
    let ids = |v: Value| v["hits"].as_array().unwrap().iter().map(|h| h["document"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let numbered = ids(search(&s, &clerk, "市财发〔2026〕18号").await);
    assert!(!numbered.is_empty());
    assert_eq!(ids(search(&s, &clerk, "市财发【2026】18号").await), numbered);
    assert_eq!(search(&s, &clerk, "body:预算编制").await["total"], 0);
    // One job per distinct file.
    assert_eq!(metric(&s, "henji_extraction_jobs_total").await, fixtures.len() as u64);
}

/// A string for the life of the test (fixture labels made with `format!`).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A scan of a secret document: its text is sealed at rest, readable only by those who may
/// read the document, and each read is audited.
#[tokio::test]
async fn the_text_of_a_classified_scan_is_sealed_and_its_reads_audited() {
    let work = tempfile::tempdir().unwrap();
    let (bytes, _) = scan(work.path(), KAI, SAFETY, "secret.png", &[]);
    let s = Server::start().await;
    let (admin, clerk) = s.office_clerk("secret").await;
    let outsider = s.user(&admin, "reader", "BGS", &["clerk"], "internal").await;
    let (id, sha) = register_with(&s, &clerk, "密件扫描", "secret", ("密件.png", "image/png", bytes)).await;
    let (v, _) = await_text(&s, &clerk, &id, &sha, Duration::from_secs(120)).await;
    assert_eq!(v["status"], "done", "{v}");
    assert!(pages_text(&v).contains("隐患排查"), "{v}");

    expect_problem(s.req(Method::GET, &text_path(&id, &sha), &outsider).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    let hit = await_hit(&s, &clerk, "隐患排查", &id, Duration::from_secs(2)).await;
    // A classified hit shows no text in a list.
    assert!(!hit["snippet"].as_str().unwrap().contains("隐患"), "{hit}");
    assert_eq!(search(&s, &outsider, "隐患排查").await["total"], 0);

    // Nothing of it in clear anywhere under the data directory, the index included.
    for needle in ["隐患排查", "安全生产"] {
        for path in files_under(&s.data_dir) {
            // A file gone between the listing and the read was a moment's (a write's staging).
            let Ok(bytes) = std::fs::read(&path) else { continue };
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} in clear in {}", path.display());
        }
    }
    let audit: Value = s.req(Method::GET, &format!("/api/v1/audit?document={id}"), &admin).send().await.unwrap().json().await.unwrap();
    let reads = audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == "text.read" && e["object"].as_str().unwrap().contains(&sha)).count();
    assert_eq!(reads, 1, "{audit}");
}

/// The same scan in two documents is read once; a restart in the middle of a long scan
/// goes on from the pages already read; a backup restored elsewhere reads nothing again.
#[tokio::test]
async fn a_duplicate_is_read_once_and_a_restart_finishes_a_long_job() {
    let work = tempfile::tempdir().unwrap();
    let (png, _) = scan(work.path(), KAI, MEETING, "one.png", &[]);
    let everything = [BUDGET, SAFETY, MEETING, CONDUCT].join("\n");
    let (pdf, reference) = scan(work.path(), KAI, &everything, "long.pdf", &["--pages-of", "8"]);

    let data = tempfile::tempdir().unwrap();
    let s = Server::start_in(data.path(), &["--extraction-workers", "1"], &[]).await;
    let (_, clerk) = s.office_clerk("internal").await;
    let (first, sha) = register_with(&s, &clerk, "原件", "internal", ("扫描.png", "image/png", png.clone())).await;
    let (second, again) = register_with(&s, &clerk, "复印件", "internal", ("同一扫描.png", "image/png", png)).await;
    assert_eq!(sha, again);
    let (a, _) = await_text(&s, &clerk, &first, &sha, Duration::from_secs(120)).await;
    let (b, _) = await_text(&s, &clerk, &second, &sha, Duration::from_secs(10)).await;
    assert_eq!((a["status"].clone(), a["pages"].clone()), (b["status"].clone(), b["pages"].clone()));
    assert_eq!(metric(&s, "henji_extraction_jobs_total").await, 1);
    assert_eq!(metric(&s, "henji_extraction_engine_runs_total").await, 1);
    for id in [&first, &second] {
        await_hit(&s, &clerk, "档案工作会议", id, Duration::from_secs(2)).await;
    }

    // Seven pages, one engine at a time; stopped hard once some but not all are read.
    let (long, pdf_sha) = register_with(&s, &clerk, "长件", "internal", ("长件.pdf", "application/pdf", pdf)).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let pages = loop {
        let v: Value = s.req(Method::GET, &text_path(&long, &pdf_sha), &clerk).send().await.unwrap().json().await.unwrap();
        let (done, pages) = (v["pages_done"].as_i64().unwrap_or(0), v["pages"].as_i64().unwrap_or(0));
        if done >= 2 && done < pages {
            break pages;
        }
        assert!(v["status"] != "done", "the job ended before it could be interrupted: {v}");
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(pages >= 5, "{pages} pages");
    let s = s.restart(&[]).await;
    let clerk = s.login("clerk", PASSWORD).await;
    let (v, _) = await_text(&s, &clerk, &long, &pdf_sha, Duration::from_secs(240)).await;
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["pages"].as_array().unwrap().len() as i64, pages);
    let rate = cer(&reference, &pages_text(&v));
    println!("{pages}-page scan after a restart: CER {:.2}%", rate * 100.0);
    assert!(rate <= 0.03, "CER {rate}");
    // pdfinfo and pdftotext once, then pdftoppm and tesseract for each page not read before.
    let runs = metric(&s, "henji_extraction_engine_runs_total").await;
    assert!(runs <= 2 + 2 * (pages as u64 - 2), "{runs} engine runs after the restart: the pages read before it were read again");
    assert_eq!(metric(&s, "henji_extraction_jobs_total").await, 0, "the restarted server queued the job again instead of going on");

    // A backup carries the texts; the restored installation reads none of its files again.
    let (ok, out) = run_verify(&s.data_dir, &[]);
    assert!(ok && out.contains("2 extracted texts"), "{out}");
    let backup = tempfile::tempdir().unwrap();
    let target = format!("file://{}", backup.path().display());
    let key_file = s.data_dir.join("keys/master.key");
    let henji = |args: &[&str]| Command::new(henji_bin()).args(args).output().unwrap();
    let out = henji(&["backup", "--to", &target, "--data-dir", s.data_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let restored = tempfile::tempdir().unwrap();
    let out = henji(&["restore", "--from", &target, "--data-dir", restored.path().to_str().unwrap(), "--key-file", key_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let r = Server::start_in(restored.path(), &["--key-file", key_file.to_str().unwrap()], &[]).await;
    let clerk = r.login("clerk", PASSWORD).await;
    let (again, _) = await_text(&r, &clerk, &long, &pdf_sha, Duration::from_secs(10)).await;
    assert_eq!(again, v);
    await_hit(&r, &clerk, "档案工作会议", &first, Duration::from_secs(30)).await;
    assert_eq!(metric(&r, "henji_extraction_engine_runs_total").await, 0);
}

/// SIGTERM in the middle of a job: the workers and the index follower stop before the catalog
/// closes (nothing in the log meets a closed pool), the process exits 0, and the next start
/// finishes the job.
#[tokio::test]
async fn a_clean_shutdown_mid_job_leaves_nothing_broken() {
    let work = tempfile::tempdir().unwrap();
    let (pdf, _) = scan(work.path(), HEI, &[BUDGET, SAFETY, MEETING, CONDUCT].join("\n"), "long.pdf", &["--pages-of", "8"]);
    let data = tempfile::tempdir().unwrap();
    let log_path = work.path().join("henji.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut s = Server::start_with(data.path(), &["--extraction-workers", "1"], &[("RUST_LOG", "info")], std::process::Stdio::from(log)).await;
    let (_, clerk) = s.office_clerk("internal").await;
    let (id, sha) = register_with(&s, &clerk, "长件", "internal", ("长件.pdf", "application/pdf", pdf)).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v: Value = s.req(Method::GET, &text_path(&id, &sha), &clerk).send().await.unwrap().json().await.unwrap();
        if v["pages_done"].as_i64().unwrap_or(0) >= 1 && v["status"] == "running" {
            break;
        }
        assert!(v["status"] != "done" && Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopping = Instant::now();
    assert!(s.terminate().success());
    assert!(stopping.elapsed() < Duration::from_secs(15), "took {:?} to stop", stopping.elapsed());
    let logged = std::fs::read_to_string(&log_path).unwrap();
    for bad in ["closed pool", "not recorded", "update failed", "panicked"] {
        assert!(!logged.contains(bad), "{bad} in the log:\n{logged}");
    }
    let s = Server::start_in(data.path(), &[], &[]).await;
    let clerk = s.login("clerk", PASSWORD).await;
    let (v, _) = await_text(&s, &clerk, &id, &sha, Duration::from_secs(120)).await;
    assert_eq!(v["status"], "done", "{v}");
}

/// A corrupt image, a PDF locked with a password and a zip bomb dressed as an OFD each end as
/// `failed` with their reason; the server stays healthy and serves everything else.
#[tokio::test]
async fn hostile_files_fail_with_a_reason_and_the_server_stays_healthy() {
    let work = tempfile::tempdir().unwrap();
    let plain = work.path().join("plain.pdf");
    std::fs::write(&plain, text_layer_pdf(MEETING)).unwrap();
    let locked = work.path().join("locked.pdf");
    let status = Command::new("qpdf").args(["--encrypt", "user-secret", "owner-secret", "256", "--"]).arg(&plain).arg(&locked).status().expect("qpdf (apt-get install qpdf)");
    assert!(status.success());
    let mut corrupt = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x10\0\0\0\x10\0\x08\x00\0\0\0".to_vec();
    corrupt.extend(std::iter::repeat_n(0xA5u8, 4096));
    let bomb = zip_of(&[("OFD.xml", &vec![b' '; 512 << 20])]);
    assert!(bomb.len() < 2 << 20, "the bomb is {} bytes", bomb.len());

    let s = Server::start().await;
    let (admin, clerk) = s.office_clerk("internal").await;
    let leader = s.user(&admin, "leader", "BGS", &["leader"], "internal").await;
    let mut ids = vec![];
    for (name, media_type, bytes, reason) in [
        ("损坏.png", "image/png", corrupt, "tesseract"),
        ("加密.pdf", "application/pdf", std::fs::read(&locked).unwrap(), "encrypted"),
        ("炸弹.ofd", "application/ofd", bomb, "zip bomb"),
    ] {
        let (id, sha) = register_with(&s, &clerk, name, "internal", (name, media_type, bytes)).await;
        let (v, _) = await_text(&s, &clerk, &id, &sha, Duration::from_secs(120)).await;
        assert_eq!(v["status"], "failed", "{name}: {v}");
        assert!(v["reason"].as_str().unwrap().contains(reason), "{name}: {v}");
        ids.push((id, sha));
    }
    let health: Value = s.client.get(s.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok", "{health}");

    // Retrying: a leader may not; a clerk may, and the file fails again for the same reason.
    let (id, sha) = &ids[1];
    let retry = format!("{}/retry", text_path(id, sha));
    expect_problem(s.req(Method::POST, &retry, &leader).send().await.unwrap(), StatusCode::FORBIDDEN).await;
    let r = s.req(Method::POST, &retry, &clerk).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (v, _) = await_text(&s, &clerk, id, sha, Duration::from_secs(60)).await;
    assert_eq!(v["status"], "failed", "{v}");
    // Only a failed one is retried; a file that carries no text has nothing to retry.
    let (good, good_sha) = register_with(&s, &clerk, "正常", "internal", ("说明.txt", "text/plain", "可以读的说明".as_bytes().to_vec())).await;
    await_text(&s, &clerk, &good, &good_sha, Duration::from_secs(30)).await;
    expect_problem(s.req(Method::POST, &format!("{}/retry", text_path(&good, &good_sha)), &clerk).send().await.unwrap(), StatusCode::CONFLICT).await;
    let (bin, bin_sha) = register_with(&s, &clerk, "二进制", "internal", ("数据.bin", "application/octet-stream", vec![1, 2, 3])).await;
    let r = s.req(Method::GET, &text_path(&bin, &bin_sha), &clerk).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "unsupported"}));
    expect_problem(s.req(Method::GET, &text_path(&bin, &"0".repeat(64)), &clerk).send().await.unwrap(), StatusCode::NOT_FOUND).await;
    await_hit(&s, &clerk, "可以读的说明", &good, Duration::from_secs(2)).await;
}
