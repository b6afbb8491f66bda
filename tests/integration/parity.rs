//! One read scope, three renderings: for every principal, the documents the list shows, the
//! documents search counts (total and facets) and finds, and the documents a direct read
//! returns are exactly the same set, and that set is what the read rule says.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

const LEVELS: [&str; 4] = ["public", "internal", "confidential", "secret"];
const DEPTS: [&str; 2] = ["BGS", "CWB"];
const STATES: [&str; 6] = ["draft", "routed", "distributed", "archived", "withdrawn", "deleted"];
/// In every title, so one search reaches every document.
const MARK: &str = "对照件";

struct Doc {
    id: String,
    department: &'static str,
    level: usize,
    state: &'static str,
}

fn other(dept: &str) -> &'static str {
    if dept == "BGS" { "CWB" } else { "BGS" }
}

/// Who reads what, as API.md states it: nothing deleted or above the clearance; then the own
/// department (every department for administrators), a route that reached the user, a
/// distribution to their department, or, for archivists, the archive.
struct Reader {
    name: String,
    token: String,
    department: &'static str,
    clearance: usize,
    admin: bool,
    archivist: bool,
}

impl Reader {
    fn may_read(&self, d: &Doc) -> bool {
        if d.state == "deleted" || d.level > self.clearance {
            return false;
        }
        self.admin
            || d.department == self.department
            || (d.state == "routed" && self.name == format!("lead-{}", other(d.department).to_lowercase()))
            || (d.state == "distributed" && self.department == other(d.department))
            || (d.state == "archived" && self.archivist)
    }
}

async fn act(s: &Server, token: &str, doc: &str, body: Value) {
    let r = s.req(Method::POST, &format!("/api/v1/documents/{doc}/actions"), token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{body}: {}", r.text().await.unwrap());
}

async fn route(s: &Server, token: &str, doc: &str, assignee: &str) {
    let r = s.req(Method::POST, &format!("/api/v1/documents/{doc}/route"), token).json(&json!({"steps": [{"mode": "sequential", "assignees": [assignee]}]})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
}

/// Every document the list shows to `token`, through all its pages.
async fn listed(s: &Server, token: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let r = s.req(Method::GET, &format!("/api/v1/documents?limit=7&cursor={cursor}"), token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let page: Value = r.json().await.unwrap();
        out.extend(page["items"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return out,
        }
    }
}

async fn searched(s: &Server, token: &str) -> Value {
    let url = reqwest::Url::parse_with_params(&s.url("/api/v1/search"), [("q", MARK), ("limit", "100")]).unwrap();
    let r = s.client.request(Method::GET, url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_list_search_and_a_direct_read_agree_for_every_principal() {
    let s = Server::start().await;
    let admin = s.admin().await;
    for d in DEPTS {
        s.department(&admin, d, d).await;
    }
    s.department(&admin, "DAS", "档案室").await;
    let mut clerks = BTreeMap::new();
    for d in DEPTS {
        clerks.insert(d, s.user(&admin, &format!("clerk-{}", d.to_lowercase()), d, &["clerk"], "secret").await);
        s.user(&admin, &format!("lead-{}", d.to_lowercase()), d, &["leader"], "secret").await;
    }

    // Two departments × four classifications × six states.
    let mut docs = Vec::new();
    for dept in DEPTS {
        let clerk = &clerks[dept];
        let own_clerk = format!("clerk-{}", dept.to_lowercase());
        for (level, class) in LEVELS.iter().enumerate() {
            for state in STATES {
                let body = if state == "draft" {
                    json!({"kind": "outgoing", "title": format!("{MARK} {dept} {class} {state}"), "classification": class, "fields": {"主送机关": ["各处室"]}, "body": {"text": "拟稿正文"}})
                } else {
                    incoming(&format!("{MARK} {dept} {class} {state}"), class, "来文正文")
                };
                let r = s.req(Method::POST, "/api/v1/documents", clerk).json(&body).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::CREATED, "{body}: {}", r.text().await.unwrap());
                let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
                match state {
                    "routed" => route(&s, clerk, &id, &format!("lead-{}", other(dept).to_lowercase())).await,
                    "distributed" => {
                        route(&s, clerk, &id, &own_clerk).await;
                        act(&s, clerk, &id, json!({"action": "distribute", "to": [other(dept)]})).await;
                    }
                    "archived" => {
                        let r = s.req(Method::POST, &format!("/api/v1/documents/{id}/archive"), clerk).json(&json!({"retention": "10y"})).send().await.unwrap();
                        assert_eq!(r.status(), StatusCode::CREATED);
                    }
                    "withdrawn" => {
                        route(&s, clerk, &id, &own_clerk).await;
                        act(&s, clerk, &id, json!({"action": "withdraw"})).await;
                    }
                    "deleted" => {
                        let r = s.req(Method::DELETE, &format!("/api/v1/documents/{id}"), &admin).send().await.unwrap();
                        assert_eq!(r.status(), StatusCode::NO_CONTENT);
                    }
                    _ => {}
                }
                docs.push(Doc { id, department: dept, level, state });
            }
        }
    }

    // The principals: staff of both departments at every clearance, the clerks and leaders
    // (whom routes and distributions reach), an archivist and an administrator.
    let mut readers = Vec::new();
    for dept in DEPTS {
        for (level, class) in LEVELS.iter().enumerate() {
            let name = format!("staff-{}-{class}", dept.to_lowercase());
            let token = s.user(&admin, &name, dept, &["staff"], class).await;
            readers.push(Reader { name, token, department: dept, clearance: level, admin: false, archivist: false });
        }
        for role in ["clerk", "lead"] {
            let name = format!("{role}-{}", dept.to_lowercase());
            let token = s.login(&name, PASSWORD).await;
            readers.push(Reader { name, token, department: dept, clearance: 3, admin: false, archivist: false });
        }
    }
    let token = s.user(&admin, "archivist", "DAS", &["archivist"], "confidential").await;
    readers.push(Reader { name: "archivist".into(), token, department: "DAS", clearance: 2, admin: false, archivist: true });
    let token = s.user(&admin, "admin2", "ADMIN", &["admin"], "confidential").await;
    readers.push(Reader { name: "admin2".into(), token, department: "ADMIN", clearance: 2, admin: true, archivist: false });
    readers.push(Reader { name: "admin".into(), token: admin.clone(), department: "ADMIN", clearance: 3, admin: true, archivist: false });

    // The index follows the catalog within a moment.
    let everything = docs.iter().filter(|d| d.state != "deleted").count() as u64;
    let started = Instant::now();
    while searched(&s, &admin).await["total"] != everything {
        assert!(started.elapsed() < Duration::from_secs(20), "the index did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for reader in &readers {
        let expected: BTreeSet<String> = docs.iter().filter(|d| reader.may_read(d)).map(|d| d.id.clone()).collect();
        let mut read = BTreeSet::new();
        for d in &docs {
            let r = s.req(Method::GET, &format!("/api/v1/documents/{}", d.id), &reader.token).send().await.unwrap();
            match r.status() {
                StatusCode::OK => {
                    read.insert(d.id.clone());
                }
                StatusCode::NOT_FOUND => {}
                other => panic!("{} reading {} {} {}: {other}", reader.name, d.department, LEVELS[d.level], d.state),
            }
        }
        assert_eq!(read, expected, "{}: direct reads against the rule", reader.name);
        assert_eq!(listed(&s, &reader.token).await, expected, "{}: the list against direct reads", reader.name);

        let answer = searched(&s, &reader.token).await;
        assert_eq!(answer["total"], expected.len(), "{}: search total", reader.name);
        let found: BTreeSet<String> = answer["hits"].as_array().unwrap().iter().map(|h| h["document"].as_str().unwrap().to_owned()).collect();
        assert_eq!(found, expected, "{}: search hits", reader.name);
        let mut by_department: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
        for d in docs.iter().filter(|d| expected.contains(&d.id)) {
            *by_department.entry(d.department).or_default() += 1;
            *by_kind.entry(if d.state == "draft" { "outgoing" } else { "incoming" }).or_default() += 1;
        }
        assert_eq!(answer["facets"]["department"], json!(by_department), "{}: department facets", reader.name);
        assert_eq!(answer["facets"]["kind"], json!(by_kind), "{}: kind facets", reader.name);
        let years: u64 = answer["facets"]["year"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(years, expected.len() as u64, "{}: year facets", reader.name);
    }
    // The matrix is not trivial: readers see different sets.
    let sizes: BTreeSet<usize> = readers.iter().map(|r| docs.iter().filter(|d| r.may_read(d)).count()).collect();
    assert!(sizes.len() >= 6, "{sizes:?}");
}
