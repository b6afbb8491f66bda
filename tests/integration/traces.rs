//! Traces end to end: three reviewers edit a Chinese document over five revisions through the
//! API; the JSON, the HTML page and the Word document (opened by LibreOffice) credit each
//! change to the right person.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use quick_xml::events::Event;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

const R1: &str = "各部门：\n定于下周一召开年度工作会议，请准时参加。\n办公室";
const R2: &str = "各部门：\n定于下周一上午九时召开年度工作会议，请准时参加。\n办公室";
const R3: &str = "各部门：\n定于下周一上午九时在三楼会议室召开年度工作会议，请各部门负责人准时参加。\n办公室";
const R4: &str = "各部门：\n定于下周一上午十时在三楼会议室召开年度工作会议，请各部门负责人准时参加。\n办公室\n2026年11月23日";
const R5: &str = "各部门：\n定于下周一上午十时在三楼会议室召开工作会议，请各部门负责人<准时>参加。\n办公室（印）\n2026年11月23日";

struct Story {
    s: Server,
    id: String,
    revisions: Vec<String>,
    reader: String,
}

/// 王芳 registers; 李强, 赵敏 and 王芳 again revise; 李强 has the last word.
async fn story() -> Story {
    let s = Server::start().await;
    let admin = s.admin().await;
    s.department(&admin, "BGS", "办公室").await;
    let wang = s.user(&admin, "wangfang", "BGS", &["clerk"], "internal").await;
    let li = s.user(&admin, "liqiang", "BGS", &["leader"], "internal").await;
    let zhao = s.user(&admin, "zhaomin", "BGS", &["staff"], "internal").await;
    let mut colors = vec![];
    for (token, name) in [(&wang, "王芳"), (&li, "李强"), (&zhao, "赵敏")] {
        let r = s.req(Method::PATCH, "/api/v1/me", token).json(&json!({"display_name": name})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        colors.push(r.json::<Value>().await.unwrap()["color"].as_str().unwrap().to_owned());
    }
    // 赵敏 picks 王芳's colour: on this document's legend they must still differ.
    let r = s.req(Method::PATCH, "/api/v1/me", &zhao).json(&json!({"color": colors[0]})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let doc = s.create_incoming(&wang, "关于召开年度工作会议的通知", "internal", R1).await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let mut revisions = vec![doc["head_revision"].as_str().unwrap().to_owned()];
    for (token, text) in [(&li, R2), (&zhao, R3), (&wang, R4), (&li, R5)] {
        let r = s.revise(token, &id, revisions.last().unwrap(), text).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        revisions.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    Story { s, id, revisions, reader: zhao }
}

impl Story {
    async fn get(&self, query: &str) -> reqwest::Response {
        self.s.req(Method::GET, &format!("/api/v1/documents/{}/traces{query}", self.id), &self.reader).send().await.unwrap()
    }

    async fn json(&self, query: &str) -> Value {
        let r = self.get(query).await;
        assert_eq!(r.status(), StatusCode::OK, "{query}");
        r.json().await.unwrap()
    }
}

fn joined(spans: &Value, ops: &[&str]) -> String {
    spans.as_array().unwrap().iter().filter(|s| ops.contains(&s["op"].as_str().unwrap())).map(|s| s["text"].as_str().unwrap()).collect()
}

/// The user credited with inserting `text` (which must lie inside one span).
fn inserted_by<'a>(spans: &'a Value, text: &str) -> (&'a str, &'a str) {
    let span = spans.as_array().unwrap().iter().find(|s| s["text"].as_str().unwrap().contains(text)).unwrap_or_else(|| panic!("no span holds {text}"));
    (span["op"].as_str().unwrap(), span["author"].as_str().unwrap_or("-"))
}

#[tokio::test]
async fn three_reviewers_five_revisions_json_html_and_word() {
    let st = story().await;
    let r = &st.revisions;

    // The whole history, from the empty page.
    let t = st.json("?from=empty").await;
    assert_eq!(t["from"], "empty");
    assert_eq!(t["to"], r[4].as_str());
    let spans = &t["spans"];
    assert_eq!(joined(spans, &["equal", "insert"]), R5);
    assert_eq!(joined(spans, &["equal", "delete"]), "");
    assert_eq!(inserted_by(spans, "各部门："), ("insert", "wangfang"));
    assert_eq!(inserted_by(spans, "上午"), ("insert", "liqiang"));
    assert_eq!(inserted_by(spans, "三楼会议室"), ("insert", "zhaomin"));
    assert_eq!(inserted_by(spans, "负责人"), ("insert", "zhaomin"));
    assert_eq!(inserted_by(spans, "2026年11月23日"), ("insert", "wangfang"));
    assert_eq!(inserted_by(spans, "（印）"), ("insert", "liqiang"));
    // 李强 wrote 九 in r2, 王芳 changed it to 十 in r4.
    let nine = spans.as_array().unwrap().iter().find(|s| s["text"] == "九").unwrap();
    assert_eq!((nine["op"].as_str(), nine["author"].as_str(), nine["deleted_by"].as_str()), (Some("transient"), Some("liqiang"), Some("wangfang")));
    assert_eq!(nine["revision"], r[1].as_str());
    assert_eq!(nine["deleted_in"], r[3].as_str());
    // 年度, written by 王芳 in r1, deleted by 李强 in r5.
    let annual = spans.as_array().unwrap().iter().find(|s| s["text"] == "年度").unwrap();
    assert_eq!((annual["op"].as_str(), annual["author"].as_str(), annual["deleted_by"].as_str()), (Some("transient"), Some("wangfang"), Some("liqiang")));

    let authors = t["authors"].as_array().unwrap();
    let users: Vec<&str> = authors.iter().map(|a| a["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["wangfang", "liqiang", "zhaomin"]);
    let colors: BTreeSet<&str> = authors.iter().map(|a| a["color"].as_str().unwrap()).collect();
    assert_eq!(colors.len(), 3, "three distinct colours: {authors:?}");
    assert_eq!(authors[0]["display_name"], "王芳");
    assert_eq!(authors[0]["department"], "BGS");
    assert_eq!(authors[0]["revisions"].as_array().unwrap().len(), 2);
    assert_eq!(authors[1]["revisions"][1]["id"], r[4].as_str());

    // The default range starts at the first revision: its text is `equal`, and 年度 is a deletion.
    let t = st.json("").await;
    assert_eq!(t["from"], r[0].as_str());
    assert_eq!(joined(&t["spans"], &["equal", "delete"]), R1);
    assert_eq!(joined(&t["spans"], &["equal", "insert"]), R5);
    let annual = t["spans"].as_array().unwrap().iter().find(|s| s["text"] == "年度").unwrap();
    assert_eq!((annual["op"].as_str(), annual["deleted_by"].as_str()), (Some("delete"), Some("liqiang")));

    // Any two revisions: r2 → r4 holds 赵敏's and 王芳's marks only.
    let t = st.json(&format!("?from={}&to={}", r[1], r[3])).await;
    assert_eq!(joined(&t["spans"], &["equal", "delete"]), R2);
    assert_eq!(joined(&t["spans"], &["equal", "insert"]), R4);
    let users: Vec<&str> = t["authors"].as_array().unwrap().iter().map(|a| a["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["zhaomin", "wangfang"]);

    // The clean view.
    let c = st.json("?view=clean").await;
    assert_eq!((c["text"].as_str(), c["to"].as_str()), (Some(R5), Some(r[4].as_str())));
    let c = st.json(&format!("?view=clean&to={}", r[2])).await;
    assert_eq!(c["text"], R3);

    // The HTML page: a legend with three colours, marks with who and when, no script.
    let h = st.get("?format=html&from=empty").await;
    assert_eq!(h.status(), StatusCode::OK);
    assert!(h.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = h.text().await.unwrap();
    for color in &colors {
        assert!(page.contains(&format!("background: {color}")), "legend lacks {color}");
    }
    assert!(page.contains("<table class=\"legend\">") && page.contains("王芳") && page.contains("办公室"));
    assert!(page.contains("title=\"李强 · 办公室 · 2026") || page.contains("title=\"李强 · 办公室 · 20"), "marks say who and when");
    assert!(page.contains("&lt;</ins>") && !page.contains("<准时"), "text is escaped");
    assert!(!page.contains("<script"));
    let clean = st.get("?format=html&view=clean").await.text().await.unwrap();
    assert!(clean.contains("办公室（印）") && !clean.contains("<del"));

    // The Word document: real tracked changes, one author per reviewer, accept all = r5,
    // reject all = r1; LibreOffice converts it.
    let d = st.s.req(Method::GET, &format!("/api/v1/documents/{}/traces.docx", st.id), &st.reader).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::OK);
    assert_eq!(d.headers()["content-type"], "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    let bytes = d.bytes().await.unwrap().to_vec();
    let xml = document_xml(&bytes);
    let word = read_tracked_changes(&xml);
    assert_eq!(word.authors, BTreeSet::from(["李强".to_owned(), "王芳".to_owned(), "赵敏".to_owned()]));
    assert!(word.dates_ok, "every mark has a w:date");
    assert_eq!(word.accepted, R5);
    assert_eq!(word.rejected, R1);
    let dir = tempfile::tempdir().unwrap();
    let pdf = convert_with_libreoffice(dir.path(), &bytes, "pdf");
    assert!(pdf.starts_with(b"%PDF") && pdf.len() > 1000, "not a PDF");

    // From the empty page, rejecting everything leaves nothing.
    let d = st.s.req(Method::GET, &format!("/api/v1/documents/{}/traces.docx?from=empty", st.id), &st.reader).send().await.unwrap();
    let word = read_tracked_changes(&document_xml(&d.bytes().await.unwrap()));
    assert_eq!((word.accepted.as_str(), word.rejected.as_str()), (R5, ""));
}

#[tokio::test]
async fn bad_ranges_are_named_and_legends_are_never_stale() {
    let st = story().await;
    let r = &st.revisions;
    for (query, field) in [
        ("?format=pdf", "format"),
        ("?view=diff", "view"),
        ("?from=nonsense", "from"),
        ("?to=abc", "to"),
        (&format!("?from={}&to={}", r[3], r[1]) as &str, "from"),
        (&format!("?from={}", "0".repeat(64)) as &str, "from"),
    ] {
        let p = expect_problem(st.get(query).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(p["field"], field, "{query}: {p}");
    }
    expect_problem(st.get("?colour=red").await, StatusCode::BAD_REQUEST).await;
    let other = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let r404 = st.s.req(Method::GET, &format!("/api/v1/documents/{other}/traces"), &st.reader).send().await.unwrap();
    expect_problem(r404, StatusCode::NOT_FOUND).await;

    // Clients that take gzip get the same JSON compressed.
    let plain = st.get("?from=empty").await.bytes().await.unwrap();
    let r = st.s.req(Method::GET, &format!("/api/v1/documents/{}/traces?from=empty", st.id), &st.reader).header("accept-encoding", "br, gzip").send().await.unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let mut unzipped = vec![];
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, plain);

    // A trace is cached by its revisions; a colour change still shows at once.
    let first = st.json("?from=empty").await;
    let again = st.json("?from=empty").await;
    assert_eq!(first["spans"], again["spans"]);
    let li = st.s.login("liqiang", PASSWORD).await;
    let r = st.s.req(Method::PATCH, "/api/v1/me", &li).json(&json!({"color": "#00695C"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after = st.json("?from=empty").await;
    let li_entry = after["authors"].as_array().unwrap().iter().find(|a| a["user"] == "liqiang").unwrap();
    assert_eq!(li_entry["color"], "#00695C");
    assert_eq!(first["spans"], after["spans"]);
}

fn document_xml(docx: &[u8]) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(docx)).expect("a zip");
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("word/document.xml").expect("word/document.xml"), &mut xml).unwrap();
    xml
}

struct TrackedChanges {
    authors: BTreeSet<String>,
    dates_ok: bool,
    /// The text after "accept all", paragraphs joined by line breaks.
    accepted: String,
    /// The text after "reject all".
    rejected: String,
}

/// Reads runs and paragraph marks the way Word applies "accept all" and "reject all".
fn read_tracked_changes(xml: &str) -> TrackedChanges {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = TrackedChanges { authors: BTreeSet::new(), dates_ok: true, accepted: String::new(), rejected: String::new() };
    let (mut ins, mut del, mut in_ppr, mut in_text) = (0, 0, false, false);
    let (mut mark_inserted, mut mark_deleted) = (false, false);
    let note = |e: &quick_xml::events::BytesStart, out: &mut TrackedChanges| {
        let author = e.try_get_attribute("w:author").unwrap().map(|a| String::from_utf8(a.value.to_vec()).unwrap());
        out.authors.insert(author.expect("w:author"));
        out.dates_ok &= e.try_get_attribute("w:date").unwrap().is_some();
    };
    let push = |text: &str, ins: i32, del: i32, out: &mut TrackedChanges| {
        if del == 0 {
            out.accepted.push_str(text);
        }
        if ins == 0 {
            out.rejected.push_str(text);
        }
    };
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => match e.name().as_ref() {
                b"w:ins" => {
                    note(&e, &mut out);
                    ins += 1;
                }
                b"w:del" => {
                    note(&e, &mut out);
                    del += 1;
                }
                b"w:pPr" => in_ppr = true,
                b"w:p" => (mark_inserted, mark_deleted) = (false, false),
                b"w:t" | b"w:delText" => in_text = true,
                _ => {}
            },
            Event::Empty(e) => match e.name().as_ref() {
                b"w:ins" if in_ppr => {
                    note(&e, &mut out);
                    mark_inserted = true;
                }
                b"w:del" if in_ppr => {
                    note(&e, &mut out);
                    mark_deleted = true;
                }
                b"w:tab" => push("\t", ins, del, &mut out),
                b"w:br" => push("\n", ins, del, &mut out),
                _ => {}
            },
            Event::End(e) => match e.name().as_ref() {
                b"w:ins" => ins -= 1,
                b"w:del" => del -= 1,
                b"w:pPr" => in_ppr = false,
                b"w:t" | b"w:delText" => in_text = false,
                b"w:p" => {
                    if !mark_deleted {
                        out.accepted.push('\n');
                    }
                    if !mark_inserted {
                        out.rejected.push('\n');
                    }
                }
                _ => {}
            },
            Event::Text(t) if in_text => push(&t.decode().unwrap(), ins, del, &mut out),
            Event::GeneralRef(r) if in_text => {
                let name = String::from_utf8(r.to_vec()).unwrap();
                let c = match name.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                };
                push(c, ins, del, &mut out);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // The last paragraph's mark is the document's end, not a line break.
    out.accepted.pop();
    out.rejected.pop();
    out
}

/// `soffice --headless --convert-to <format>`, as a reader's LibreOffice would open the file;
/// returns the converted file.
fn convert_with_libreoffice(dir: &Path, docx: &[u8], format: &str) -> Vec<u8> {
    let input = dir.join("traces.docx");
    std::fs::write(&input, docx).unwrap();
    let profile = format!("-env:UserInstallation=file://{}", dir.join("profile").display());
    let mut child = Command::new("soffice")
        .args([profile.as_str(), "--headless", "--convert-to", format, "--outdir"])
        .arg(dir)
        .arg(&input)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("LibreOffice (`soffice`) must be installed for this test: apt-get install libreoffice-writer-nogui (.ci/run does)");
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert!(status.success(), "soffice failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(180), "soffice did not finish in 3 minutes");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read(dir.join(format!("traces.{format}"))).expect("soffice wrote nothing")
}

/// A tracked change's kind (insertion, deletion) and who made it.
type Change = (String, Vec<String>);

/// The tracked changes LibreOffice read from a document, as (kind, creators) per changed
/// region of its flat ODF: a deletion stacked on an insertion has two creators.
fn libreoffice_changes(fodt: &str) -> Vec<Change> {
    let mut reader = quick_xml::Reader::from_str(fodt);
    let (mut out, mut current, mut in_creator): (Vec<Change>, Option<Change>, bool) = (vec![], None, false);
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => match e.name().as_ref() {
                b"text:changed-region" => current = Some((String::new(), vec![])),
                b"text:insertion" | b"text:deletion" | b"text:format-change" => {
                    if let Some(c) = current.as_mut().filter(|c| c.0.is_empty()) {
                        c.0 = String::from_utf8_lossy(e.name().as_ref()).trim_start_matches("text:").to_owned();
                    }
                }
                b"dc:creator" => in_creator = true,
                _ => {}
            },
            Event::Text(t) if in_creator => {
                if let Some(c) = current.as_mut() {
                    c.1.push(t.decode().unwrap().into_owned());
                }
            }
            Event::End(e) => match e.name().as_ref() {
                b"dc:creator" => in_creator = false,
                b"text:changed-region" => out.extend(current.take()),
                _ => {}
            },
            Event::Eof => return out,
            _ => {}
        }
    }
}

/// Text (and a line break) one reviewer inserted and another deleted: Word's nesting, a
/// deletion stacked on an insertion, and LibreOffice shows both marks with both names.
#[tokio::test]
async fn what_one_inserted_and_another_deleted_keeps_both_marks_in_libreoffice() {
    let s = Server::start().await;
    let admin = s.admin().await;
    s.department(&admin, "BGS", "办公室").await;
    let wang = s.user(&admin, "wangfang", "BGS", &["clerk"], "internal").await;
    let zhao = s.user(&admin, "zhaomin", "BGS", &["staff"], "internal").await;
    let doc = s.create_incoming(&wang, "来回修改", "internal", "甲丁\n己").await;
    let id = doc["id"].as_str().unwrap();
    let r = s.revise(&zhao, id, doc["head_revision"].as_str().unwrap(), "甲乙\n戊丁\n己").await;
    let second = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let r = s.revise(&wang, id, &second, "甲丁\n己").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let d = s.req(Method::GET, &format!("/api/v1/documents/{id}/traces.docx"), &wang).send().await.unwrap();
    let bytes = d.bytes().await.unwrap().to_vec();
    let word = read_tracked_changes(&document_xml(&bytes));
    assert_eq!((word.accepted.as_str(), word.rejected.as_str()), ("甲丁\n己", "甲丁\n己"));
    let dir = tempfile::tempdir().unwrap();
    let fodt = String::from_utf8(convert_with_libreoffice(dir.path(), &bytes, "fodt")).unwrap();
    let changes = libreoffice_changes(&fodt);
    assert!(!changes.is_empty(), "LibreOffice read no tracked change");
    for (kind, creators) in &changes {
        assert_eq!((kind.as_str(), creators.as_slice()), ("deletion", ["WANGFANG".to_owned(), "ZHAOMIN".to_owned()].as_slice()), "every mark keeps both reviewers: {changes:?}");
    }
}
