//! Search over HTTP: recall on a generated Chinese corpus, permissions inside the query,
//! freshness, rebuilding, and bad queries.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

/// Common characters of official documents: enough repetition that 1- and 2-character
/// substrings occur in many documents, enough variety that 3- and 4-character ones are rare.
const POOL: &str = "关于做好年度预算编制工作的通知各部门单位为贯彻落实有关要求切实加强财政资金管理现将事项如下严格执行制度规定按照程序办理及时报送材料负责人会议研究决定同意项目审核责任确保安全规范高效运行市区县政府办公室人民检查监督使用情况报告意见建议计划总结第一二三四五六七八九十季度月日期间";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn chinese(rng: &mut Rng, pool: &[char], len: usize) -> String {
    (0..len).map(|i| if i > 0 && rng.below(23) == 0 { '，' } else { pool[rng.below(pool.len())] }).collect()
}

async fn search(s: &Server, token: &str, query: &[(&str, &str)]) -> reqwest::Response {
    let url = reqwest::Url::parse_with_params(&s.url("/api/v1/search"), query).unwrap();
    s.client.request(Method::GET, url).bearer_auth(token).send().await.unwrap()
}

async fn search_ok(s: &Server, token: &str, query: &[(&str, &str)]) -> Value {
    let r = search(s, token, query).await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{query:?}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Waits until `q` finds `expected` documents (the follower indexes within a second).
async fn await_total(s: &Server, token: &str, q: &str, expected: u64, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let r = search(s, token, &[("q", q)]).await;
        if r.status() == StatusCode::OK {
            let v: Value = r.json().await.unwrap();
            if v["total"].as_u64() == Some(expected) {
                return started.elapsed();
            }
        }
        assert!(started.elapsed() < within, "{q:?} did not reach {expected} hits within {within:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Every matching document id, page by page.
async fn all_ids(s: &Server, token: &str, q: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for offset in (0..).step_by(100) {
        let v = search_ok(s, token, &[("q", q), ("limit", "100"), ("offset", &offset.to_string())]).await;
        let page = ids(&v);
        if page.is_empty() {
            break;
        }
        out.extend(page);
    }
    out
}

fn ids(v: &Value) -> BTreeSet<String> {
    v["hits"].as_array().unwrap().iter().map(|h| h["document"].as_str().unwrap().to_owned()).collect()
}

/// 2,000 generated documents; hundreds of 1- to 4-character substrings sampled from them (and
/// some longer ones):
/// each search finds exactly the documents that contain the substring.
#[tokio::test]
async fn every_substring_finds_exactly_the_documents_that_contain_it() {
    let s = Server::start().await;
    let (_, clerk) = s.office_clerk("internal").await;
    let pool: Vec<char> = POOL.chars().collect();
    let mut rng = Rng(0x5EED_1234);
    let mut corpus: Vec<(String, String)> = Vec::new(); // (id, searchable text)
    let client = reqwest::Client::new();
    let mut pending = futures::stream::FuturesUnordered::new();
    let mut docs = Vec::new();
    for n in 0..2000 {
        let (title_len, body_len) = (8 + rng.below(10), 150 + rng.below(250));
        let title = chinese(&mut rng, &pool, title_len);
        let body = chinese(&mut rng, &pool, body_len);
        docs.push((title, body, n));
    }
    // Eight at a time, so registering takes seconds, not minutes.
    use futures::StreamExt;
    let mut created = Vec::new();
    for (title, body, _) in &docs {
        let req = client.post(s.url("/api/v1/documents")).bearer_auth(&clerk).json(&json!({
            "kind": "incoming", "title": title, "classification": "internal",
            "fields": {"来文单位": "市财政局", "来文日期": "2026-11-01"}, "body": {"text": body}
        }));
        pending.push(async move { req.send().await.unwrap().json::<Value>().await.unwrap() });
        if pending.len() >= 8 {
            created.push(pending.next().await.unwrap());
        }
    }
    while let Some(v) = pending.next().await {
        created.push(v);
    }
    for v in &created {
        let id = v["id"].as_str().unwrap_or_else(|| panic!("create failed: {v}")).to_owned();
        let title = v["title"].as_str().unwrap().to_owned();
        let body = docs.iter().find(|d| d.0 == title).map(|d| d.1.clone()).unwrap();
        corpus.push((id, format!("{title}\n{body}\n市财政局\n2026-11-01")));
    }
    await_total(&s, &clerk, "市财政局", 2000, Duration::from_secs(60)).await;

    let mut queries = BTreeSet::new();
    // 300 of one to four characters; then 60 of five to eight, whose phrases are matched on only
    // some of their bigrams (`covering_bigrams`) and must find exactly the same documents. Half
    // of those have one character changed, so that they are in fewer documents than the rest of
    // them (usually none): a phrase that failed to check some character would find too many.
    while queries.len() < 360 {
        let (_, text) = &corpus[rng.below(corpus.len())];
        let chars: Vec<char> = text.chars().collect();
        let len = if queries.len() < 300 { 1 + rng.below(4) } else { 5 + rng.below(4) };
        let at = rng.below(chars.len().saturating_sub(len).max(1));
        let mut candidate: Vec<char> = chars[at..(at + len).min(chars.len())].to_vec();
        if len > 4 && rng.below(2) == 0 {
            let changed = rng.below(len);
            candidate[changed] = pool[rng.below(pool.len())];
        }
        if candidate.len() == len && candidate.iter().all(|c| pool.contains(c)) {
            queries.insert(candidate.into_iter().collect::<String>());
        }
    }
    let mut checked_sets = 0;
    for q in &queries {
        let expected: BTreeSet<String> = corpus.iter().filter(|(_, t)| t.contains(q.as_str())).map(|(id, _)| id.clone()).collect();
        let v = search_ok(&s, &clerk, &[("q", q), ("limit", "100")]).await;
        assert_eq!(v["total"].as_u64().unwrap() as usize, expected.len(), "total for {q:?}");
        if expected.len() <= 100 {
            assert_eq!(ids(&v), expected, "hits for {q:?}");
            checked_sets += 1;
        }
    }
    assert!(checked_sets >= 100, "only {checked_sets} queries had small enough result sets to compare whole");
}

/// Two departments, four clearances: totals, facets, hits and snippets show only what the
/// caller may read; classified text and sensitive fields are not in the index at all.
#[tokio::test]
async fn permissions_are_part_of_the_query() {
    let s = Server::start().await;
    let admin = s.admin().await;
    const LEVELS: [&str; 4] = ["public", "internal", "confidential", "secret"];
    for d in ["BGS", "CWB"] {
        s.department(&admin, d, d).await;
        let writer = s.user(&admin, &format!("{}-writer", d.to_lowercase()), d, &["clerk"], "secret").await;
        for level in LEVELS {
            // Each level's body carries characters no other text has, to look for in the files.
            let marker = match level {
                "public" => "瑜琛",
                "internal" => "璐瑾",
                "confidential" => "琦珂",
                _ => "玥瑶",
            };
            let body = format!("共同词汇 正文{d}{level}独有 {marker}");
            s.create_incoming(&writer, &format!("共同词汇 {d} {level}"), level, &body).await;
        }
        // A customer file whose ID-card number is sensitive.
        let r = s
            .req(Method::POST, "/api/v1/documents", &writer)
            .json(&json!({"kind": "customer-file", "title": format!("共同词汇 客户 {d}"), "classification": "internal",
                "fields": {"客户编号": format!("KH{d}0001"), "姓名": "张三", "身份证号": format!("11010519491231002{}", if d == "BGS" { "X" } else { "9" }), "电话": "13800138000"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    }
    let root = s.admin().await;
    // The administrator reads every department at every level: 2 × 4 documents and 2 files.
    await_total(&s, &root, "共同词汇", 10, Duration::from_secs(5)).await;
    // Each hit's snippet is cut from its own body (the bodies of an answer's hits are read
    // together), a classified document's from its title alone.
    let v = search_ok(&s, &root, &[("q", "共同词汇")]).await;
    for hit in v["hits"].as_array().unwrap() {
        let (title, snippet) = (hit["title"].as_str().unwrap(), hit["snippet"].as_str().unwrap());
        let [_, d, level] = title.split(' ').collect::<Vec<_>>()[..] else { panic!("{hit}") };
        if let Some(rank) = LEVELS.iter().position(|l| *l == level) {
            let shown = rank < 2;
            assert_eq!((snippet.contains(&format!("正文{d}{level}独有")), snippet.matches("正文").count()), (shown, usize::from(shown)), "{hit}");
        }
    }

    for d in ["BGS", "CWB"] {
        for (rank, level) in LEVELS.iter().enumerate() {
            let reader = s.user(&admin, &format!("{}-{level}", d.to_lowercase()), d, &["staff"], level).await;
            let v = search_ok(&s, &reader, &[("q", "共同词汇")]).await;
            // Their department's documents up to their clearance, plus the customer file when
            // they may read internal documents.
            let expected = (rank + 1) + usize::from(rank >= 1);
            assert_eq!(v["total"].as_u64().unwrap() as usize, expected, "{d}/{level}: {v}");
            assert_eq!(v["facets"]["department"], json!({d: expected}), "{d}/{level}");
            let other = if d == "BGS" { "CWB" } else { "BGS" };
            let text = v.to_string();
            assert!(!text.contains(&format!("正文{other}")) && !text.contains(&format!(" {other} ")), "{d}/{level} sees {other}: {text}");
            for hidden in &LEVELS[rank + 1..] {
                assert!(!text.contains(&format!("{d} {hidden}")), "{d}/{level} sees {hidden}: {text}");
            }
            // Text that only a hidden document holds finds nothing, not even a count.
            let v = search_ok(&s, &reader, &[("q", &format!("正文{other}public独有"))]).await;
            assert_eq!((v["total"].as_u64(), v["facets"]["department"].clone()), (Some(0), json!({})));
            // Filters narrow within the reach, never beyond it.
            let v = search_ok(&s, &reader, &[("q", "共同词汇"), ("department", other)]).await;
            assert_eq!(v["total"], 0);
        }
    }
    // A cleared reader finds a classified document by its body and a customer file by a
    // sensitive field, through the sealed index; never another department's.
    let bgs_secret = s.login("bgs-secret", PASSWORD).await;
    assert_eq!(search_ok(&s, &bgs_secret, &[("q", "正文BGSpublic独有")]).await["total"], 1);
    assert_eq!(search_ok(&s, &bgs_secret, &[("q", "正文BGSsecret独有")]).await["total"], 1);
    assert_eq!(search_ok(&s, &bgs_secret, &[("q", "title:\"BGS secret\"")]).await["total"], 1);
    assert_eq!(search_ok(&s, &bgs_secret, &[("q", "110105194912310029")]).await["total"], 0);
    assert_eq!(search_ok(&s, &bgs_secret, &[("q", "11010519491231002X")]).await["total"], 1);
    assert_eq!(search_ok(&s, &bgs_secret, &[("q", "张三")]).await["total"], 1);
    assert_eq!(search_ok(&s, &bgs_secret, &[("q", "khbgs0001")]).await["total"], 1, "a field the kind does not mark sensitive is searchable");
    let bgs_public = s.login("bgs-public", PASSWORD).await;
    assert_eq!(search_ok(&s, &bgs_public, &[("q", "张三")]).await["total"], 0, "the customer file is internal");
    // Sensitive and classified text never reaches the plain index: not one term, not one stored
    // value (the text of an internal document does, which shows the check can see).
    let content = index_content(&s.data_dir.join("index"));
    let in_index = |needle: &str| content.iter().any(|t| t.contains(needle));
    assert!(in_index("璐瑾"), "the check must be able to see indexed text");
    for secret in ["11010519491231002x", "110105194912310029", "张三", "13800138000", "琦珂", "玥瑶"] {
        assert!(!in_index(secret), "{secret} is in the index files");
    }
}

/// A write answered 2xx is searchable within a second; a revision replaces the old text.
#[tokio::test]
async fn writes_are_searchable_within_a_second_and_bad_queries_are_400() {
    let s = Server::start().await;
    let (admin, clerk) = s.office_clerk("internal").await;
    let doc = s.create_incoming(&clerk, "新鲜度测试", "internal", "第一版正文：苹果 apples 2026年预算").await;
    let first = await_total(&s, &clerk, "苹果", 1, Duration::from_secs(1)).await;
    let r = s.revise(&clerk, doc["id"].as_str().unwrap(), doc["head_revision"].as_str().unwrap(), "第二版正文：香蕉 bananas").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let second = await_total(&s, &clerk, "香蕉", 1, Duration::from_secs(1)).await;
    assert_eq!(search_ok(&s, &clerk, &[("q", "苹果")]).await["total"], 0);
    println!("freshness: create {first:?}, revision {second:?}");

    // The query language.
    for (q, n) in [("banana", 1), ("BANANAS", 1), ("香蕉 banana", 1), ("香蕉 -bananas", 0), ("香蕉 OR 苹果", 1), ("苹果 OR 橘子", 0), ("\"第二版 正文\"", 0), ("第二版正文", 1), ("title:新鲜度", 1), ("body:新鲜度", 0), ("NOT 苹果", 1)] {
        assert_eq!(search_ok(&s, &clerk, &[("q", q)]).await["total"], n, "{q}");
    }
    let v = search_ok(&s, &clerk, &[("q", "香蕉")]).await;
    let hit = &v["hits"][0];
    assert_eq!(hit["document"], doc["id"]);
    assert!(hit["snippet"].as_str().unwrap().contains("<mark>香蕉</mark>"), "{hit}");
    assert_eq!(v["facets"]["kind"], json!({"incoming": 1}));
    assert_eq!(v["facets"]["year"].as_object().unwrap().len(), 1);

    // Deleting takes it out.
    let r = s.req(Method::DELETE, &format!("/api/v1/documents/{}", doc["id"].as_str().unwrap()), &admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    await_total(&s, &clerk, "香蕉", 0, Duration::from_secs(1)).await;

    let operators = "AND OR NOT ".repeat(1000);
    for (q, what) in [("\"未闭合", "quotation"), (operators.as_str(), "longer"), ("colour:red", "unknown field"), ("预算 OR", "OR"), ("title:(", "title:")] {
        let p = expect_problem(search(&s, &clerk, &[("q", q)]).await, StatusCode::BAD_REQUEST).await;
        assert!(p["detail"].as_str().unwrap().contains(what), "{q:.30}: {p}");
    }
    expect_problem(search(&s, &clerk, &[]).await, StatusCode::BAD_REQUEST).await;
    expect_problem(search(&s, &clerk, &[("q", "x"), ("sort", "date")]).await, StatusCode::BAD_REQUEST).await;
    let p = expect_problem(search(&s, &clerk, &[("q", "x"), ("year", "二〇二六")]).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["field"], "year");
}

/// Text attachments (plain text and Word documents) are searched; other files are not read.
#[tokio::test]
async fn attachment_text_is_searchable() {
    use reqwest::multipart::{Form, Part};
    let s = Server::start().await;
    let (_, clerk) = s.office_clerk("internal").await;
    let meta = serde_json::to_string(&incoming("附件检索", "internal", "正文没有那些词")).unwrap();
    let form = Form::new()
        .part("meta", Part::text(meta).mime_str("application/json").unwrap())
        .part("attachment", Part::bytes("纯文本附件里的蓝莓 blueberries".as_bytes().to_vec()).file_name("说明.txt").mime_str("text/plain").unwrap())
        .part("attachment", Part::bytes(word_document("Word 附件里的樱桃 &amp; cherries")).file_name("报告.docx").mime_str("application/vnd.openxmlformats-officedocument.wordprocessingml.document").unwrap())
        .part("attachment", Part::bytes("图片里的芒果".as_bytes().to_vec()).file_name("scan.png").mime_str("image/png").unwrap());
    let r = s.req(Method::POST, "/api/v1/documents", &clerk).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    await_total(&s, &clerk, "蓝莓", 1, Duration::from_secs(2)).await;
    for (q, n) in [("attachments:蓝莓", 1), ("blueberry", 1), ("樱桃", 1), ("cherry", 1), ("\"& cherries\"", 1), ("body:樱桃", 0), ("芒果", 0)] {
        assert_eq!(search_ok(&s, &clerk, &[("q", q)]).await["total"], n, "{q}");
    }
}

/// Deleting (or breaking) the index: the service starts, says `degraded` while it rebuilds,
/// and then answers exactly as before; `henji reindex` does the same offline.
#[tokio::test]
async fn a_lost_index_is_rebuilt_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[], &[]).await;
    let (_, clerk) = s.office_clerk("internal").await;
    let pool: Vec<char> = POOL.chars().collect();
    let mut rng = Rng(77);
    for n in 0..300 {
        let body = chinese(&mut rng, &pool, 200);
        s.create_incoming(&clerk, &format!("重建测试 {n}"), "internal", &body).await;
    }
    await_total(&s, &clerk, "重建测试", 300, Duration::from_secs(10)).await;
    let queries = ["预算", "年度", "工作 通知", "title:重建", "财政 OR 会议", "一二", "规定 -制度"];
    // What each query finds: its total, facets and every matching document (scores depend on
    // index statistics that a rebuild resets, so the order of equal scores may differ).
    let mut before = vec![];
    for q in queries {
        let v = search_ok(&s, &clerk, &[("q", q)]).await;
        before.push((v["total"].clone(), v["facets"].clone(), all_ids(&s, &clerk, q).await));
    }
    assert!(s.terminate().success());

    // Lost.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let s = Server::start_in(dir.path(), &[], &[]).await;
    let health: Value = s.client.get(s.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert!(health["status"] == "degraded" || health["status"] == "ok", "{health}");
    let clerk = s.login("clerk", PASSWORD).await;
    await_total(&s, &clerk, "重建测试", 300, Duration::from_secs(30)).await;
    let health: Value = s.client.get(s.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    for (q, was) in queries.iter().zip(&before) {
        let now = search_ok(&s, &clerk, &[("q", q)]).await;
        assert_eq!((now["total"].clone(), now["facets"].clone(), all_ids(&s, &clerk, q).await), *was, "{q}");
    }
    drop(s);

    // Broken: garbage where the index's metadata was.
    std::fs::write(dir.path().join("index/meta.json"), b"{ not json").unwrap();
    let s = Server::start_in(dir.path(), &[], &[]).await;
    let clerk = s.login("clerk", PASSWORD).await;
    await_total(&s, &clerk, "重建测试", 300, Duration::from_secs(30)).await;
    drop(s);

    // Offline, from the command line.
    let out = std::process::Command::new(henji_bin()).arg("reindex").arg("--data-dir").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("indexed 300 documents"));
    let s = Server::start_in(dir.path(), &[], &[]).await;
    let clerk = s.login("clerk", PASSWORD).await;
    for (q, was) in queries.iter().zip(&before) {
        assert_eq!(all_ids(&s, &clerk, q).await, was.2, "{q}");
    }
    // And over HTTP, for administrators only.
    let r = s.req(Method::POST, "/api/v1/admin/reindex", &clerk).send().await.unwrap();
    expect_problem(r, StatusCode::FORBIDDEN).await;
    let admin = s.admin().await;
    let r = s.req(Method::POST, "/api/v1/admin/reindex", &admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    await_total(&s, &clerk, "重建测试", 300, Duration::from_secs(30)).await;
}

/// Every term of every indexed field and every stored document of the index in `dir`, read
/// with tantivy directly (the server keeps running; readers need no lock).
pub fn index_content(dir: &std::path::Path) -> Vec<String> {
    let index = tantivy::Index::open_in_dir(dir).unwrap();
    let schema = index.schema();
    let searcher = index.reader().unwrap().searcher();
    let mut out = Vec::new();
    for (ordinal, segment) in searcher.segment_readers().iter().enumerate() {
        for (field, entry) in schema.fields() {
            if !entry.is_indexed() {
                continue;
            }
            let inverted = segment.inverted_index(field).unwrap();
            let mut terms = inverted.terms().stream().unwrap();
            while terms.advance() {
                out.push(String::from_utf8_lossy(terms.key()).into_owned());
            }
        }
        for doc in 0..segment.max_doc() {
            let stored: tantivy::TantivyDocument = searcher.doc(tantivy::DocAddress::new(ordinal as u32, doc)).unwrap();
            out.push(tantivy::Document::to_json(&stored, &schema));
        }
    }
    out
}

/// A rebuild never leaves search dark while there is an index: after `POST /admin/reindex`
/// searches go on answering from the old index while `/healthz` says `"index":"rebuilding"`,
/// and the new one takes over whole. Only with no index at all (lost) does search answer 503
/// until the rebuild is done, the rest of the service working meanwhile.
#[tokio::test]
async fn search_answers_from_the_old_index_while_a_new_one_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[], &[]).await;
    let (admin, clerk) = s.office_clerk("internal").await;
    const DOCS: u64 = 1200;
    let pool: Vec<char> = POOL.chars().collect();
    let bodies: Vec<String> = {
        let mut rng = Rng(5);
        (0..DOCS).map(|_| chinese(&mut rng, &pool, 400)).collect()
    };
    let tasks: Vec<_> = bodies
        .chunks((DOCS / 8) as usize)
        .enumerate()
        .map(|(t, chunk)| {
            let (client, url, clerk, chunk) = (s.client.clone(), s.url("/api/v1/documents"), clerk.clone(), chunk.to_vec());
            tokio::spawn(async move {
                for (i, body) in chunk.iter().enumerate() {
                    let r = client.post(&url).bearer_auth(&clerk).json(&incoming(&format!("巡查记录 {t}-{i}"), "internal", body)).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::CREATED);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    await_total(&s, &clerk, "巡查记录", DOCS, Duration::from_secs(60)).await;

    let health = |s: &Server| {
        let url = s.url("/healthz");
        let client = s.client.clone();
        async move { client.get(url).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let r = s.req(Method::POST, "/api/v1/admin/reindex", &admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (mut answered_while_rebuilding, started) = (0, Instant::now());
    loop {
        let h = health(&s).await;
        if h["index"] != "rebuilding" {
            assert_eq!(h["status"], "ok", "{h}");
            break;
        }
        assert_eq!(h["status"], "degraded", "{h}");
        let v = search_ok(&s, &clerk, &[("q", "巡查记录"), ("limit", "1")]).await;
        assert_eq!(v["total"], DOCS, "the old index answers whole while the new one is built");
        answered_while_rebuilding += 1;
        assert!(started.elapsed() < Duration::from_secs(120), "the rebuild did not end");
    }
    assert!(answered_while_rebuilding > 0, "the rebuild ended before it could be seen; more documents are needed");
    assert_eq!(search_ok(&s, &clerk, &[("q", "巡查记录"), ("limit", "1")]).await["total"], DOCS);
    assert!(!dir.path().join("index.next").exists() && !dir.path().join("index.old").exists());
    eprintln!("{answered_while_rebuilding} searches answered during the rebuild beside");
    assert!(s.terminate().success());

    // No index at all: search alone answers 503 until it is rebuilt.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let s = Server::start_in(dir.path(), &[], &[]).await;
    let mut dark = 0;
    loop {
        let h = health(&s).await;
        if h["index"] != "rebuilding" {
            break;
        }
        let r = search(&s, &clerk, &[("q", "巡查记录")]).await;
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            let problem = expect_problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
            assert!(problem["detail"].as_str().unwrap().contains("rebuilt"), "{problem}");
            // Everything else works meanwhile.
            assert_eq!(s.req(Method::GET, "/api/v1/documents?limit=1", &clerk).send().await.unwrap().status(), StatusCode::OK);
            dark += 1;
        }
    }
    assert!(dark > 0, "the rebuild from nothing ended before it could be seen");
    await_total(&s, &clerk, "巡查记录", DOCS, Duration::from_secs(60)).await;
}
