//! The web desk in a real browser (headless Chromium through WebDriver), against the real
//! server: a clerk registers and routes a paper with its scans, a leader sees it arrive live,
//! edits it, signs by hand and approves, an archivist finds, archives and downloads it, and
//! people of another department or a lower clearance find none of it. Screenshots of every
//! main page go to `target/screenshots/`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use crate::webdriver::{Browser, chromium_available, screenshot_dir};

const BODY: &str = "各部门：\n为做好年度预算编制工作，现将有关事项通知如下。\n一、高度重视预算编制工作。\n二、按时报送预算草案。";

/// A one-page PDF with a line of text, made by hand.
fn tiny_pdf(text: &str) -> Vec<u8> {
    let stream = format!("BT /F1 24 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    pdf_of(&objects)
}

async fn shot(b: &Browser, name: &str) {
    b.execute("window.scrollTo(0, 0);", json!([])).await;
    b.screenshot(&screenshot_dir().join(format!("{name}.png"))).await;
}

/// A screenshot with the element `css` scrolled into view.
async fn shot_of(b: &Browser, name: &str, css: &str) {
    b.execute("document.querySelector(arguments[0]).scrollIntoView();", json!([css])).await;
    b.screenshot(&screenshot_dir().join(format!("{name}.png"))).await;
}

async fn api_act(s: &Server, token: &str, doc: &str, body: Value) {
    let r = s.req(Method::POST, &format!("/api/v1/documents/{doc}/actions"), token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{body}: {}", r.text().await.unwrap());
}

#[tokio::test]
async fn a_day_at_the_desk_in_a_real_browser() {
    assert!(chromium_available(), "the desk's tests need Debian's chromium and chromium-driver (.ci/run installs them)");
    let s = Server::start().await;
    let admin = s.admin().await;
    s.department(&admin, "BGS", "办公室").await;
    s.department(&admin, "CWB", "财务部").await;
    let clerk_api = s.user(&admin, "wangfang", "BGS", &["clerk"], "confidential").await;
    let leader_api = s.user(&admin, "liqiang", "BGS", &["leader"], "secret").await;
    s.user(&admin, "chenjing", "BGS", &["archivist"], "confidential").await;
    s.user(&admin, "outsider", "CWB", &["staff", "leader"], "secret").await;
    s.user(&admin, "intern", "BGS", &["staff"], "public").await;
    let files = tempfile::tempdir().unwrap();
    // A scanned paper: a page of a 通知 at 300 dpi, read by OCR after the upload.
    let (scan, _) = crate::extraction::scan(files.path(), crate::extraction::KAI, crate::extraction::MEETING, "scan.png", &[]);
    let scan_path = files.path().join("来文扫描件.png");
    std::fs::write(&scan_path, &scan).unwrap();
    let pdf_path = files.path().join("附件一 预算表.pdf");
    std::fs::write(&pdf_path, tiny_pdf("Budget table 2026")).unwrap();

    // The leader keeps the inbox open; what arrives must show without a reload.
    let leader = Browser::start(1280, 900).await;
    leader.sign_in(&s.base, "liqiang", PASSWORD).await;
    leader.goto(&s.url("/inbox")).await;
    leader.find("#inbox-rows tr.empty").await;
    leader.execute("window.__sameInboxPage = true;", json!([])).await;

    // 1. The clerk registers an incoming paper from the form, with a scan and a PDF.
    let clerk = Browser::start(1280, 1000).await;
    clerk.sign_in(&s.base, "wangfang", PASSWORD).await;
    shot(&clerk, "desk").await;
    clerk.click("header.top a[href='/documents/new']").await;
    clerk.find("#register-form").await;
    clerk.type_into("input[name=title]", "关于做好年度预算编制工作的通知").await;
    clerk.type_into("input[name='f.来文单位']", "市财政局").await;
    clerk.execute("document.querySelector(\"input[name='f.来文日期']\").value = '2026-11-20';", json!([])).await;
    clerk.type_into("input[name='f.页数']", "3").await;
    clerk.type_into("textarea[name=body]", BODY).await;
    clerk.upload("#register-form input[type=file]", &scan_path).await;
    clerk.upload("#register-form input[type=file]", &pdf_path).await;
    assert_eq!(clerk.find_all("#upload-list li").await.len(), 2, "both files listed");
    assert_eq!(clerk.find_all("#upload-list li img").await.len(), 1, "the image shows a thumbnail before upload");
    // A required field left empty is named beside the field (the browser's own check aside).
    clerk.execute("const n = document.querySelector(\"input[name='f.页数']\"); n.type = 'text'; n.value = '三';", json!([])).await;
    clerk.click("#register-form button[type=submit]").await;
    clerk.wait_until("the 422 is shown beside 页数", "return document.querySelector(\"[data-error-for='fields.页数']\").textContent.length > 0", Duration::from_secs(10)).await;
    shot(&clerk, "register-error").await;
    clerk.execute("document.querySelector(\"input[name='f.页数']\").value = '3';", json!([])).await;
    clerk.click("#register-form button[type=submit]").await;
    clerk.wait_until("the upload finished", "return location.pathname.startsWith('/documents/0') || location.pathname.startsWith('/documents/01')", Duration::from_secs(20)).await;
    let doc = clerk.url().await.rsplit('/').next().unwrap().split(['?', '#']).next().unwrap().to_owned();
    assert_eq!(clerk.text("#doc-title").await, "关于做好年度预算编制工作的通知");
    assert_eq!(clerk.find_all("#attachments .attachments li").await.len(), 2);
    clerk.wait_until("both thumbnails load", "return [...document.querySelectorAll('#attachments img.thumb')].every(i => i.complete && i.naturalWidth > 0)", Duration::from_secs(10)).await;
    shot(&clerk, "document-registered").await;
    // The scan's text is read in the background; the page follows it without a reload.
    let initially = clerk.execute("window.__sameDocumentPage = true; return document.querySelector('.text-status').dataset.status", json!([])).await;
    println!("the scan's text on the first view of the page: {initially}");
    clerk.wait_until("the scan's text is read", "return document.querySelector('.text-status[data-status=done] a') !== null", Duration::from_secs(90)).await;
    assert_eq!(clerk.execute("return window.__sameDocumentPage === true", json!([])).await, json!(true), "no reload");
    let scan_sha = sha256_hex(&scan);
    let read = clerk.execute_async("const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => r.text()).then(done);", json!([format!("/files/{doc}/{scan_sha}/text")])).await;
    assert!(read.as_str().unwrap().contains("档案工作会议"), "{read}");
    shot_of(&clerk, "document-scan-read", "#attachments").await;
    // The upload progressed to its end (the bars are on the register page; the files are here).
    let stored = s.req(Method::GET, &format!("/api/v1/documents/{doc}"), &clerk_api).send().await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(sha256_hex(&scan), stored["attachments"][0]["sha256"].as_str().unwrap());

    // ... and starts the incoming route, naming the leader for the open 批示 step.
    clerk.execute(
        "const s = document.querySelector(\"select[name='assignee.incoming.2']\"); [...s.options].forEach(o => o.selected = o.value === 'liqiang');",
        json!([]),
    )
    .await;
    clerk.click("#route-form button[type=submit]").await;
    clerk.find("#steps li.current").await;
    shot(&clerk, "document-routed").await;

    // 2. The leader's open inbox shows it without a reload.
    leader.wait_for(&format!("#inbox-rows tr[data-document='{doc}']"), Duration::from_secs(10)).await;
    assert_eq!(leader.execute("return window.__sameInboxPage === true", json!([])).await, json!(true), "no reload");
    assert_eq!(leader.text("#todo-count").await, "1");
    shot(&leader, "inbox").await;
    leader.click(&format!("#inbox-rows tr[data-document='{doc}'] a")).await;
    leader.find("#revise-form").await;
    leader.execute("document.querySelector('details.edit').open = true;", json!([])).await;
    let edited = BODY.replace("高度重视", "切实重视").replace("按时报送预算草案。", "按时报送预算草案，逾期通报。");
    leader.type_into("#body-editor", &edited).await;
    leader.type_into("#revise-form input[name=note]", "领导修改").await;
    leader.click("#revise-form button[type=submit]").await;
    leader.find("p.ok").await;
    // Two reviewers, two colours, on the rendered page.
    let colors = leader
        .execute(
            "const c = cls => [...document.querySelectorAll('#paper ins.' + cls + ', #paper del.' + cls)].map(e => getComputedStyle(e).color);
             return { a0: c('a0'), a1: c('a1'), legend: [...document.querySelectorAll('#paper table.legend .swatch')].map(e => getComputedStyle(e).backgroundColor) };",
            json!([]),
        )
        .await;
    let (a0, a1) = (colors["a0"].as_array().unwrap(), colors["a1"].as_array().unwrap());
    assert!(!a0.is_empty() && !a1.is_empty(), "marks of both authors: {colors}");
    assert_ne!(a0[0], a1[0], "the clerk's and the leader's marks differ in colour: {colors}");
    assert_eq!(colors["legend"][0], a0[0], "the legend names the colour: {colors}");
    assert_eq!(colors["legend"][1], a1[0], "{colors}");
    let title = leader.execute("return document.querySelector('#paper ins.a1').getAttribute('title')", json!([])).await;
    assert!(title.as_str().unwrap().contains("LIQIANG"), "hover says who: {title}");
    shot(&leader, "document-traces").await;

    // A handwritten opinion on the pad: a pen stroke and a mouse stroke, then approve.
    leader.type_into("#opinion-form textarea[name=text]", "同意，请财务部办理").await;
    leader.draw("#ink-pad", "pen", &[vec![(-120, -20), (-80, 10), (-40, -15), (0, 12), (40, -10)]]).await;
    leader.draw("#ink-pad", "mouse", &[vec![(60, -30), (70, 20), (80, -25)]]).await;
    leader.click("#opinion-form button[type=submit]").await;
    leader.wait_for("#opinions img.ink", Duration::from_secs(10)).await;
    let ink = s.req(Method::GET, &format!("/api/v1/documents/{doc}/opinions"), &leader_api).send().await.unwrap().json::<Value>().await.unwrap();
    let ink_sha = ink["items"][0]["ink_sha256"].as_str().unwrap().to_owned();
    let png = s.req(Method::GET, &format!("/api/v1/blobs/{ink_sha}"), &leader_api).send().await.unwrap().bytes().await.unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 500, "the exact ink image is kept");
    leader.click("#actions button[value=approve]").await;
    leader.wait_for("#steps li.done", Duration::from_secs(10)).await;
    assert!(leader.text("#trail").await.contains("同意"), "the trail shows the step done");
    shot(&leader, "document-approved").await;

    // The rest of the flow by the API, to a finished document.
    api_act(&s, &leader_api, &doc, json!({"action": "approve"})).await;
    api_act(&s, &clerk_api, &doc, json!({"action": "approve", "to": ["liqiang"]})).await;
    api_act(&s, &leader_api, &doc, json!({"action": "approve", "comment": "已办理"})).await;
    api_act(&s, &clerk_api, &doc, json!({"action": "approve"})).await;

    // 3. The archivist finds it by a phrase of its body, filters by year, archives it and
    // downloads a package any BagIt validator accepts.
    let archivist = Browser::start(1280, 900).await;
    archivist.sign_in(&s.base, "chenjing", PASSWORD).await;
    let mut found = false;
    for _ in 0..50 {
        archivist.goto(&s.url("/search?q=逾期通报")).await;
        if archivist.find_all(".hit").await.len() == 1 {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(found, "the edited body is searchable");
    // The scan is searched too; the hit says where the words were found.
    archivist.goto(&s.url("/search?q=档案工作会议")).await;
    assert_eq!(archivist.find_all(".hit").await.len(), 1);
    assert!(archivist.text(".hit .found-in").await.contains("来文扫描件.png 第 1 页"));
    shot(&archivist, "search-scan").await;
    archivist.goto(&s.url("/search?q=逾期通报")).await;
    assert!(archivist.execute("return document.querySelector('.hit .snippet mark').textContent", json!([])).await.as_str().unwrap().contains("逾期通报"));
    archivist.click("#facets a[href*='year=']").await;
    archivist.find("#total").await;
    assert!(archivist.text("#total").await.contains("年度"), "the year filter is on");
    shot(&archivist, "search").await;
    archivist.click(".hit a.hit-title").await;
    archivist.execute("window.confirm = () => true;", json!([])).await;
    archivist.click("#archive button[type=submit]").await;
    archivist.wait_until("archived", "return document.getElementById('doc-state').textContent === '已归档'", Duration::from_secs(10)).await;
    archivist.goto(&s.url("/archive")).await;
    shot(&archivist, "archive").await;
    let href = archivist.execute("return document.querySelector(\"#records a[href$='/package']\").getAttribute('href')", json!([])).await.as_str().unwrap().to_owned();
    let archivist_token = s.login("chenjing", PASSWORD).await;
    let direct = tokio::time::timeout(Duration::from_secs(20), s.client.get(s.url(&href)).header("cookie", format!("henji_session={archivist_token}")).send()).await.expect("package answers").unwrap();
    let direct_status = direct.status();
    let direct_bytes = tokio::time::timeout(Duration::from_secs(20), direct.bytes()).await.expect("package ends").unwrap();
    assert_eq!(direct_status, StatusCode::OK, "{}", String::from_utf8_lossy(&direct_bytes));
    let zip_b64 = archivist
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.ok ? r.arrayBuffer() : Promise.reject(r.status))
               .then(b => { let s = ''; new Uint8Array(b).forEach(c => s += String.fromCharCode(c)); done(btoa(s)); })
               .catch(e => done('failed: ' + e));",
            json!([href]),
        )
        .await;
    use base64::Engine;
    assert!(!zip_b64.as_str().unwrap().starts_with("failed"), "package download {href}: {zip_b64}");
    let zip = base64::engine::general_purpose::STANDARD.decode(zip_b64.as_str().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("package.zip");
    std::fs::write(&zip_path, &zip).unwrap();
    let unzip = std::process::Command::new("python3").args(["-m", "zipfile", "-e"]).arg(&zip_path).arg(dir.path().join("bag")).status().unwrap();
    assert!(unzip.success());
    let bag = std::fs::read_dir(dir.path().join("bag")).unwrap().next().unwrap().unwrap().path();
    let validate = std::process::Command::new("python3").args(["-c", "import bagit,sys; b = bagit.Bag(sys.argv[1]); b.validate(); print('valid')"]).arg(&bag).output().unwrap();
    assert!(validate.status.success(), "bagit: {}", String::from_utf8_lossy(&validate.stderr));

    // 4. Another department, and a lower clearance: none of it, through any page.
    for (who, name) in [("outsider", "another department"), ("intern", "a lower clearance")] {
        let b = Browser::start(1280, 900).await;
        b.sign_in(&s.base, who, PASSWORD).await;
        let desk = b.execute("return document.body.innerText", json!([])).await;
        assert!(!desk.as_str().unwrap().contains("预算编制"), "{name}: the desk");
        for page in ["/inbox", "/inbox?done=true", "/archive", "/search?q=预算编制", "/search?q=逾期通报", "/search?q=档案工作会议"] {
            b.goto(&s.url(page)).await;
            let text = b.execute("return document.body.innerText", json!([])).await.as_str().unwrap().to_owned();
            assert!(!text.contains("预算编制工作的通知"), "{name}: {page} shows it");
        }
        b.goto(&s.url("/search?q=预算编制")).await;
        assert!(b.text("#total").await.contains("共 0 件"), "{name}: the count");
        for page in [format!("/documents/{doc}"), format!("/documents/{doc}/print"), format!("/files/{doc}/{}", sha256_hex(&scan)), format!("/files/{doc}/{}/text", sha256_hex(&scan))] {
            let status = b.execute_async("const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => done(r.status));", json!([page])).await;
            assert_eq!(status, json!(404), "{name}: {page}");
        }
        if who == "outsider" {
            shot(&b, "outsider-search").await;
        }
    }

    // 5. Hostile text renders as text; a form without its CSRF token is refused.
    let hostile = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">";
    let r = s.req(Method::POST, "/api/v1/documents", &clerk_api).json(&incoming(hostile, "internal", &format!("正文 {hostile} 预算"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let evil = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let r = s.req(Method::POST, &format!("/api/v1/documents/{evil}/opinions"), &clerk_api).json(&json!({"text": hostile})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    clerk.goto(&s.url("/")).await;
    for page in ["/".to_owned(), format!("/documents/{evil}"), format!("/documents/{evil}?view=clean"), format!("/documents/{evil}/print"), "/search?q=pwned".into(), "/search?q=预算".into()] {
        clerk.goto(&s.url(&page)).await;
        assert_eq!(clerk.execute("return window.__pwned === undefined", json!([])).await, json!(true), "{page} ran the hostile text");
    }
    clerk.goto(&s.url(&format!("/documents/{evil}"))).await;
    assert_eq!(clerk.text("#doc-title").await, hostile, "shown as text");
    shot(&clerk, "hostile").await;
    let refused = clerk
        .execute_async(
            "const done = arguments[arguments.length - 1]; const f = new FormData(); f.append('text', 'forged');
             fetch(arguments[0], { method: 'POST', body: f }).then(r => done(r.status)).catch(e => done('failed: ' + e));",
            json!([format!("/documents/{evil}/opinions")]),
        )
        .await;
    assert_eq!(refused, json!(403), "a form without the CSRF token");
    let forged = clerk
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0], { method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'action=withdraw&_csrf=0123456789abcdef0123456789abcdef' }).then(r => done(r.status)).catch(e => done('failed: ' + e));",
            json!([format!("/documents/{doc}/act")]),
        )
        .await;
    assert_eq!(forged, json!(403), "a wrong token");
    let opinions = s.req(Method::GET, &format!("/api/v1/documents/{evil}/opinions"), &clerk_api).send().await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(opinions["items"].as_array().unwrap().len(), 1, "nothing forged was stored");

    // The other main pages, for a person to look at.
    let root = Browser::start(1280, 900).await;
    root.sign_in(&s.base, "admin", ADMIN_PASSWORD).await;
    root.goto(&s.url("/admin")).await;
    root.find("#users").await;
    shot(&root, "admin").await;
    // The fair copy prints on A4 as GB/T 9704 lays it out: 28 characters a line.
    let paragraph: String = "为切实做好本年度财政预算编制工作进一步加强预算管理提高财政资金使用效益现将有关事项通知如下".chars().cycle().take(90).collect();
    let printable = s.create_incoming(&clerk_api, "关于印发清稿的通知", "internal", &paragraph).await;
    clerk.goto(&s.url(&format!("/documents/{}/print", printable["id"].as_str().unwrap()))).await;
    clerk.find("article.gw").await;
    shot(&clerk, "print").await;
    let pdf = clerk.print_pdf().await;
    let pdf_path = files.path().join("print.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let text = std::process::Command::new("pdftotext").arg(&pdf_path).arg("-").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let lines: Vec<usize> = text.lines().filter(|l| l.contains("财政") && l.trim().chars().count() > 10).map(|l| l.trim().chars().count()).collect();
    assert!(lines.len() >= 3, "the paragraph spans lines: {text}");
    assert_eq!(lines[1], 28, "a full line of 正文 holds 28 characters: {lines:?}\n{text}");
    assert!(text.contains("— 1 —"), "page numbers: {text}");
    assert_eq!(lines[0], 26, "the first line is indented two: {lines:?}");
    let tablet = Browser::start(820, 1180).await;
    tablet.sign_in(&s.base, "liqiang", PASSWORD).await;
    tablet.goto(&s.url(&format!("/documents/{doc}"))).await;
    tablet.find("#opinions").await;
    shot(&tablet, "document-tablet").await;
}
