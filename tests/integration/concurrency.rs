use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::*;

/// Several clients post revisions on the same base at once, round after round: exactly one
/// wins each round, the others get 409, and the history has no gap and no lost revision.
#[tokio::test]
async fn racing_revisions_never_lose_an_update() {
    let s = Arc::new(Server::start().await);
    let admin = s.admin().await;
    s.department(&admin, "BGS", "办公室").await;
    let mut tokens = vec![];
    for i in 0..4 {
        tokens.push(s.user(&admin, &format!("writer{i}"), "BGS", &["staff"], "internal").await);
    }
    let doc = s.create_incoming(&tokens[0], "并发修改", "internal", "第0稿").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let mut head = doc["head_revision"].as_str().unwrap().to_owned();
    let rounds = 30;
    let mut expected_chain = vec![head.clone()];
    for round in 0..rounds {
        let clients = if round % 2 == 0 { 2 } else { 4 };
        let mut tasks = vec![];
        for (c, token) in tokens.iter().take(clients).enumerate() {
            let (s, token, id, head) = (s.clone(), token.clone(), id.clone(), head.clone());
            tasks.push(tokio::spawn(async move {
                let r = s.revise(&token, &id, &head, &format!("第{round}轮 客户端{c}")).await;
                let status = r.status();
                let body: Value = r.json().await.unwrap();
                (status, body)
            }));
        }
        let mut winners = vec![];
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                StatusCode::CREATED => winners.push(body["id"].as_str().unwrap().to_owned()),
                StatusCode::CONFLICT => assert_eq!(body["status"], 409),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one 201");
        head = winners.pop().unwrap();
        expected_chain.push(head.clone());
    }
    let list: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}/revisions?limit=500"), &tokens[0]).send().await.unwrap().json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    let ids: Vec<String> = items.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, expected_chain);
    for pair in items.windows(2) {
        assert_eq!(pair[1]["parent"], pair[0]["id"]);
    }
    let doc: Value = s.req(Method::GET, &format!("/api/v1/documents/{id}"), &tokens[0]).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["head_revision"], head.as_str());
    assert_eq!(doc["revision_count"], rounds + 1);
    let (ok, out) = s.verify();
    assert!(ok, "{out}");
    assert!(!out.contains("not referenced"), "losers' manifests are cleaned up: {out}");
}
