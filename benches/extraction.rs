//! Scans to text: pages per minute through henji (upload, queue, tesseract, the text stored
//! and indexed) beside bare `tesseract` run by hand on the same pages, on every core, in the
//! same run; the same for scanned PDFs beside `pdftoppm | tesseract`; and the character error
//! rate of each on the bench's scans (four 通知 in a Song, a Kai and a Hei face, half of them
//! skewed, blurred, noised and saved as JPEG), with PDF pages rendered at 200 and at 300 dpi.
//!
//! `cargo bench --bench extraction` (needs tesseract-ocr, tesseract-ocr-chi-sim, poppler-utils
//! and python3 with Pillow, as the tests do).

mod support;
#[path = "../tests/support/scans.rs"]
mod scans;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, start_server};
use scans::{cer, render};

const NOTICES: [&str; 4] = [
    include_str!("../fixtures/notices/budget.txt"),
    include_str!("../fixtures/notices/safety.txt"),
    include_str!("../fixtures/notices/meeting.txt"),
    include_str!("../fixtures/notices/conduct.txt"),
];
const FACES: [(&str, &str); 3] = [
    ("Song", "/usr/share/fonts/truetype/arphic/uming.ttc:0"),
    ("Kai", "/usr/share/fonts/truetype/arphic/ukai.ttc:0"),
    ("Hei", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc:0"),
];
/// henji's default for rendering scanned PDF pages.
const DPI: u32 = 200;

struct Page {
    path: PathBuf,
    reference: String,
    degraded: bool,
}

fn main() {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let work = tempfile::tempdir().expect("temp dir");
    let pages = render_pages(work.path());
    let pdfs = render_pdfs(work.path());
    let pdf_pages: u32 = pdfs.iter().map(|p| p.pages).sum();
    println!("{} scanned pages (300 dpi, 4 notices × 3 faces, half degraded); 3 scanned PDFs (the 4 notices in each face), {pdf_pages} pages; {cores} cores", pages.len());

    let server = start_server();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = reqwest::Client::new();
    let clerk = rt.block_on(seed(&client, &server.base));

    println!("{:<44} {:>10} {:>9} {:>9}", "images", "pages/min", "CER clean", "CER degr.");
    let (mut image_ratios, mut pdf_ratios) = (vec![], vec![]);
    for round in 1..=2 {
        let (bare_rate, bare_texts) = bare_images(&pages, cores);
        let (bare_clean, bare_degraded) = error_rates(&pages, &bare_texts);
        println!("{:<44} {bare_rate:>10.1} {:>8.2}% {:>8.2}%", format!("round {round}: bare tesseract, {cores} at once"), bare_clean * 100.0, bare_degraded * 100.0);
        let (rate, texts) = rt.block_on(through_henji(&client, &server.base, &clerk, &pages, round));
        let (clean, degraded) = error_rates(&pages, &texts);
        println!("{:<44} {rate:>10.1} {:>8.2}% {:>8.2}%", format!("round {round}: henji, images"), clean * 100.0, degraded * 100.0);
        image_ratios.push(rate / bare_rate);

        let (bare_pdf, bare_pdf_texts) = bare_pdf_pages(&pdfs, cores, DPI);
        println!("{:<44} {bare_pdf:>10.1} {}", format!("round {round}: bare pdftoppm {DPI} dpi | tesseract"), pdf_rates(&pdfs, &bare_pdf_texts));
        let (pdf_rate, pdf_texts) = rt.block_on(pdfs_through_henji(&client, &server.base, &clerk, &pdfs, round));
        println!("{:<44} {pdf_rate:>10.1} {}", format!("round {round}: henji, scanned PDFs"), pdf_rates(&pdfs, &pdf_texts));
        pdf_ratios.push(pdf_rate / bare_pdf);
    }
    let (at_300, texts_300) = bare_pdf_pages(&pdfs, cores, 300);
    println!("{:<44} {at_300:>10.1} {}", "bare pdftoppm 300 dpi | tesseract", pdf_rates(&pdfs, &texts_300));
    let range = |r: &[f64]| format!("{:.2}-{:.2}", r.iter().copied().fold(f64::INFINITY, f64::min), r.iter().copied().fold(0.0, f64::max));
    println!("henji / bare tool (target at least 0.90): images {}, scanned PDFs {}", range(&image_ratios), range(&pdf_ratios));
}

/// Each notice in each face, once clean (PNG) and once degraded (JPEG): 24 pages.
fn render_pages(dir: &Path) -> Vec<Page> {
    let mut pages = vec![];
    for (n, notice) in NOTICES.iter().enumerate() {
        for (face, font) in FACES {
            for degraded in [false, true] {
                let name = format!("{n}-{face}.{}", if degraded { "jpg" } else { "png" });
                let (path, reference) = render(dir, font, notice, &name, if degraded { &["--degrade"] } else { &[] });
                pages.push(Page { path, reference, degraded });
            }
        }
    }
    pages
}

struct Pdf {
    face: &'static str,
    path: PathBuf,
    reference: String,
    pages: u32,
}

/// The four notices one after another as a scanned PDF in each face (eight lines a page).
fn render_pdfs(dir: &Path) -> Vec<Pdf> {
    FACES
        .iter()
        .map(|(face, font)| {
            let (path, reference) = render(dir, font, &NOTICES.join("\n"), &format!("{face}.pdf"), &["--pages-of", "8"]);
            let info = Command::new("pdfinfo").arg(&path).output().expect("pdfinfo");
            let pages = String::from_utf8_lossy(&info.stdout).lines().find_map(|l| l.strip_prefix("Pages:").map(|p| p.trim().parse().expect("pages"))).expect("page count");
            Pdf { face, path, reference, pages }
        })
        .collect()
}

/// Each PDF's character error rate, by face.
fn pdf_rates(pdfs: &[Pdf], texts: &[String]) -> String {
    pdfs.iter().zip(texts).map(|(p, t)| format!("{} {:.2}%", p.face, cer(&p.reference, t) * 100.0)).collect::<Vec<_>>().join(", ")
}

/// Runs `jobs` on `cores` threads at a time; gives each one's output and the wall time.
fn in_parallel(jobs: Vec<Box<dyn FnOnce() -> String + Send>>, cores: usize) -> (Vec<String>, Duration) {
    let started = Instant::now();
    let queue = std::sync::Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| {
                loop {
                    let Some((i, job)) = queue.lock().expect("queue").pop() else { break };
                    let out = job();
                    results.lock().expect("results").push((i, out));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|(i, _)| *i);
    (results.into_iter().map(|(_, o)| o).collect(), started.elapsed())
}

fn tesseract(image: &Path) -> String {
    let out = Command::new("tesseract").arg(image).args(["stdout", "-l", "chi_sim", "--psm", "6"]).env("OMP_THREAD_LIMIT", "1").stderr(Stdio::null()).output().expect("tesseract");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tesseract page stdout` for every page, one process per core, as a person would script it.
fn bare_images(pages: &[Page], cores: usize) -> (f64, Vec<String>) {
    let jobs: Vec<Box<dyn FnOnce() -> String + Send>> = pages.iter().map(|p| {
        let path = p.path.clone();
        Box::new(move || tesseract(&path)) as Box<dyn FnOnce() -> String + Send>
    }).collect();
    let (texts, took) = in_parallel(jobs, cores);
    (pages.len() as f64 / took.as_secs_f64() * 60.0, texts)
}

/// Each page of each PDF rendered (`pdftoppm -gray`, PGM) and read, one page per core; the
/// rate over all pages and each PDF's text.
fn bare_pdf_pages(pdfs: &[Pdf], cores: usize, dpi: u32) -> (f64, Vec<String>) {
    let mut jobs: Vec<Box<dyn FnOnce() -> String + Send>> = vec![];
    for pdf in pdfs {
        for p in 1..=pdf.pages {
            let path = pdf.path.clone();
            jobs.push(Box::new(move || {
                let image = path.with_file_name(format!("{}-{dpi}-{p}.pgm", path.file_stem().expect("stem").to_string_lossy()));
                let status = Command::new("pdftoppm").args(["-f", &p.to_string(), "-l", &p.to_string(), "-r", &dpi.to_string(), "-gray", "-singlefile"]).arg(&path).arg(image.with_extension("")).status().expect("pdftoppm");
                assert!(status.success());
                tesseract(&image)
            }));
        }
    }
    let total = jobs.len();
    let (mut pages, took) = in_parallel(jobs, cores);
    let texts = pdfs.iter().map(|pdf| pages.drain(..pdf.pages as usize).collect::<Vec<_>>().join("\n")).collect();
    (total as f64 / took.as_secs_f64() * 60.0, texts)
}

async fn seed(client: &reqwest::Client, base: &str) -> String {
    let admin = login(client, base, "admin", ADMIN_PASSWORD).await;
    for (path, body) in [
        ("departments", json!({"code": "BGS", "name": "办公室"})),
        ("users", json!({"username": "clerk", "display_name": "clerk", "password": "bench-password", "department": "BGS", "roles": ["clerk"], "clearance": "internal"})),
    ] {
        let r = client.post(format!("{base}/api/v1/{path}")).bearer_auth(&admin).json(&body).send().await.expect("seed");
        assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    }
    login(client, base, "clerk", "bench-password").await
}

async fn login(client: &reqwest::Client, base: &str, user: &str, password: &str) -> String {
    let r: Value = client.post(format!("{base}/api/v1/sessions")).json(&json!({"username": user, "password": password})).send().await.expect("login").json().await.expect("json");
    r["token"].as_str().expect("token").to_owned()
}

/// Registers a document with `file` attached; gives the path of the attachment's text.
async fn upload(client: &reqwest::Client, base: &str, clerk: &str, title: String, file: &Path, media_type: &str) -> String {
    let bytes = std::fs::read(file).expect("read");
    let meta = json!({"kind": "incoming", "title": title, "classification": "internal", "fields": {"来文单位": "市政府办公厅", "来文日期": "2026-12-01"}, "body": {"text": "见附件"}});
    let name = file.file_name().expect("name").to_string_lossy().into_owned();
    let form = reqwest::multipart::Form::new()
        .part("meta", reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json").expect("mime"))
        .part("attachment", reqwest::multipart::Part::bytes(bytes).file_name(name).mime_str(media_type).expect("mime"));
    let r = client.post(format!("{base}/api/v1/documents")).bearer_auth(clerk).multipart(form).send().await.expect("upload");
    assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
    let doc: Value = r.json().await.expect("json");
    format!("{base}/api/v1/documents/{}/attachments/{}/text", doc["id"].as_str().expect("id"), doc["attachments"][0]["sha256"].as_str().expect("sha"))
}

/// Waits for every text, asking after one at a time (20 requests a second: polling every job
/// would take the cores the engines need); gives each, pages joined.
async fn await_texts(client: &reqwest::Client, clerk: &str, urls: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(urls.len());
    for url in urls {
        loop {
            let r = client.get(url).bearer_auth(clerk).send().await.expect("text");
            if r.status() == reqwest::StatusCode::ACCEPTED {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            let v: Value = r.json().await.expect("json");
            assert_eq!(v["status"], "done", "{v}");
            out.push(v["pages"].as_array().expect("pages").iter().map(|p| p["text"].as_str().unwrap_or_default()).collect::<Vec<_>>().join("\n"));
            break;
        }
    }
    out
}

/// Every page uploaded as its own paper (a new one each round: henji reads a file once), from
/// the first upload to the last text stored.
async fn through_henji(client: &reqwest::Client, base: &str, clerk: &str, pages: &[Page], round: u32) -> (f64, Vec<String>) {
    let mut files = vec![];
    for (i, p) in pages.iter().enumerate() {
        // One byte more (after the image's end) makes another file with the same picture.
        let copy = p.path.with_file_name(format!("r{round}-{}", p.path.file_name().expect("name").to_string_lossy()));
        let mut bytes = std::fs::read(&p.path).expect("read");
        bytes.push(round as u8);
        std::fs::write(&copy, bytes).expect("write");
        files.push((i, copy, if p.degraded { "image/jpeg" } else { "image/png" }));
    }
    let started = Instant::now();
    let mut urls = vec![];
    for (i, file, media_type) in files {
        urls.push(upload(client, base, clerk, format!("扫描件 {round}-{i}"), &file, media_type).await);
    }
    let texts = await_texts(client, clerk, &urls).await;
    (pages.len() as f64 / started.elapsed().as_secs_f64() * 60.0, texts)
}

async fn pdfs_through_henji(client: &reqwest::Client, base: &str, clerk: &str, pdfs: &[Pdf], round: u32) -> (f64, Vec<String>) {
    let mut copies = vec![];
    for pdf in pdfs {
        let copy = pdf.path.with_file_name(format!("r{round}-{}.pdf", pdf.face));
        let mut bytes = std::fs::read(&pdf.path).expect("read");
        bytes.extend_from_slice(format!("\n% round {round}\n").as_bytes());
        std::fs::write(&copy, bytes).expect("write");
        copies.push(copy);
    }
    let started = Instant::now();
    let mut urls = vec![];
    for (pdf, copy) in pdfs.iter().zip(&copies) {
        urls.push(upload(client, base, clerk, format!("扫描 PDF {round} {}", pdf.face), copy, "application/pdf").await);
    }
    let texts = await_texts(client, clerk, &urls).await;
    let pages: u32 = pdfs.iter().map(|p| p.pages).sum();
    (pages as f64 / started.elapsed().as_secs_f64() * 60.0, texts)
}

/// Mean character error rate of the clean pages and of the degraded ones.
fn error_rates(pages: &[Page], texts: &[String]) -> (f64, f64) {
    let mean = |degraded: bool| {
        let rates: Vec<f64> = pages.iter().zip(texts).filter(|(p, _)| p.degraded == degraded).map(|(p, t)| cer(&p.reference, t)).collect();
        rates.iter().sum::<f64>() / rates.len() as f64
    };
    (mean(false), mean(true))
}
