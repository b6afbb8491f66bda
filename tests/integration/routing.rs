//! The official-document flow through HTTP: both template flows with real users and roles,
//! returns, a withdraw, a forward, an administrator jump, parallel and any steps, refusals,
//! concurrency, the trail and inbox after every action, opinions, visibility and live events.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

/// An organisation: the general office (BGS) registers and distributes, the leadership (LD)
/// instructs and signs, finance (CWB) and HR (RSB) handle and draft.
struct Org {
    s: Server,
    admin: String,
    clerk: String,
    bgs_head: String,
    gm: String,
    vp1: String,
    vp2: String,
    cwb_head: String,
    cwb_staff: String,
    cwb_clerk: String,
    rsb_head: String,
}

async fn org() -> Org {
    let s = Server::start().await;
    let admin = s.admin().await;
    for (code, name) in [("BGS", "办公室"), ("LD", "公司领导"), ("CWB", "财务部"), ("RSB", "人事部")] {
        s.department(&admin, code, name).await;
    }
    Org {
        clerk: s.user(&admin, "clerk", "BGS", &["clerk"], "secret").await,
        bgs_head: s.user(&admin, "bgs-head", "BGS", &["leader"], "secret").await,
        gm: s.user(&admin, "gm", "LD", &["leader"], "secret").await,
        vp1: s.user(&admin, "vp1", "LD", &["leader"], "secret").await,
        vp2: s.user(&admin, "vp2", "LD", &["leader"], "internal").await,
        cwb_head: s.user(&admin, "cwb-head", "CWB", &["leader"], "secret").await,
        cwb_staff: s.user(&admin, "cwb-staff", "CWB", &["staff"], "secret").await,
        cwb_clerk: s.user(&admin, "cwb-clerk", "CWB", &["clerk"], "secret").await,
        rsb_head: s.user(&admin, "rsb-head", "RSB", &["leader"], "secret").await,
        admin,
        s,
    }
}

impl Org {
    async fn act(&self, token: &str, id: &str, body: Value) -> reqwest::Response {
        self.s.req(Method::POST, &format!("/api/v1/documents/{id}/actions"), token).json(&body).send().await.unwrap()
    }

    async fn ok(&self, token: &str, id: &str, body: Value) -> Value {
        let r = self.act(token, id, body.clone()).await;
        assert_eq!(r.status(), StatusCode::OK, "{body}: {}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    async fn get(&self, token: &str, path: &str) -> Value {
        let r = self.s.req(Method::GET, path, token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}: {}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    async fn state(&self, id: &str) -> String {
        self.get(&self.admin, &format!("/api/v1/documents/{id}")).await["state"].as_str().unwrap().to_owned()
    }

    /// The trail as (step, assignee, state, action) rows, in the trail's order.
    async fn trail(&self, id: &str) -> Vec<(u64, String, String, String)> {
        let t = self.get(&self.admin, &format!("/api/v1/documents/{id}/trail")).await;
        t["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["step"].as_u64().unwrap(), e["assignee"].as_str().unwrap().to_owned(), e["state"].as_str().unwrap().to_owned(), e["action"].as_str().unwrap_or("").to_owned()))
            .collect()
    }

    async fn pending(&self, id: &str) -> Vec<(u64, String)> {
        self.trail(id).await.into_iter().filter(|r| r.2 == "pending").map(|r| (r.0, r.1)).collect()
    }

    async fn inbox_ids(&self, token: &str, query: &str) -> Vec<String> {
        let v = self.get(token, &format!("/api/v1/inbox{query}")).await;
        v["items"].as_array().unwrap().iter().map(|i| i["document"].as_str().unwrap().to_owned()).collect()
    }

    async fn route(&self, token: &str, id: &str, body: Value) -> reqwest::Response {
        self.s.req(Method::POST, &format!("/api/v1/documents/{id}/route"), token).json(&body).send().await.unwrap()
    }

    async fn outgoing(&self, token: &str, title: &str, body: &str) -> Value {
        let doc = json!({"kind": "outgoing", "title": title, "classification": "internal", "fields": {"主送机关": ["各部门"]}, "body": {"text": body}});
        let r = self.s.req(Method::POST, "/api/v1/documents", token).json(&doc).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    async fn search_ids(&self, token: &str, q: &str) -> Vec<String> {
        let url = reqwest::Url::parse_with_params(&self.s.url("/api/v1/search"), [("q", q)]).unwrap();
        let r = self.s.client.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["hits"].as_array().unwrap().iter().map(|h| h["document"].as_str().unwrap().to_owned()).collect()
    }

    /// Waits (up to 5 s) until searching `q` as `token` finds `id` (or, with `found` false,
    /// checks once the index has caught up with a marker document that it does not).
    async fn search_finds(&self, token: &str, q: &str, id: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.search_ids(token, q).await.contains(&id.to_owned()) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn rows(list: &[(u64, &str, &str, &str)]) -> Vec<(u64, String, String, String)> {
    list.iter().map(|(s, a, st, ac)| (*s, a.to_string(), st.to_string(), ac.to_string())).collect()
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\x04\0\x09\xfb\x03\xfd\xe3U\xf2\x9c\0\0\0\0IEND\xaeB`\x82";

/// 收文: clerk registers → the office proposes (拟办, any) → the general manager instructs,
/// forwards to a deputy, who returns it → proposed again → instructed → the clerk forwards to
/// two departments (承办, parallel) → they handle it → the clerk distributes and finishes.
#[tokio::test]
async fn incoming_template_flow_end_to_end() {
    let o = org().await;
    let doc = o.s.create_incoming(&o.clerk, "关于2026年预算编制的通知", "internal", "请各部门于十二月十日前报送预算草案。").await;
    let id = doc["id"].as_str().unwrap().to_owned();

    // Nobody outside the office can see it yet.
    let r = o.s.req(Method::GET, &format!("/api/v1/documents/{id}"), &o.gm).send().await.unwrap();
    expect_problem(r, StatusCode::NOT_FOUND).await;

    // An open step without assignees is a 422 naming it; with them the route starts.
    let r = o.route(&o.clerk, &id, json!({"template": "incoming", "assignees": {"无此步": ["gm"]}})).await;
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "assignees.无此步");
    let r = o.route(&o.clerk, &id, json!({"template": "incoming", "assignees": {"批示": ["nobody"]}})).await;
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "steps.1.assignees");
    let r = o.route(&o.clerk, &id, json!({"template": "incoming", "assignees": {"批示": ["gm"]}})).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let route: Value = r.json().await.unwrap();
    assert_eq!(route["status"], "active");
    assert_eq!(route["steps"][0]["assignees"], json!(["bgs-head"]));
    assert_eq!(route["steps"][4]["assignees"], json!(["clerk"]));
    assert_eq!(o.state(&id).await, "in_review");
    let r = o.route(&o.clerk, &id, json!({"template": "incoming"})).await;
    expect_problem(r, StatusCode::CONFLICT).await;
    assert_eq!(o.inbox_ids(&o.bgs_head, "").await, vec![id.clone()]);
    assert_eq!(
        o.trail(&id).await,
        rows(&[(1, "bgs-head", "pending", ""), (2, "gm", "waiting", ""), (3, "clerk", "waiting", ""), (5, "clerk", "waiting", "")])
    );

    // 拟办: the office head edits the text (a revision) and writes an opinion, then approves.
    let head = o.get(&o.bgs_head, &format!("/api/v1/documents/{id}")).await["head_revision"].as_str().unwrap().to_owned();
    let r = o.s.revise(&o.bgs_head, &id, &head, "请各部门于十二月五日前报送预算草案及说明。").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = o.s.req(Method::POST, &format!("/api/v1/documents/{id}/opinions"), &o.bgs_head).json(&json!({"text": "拟请总经理阅示，青松木"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let opinion: Value = r.json().await.unwrap();
    assert_eq!((opinion["author"].as_str(), opinion["department"].as_str()), (Some("bgs-head"), Some("BGS")));
    o.ok(&o.bgs_head, &id, json!({"action": "approve", "comment": "拟请总经理阅示"})).await;
    assert!(o.inbox_ids(&o.bgs_head, "").await.is_empty());
    assert_eq!(o.inbox_ids(&o.bgs_head, "?done=true").await, vec![id.clone()]);
    assert_eq!(o.inbox_ids(&o.gm, "").await, vec![id.clone()]);

    // The reviewer's edit shows in the traces in the reviewer's own colour.
    let me = o.get(&o.bgs_head, "/api/v1/me").await;
    let traces = o.get(&o.gm, &format!("/api/v1/documents/{id}/traces")).await;
    let author = traces["authors"].as_array().unwrap().iter().find(|a| a["user"] == "bgs-head").expect("bgs-head in the legend").clone();
    assert_eq!(author["color"], me["color"]);
    assert!(traces["spans"].as_array().unwrap().iter().any(|s| s["op"] == "insert" && s["author"] == "bgs-head" && s["text"].as_str().unwrap().contains("五")));

    // 批示: the general manager, from another department, reads it now, signs an ink opinion
    // and forwards the task to a deputy (移交代理).
    o.get(&o.gm, &format!("/api/v1/documents/{id}")).await;
    let form = Form::new().part("ink", Part::bytes(PNG.to_vec()).file_name("sig.png").mime_str("image/png").unwrap()).text("text", "同意");
    let r = o.s.req(Method::POST, &format!("/api/v1/documents/{id}/opinions"), &o.gm).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let ink: Value = r.json().await.unwrap();
    assert_eq!(ink["ink_sha256"].as_str().unwrap(), sha256_hex(PNG));
    let back = o.s.req(Method::GET, &format!("/api/v1/blobs/{}", ink["ink_sha256"].as_str().unwrap()), &o.gm).send().await.unwrap();
    assert_eq!(back.headers()["content-type"], "image/png");
    assert_eq!(back.bytes().await.unwrap().as_ref(), PNG, "the handwriting image is kept exactly as uploaded");
    o.ok(&o.gm, &id, json!({"action": "forward", "to": ["vp1"], "comment": "请王副总阅处"})).await;
    let inbox = o.get(&o.vp1, "/api/v1/inbox").await;
    assert_eq!(inbox["items"][0]["document"], id.as_str());
    assert_eq!(inbox["items"][0]["on_behalf_of"], "gm");
    assert_eq!(inbox["items"][0]["urgency"], "urgent");
    let trail = o.get(&o.admin, &format!("/api/v1/documents/{id}/trail")).await;
    let vp1_row = trail["items"].as_array().unwrap().iter().find(|e| e["assignee"] == "vp1").unwrap().clone();
    assert_eq!((vp1_row["on_behalf_of"].as_str(), vp1_row["state"].as_str()), (Some("gm"), Some("pending")));

    // The deputy returns it (退回) to the previous step; the office head approves again, and
    // the general manager gets a fresh task.
    o.ok(&o.vp1, &id, json!({"action": "return", "comment": "请办公室补充背景材料"})).await;
    assert_eq!(o.pending(&id).await, vec![(1, "bgs-head".to_owned())]);
    assert_eq!(o.state(&id).await, "in_review");
    o.ok(&o.bgs_head, &id, json!({"action": "approve"})).await;
    assert_eq!(o.pending(&id).await, vec![(2, "gm".to_owned())]);
    o.ok(&o.gm, &id, json!({"action": "approve", "comment": "同意，请财务部、人事部办理"})).await;

    // 转办: the clerk names who handles it (承办 is open in the template).
    o.ok(&o.clerk, &id, json!({"action": "approve", "to": ["cwb-head", "rsb-head"]})).await;
    assert_eq!(o.pending(&id).await, vec![(4, "cwb-head".to_owned()), (4, "rsb-head".to_owned())]);

    // 承办 is parallel: one approval leaves the step open.
    o.ok(&o.cwb_head, &id, json!({"action": "approve", "comment": "已办"})).await;
    assert_eq!(o.pending(&id).await, vec![(4, "rsb-head".to_owned())]);
    o.ok(&o.rsb_head, &id, json!({"action": "approve"})).await;
    assert_eq!(o.pending(&id).await, vec![(5, "clerk".to_owned())]);

    // 分发归档: a department that had no task cannot read it until it is distributed; then it
    // reads but cannot change it.
    let r = o.s.req(Method::GET, &format!("/api/v1/documents/{id}"), &o.cwb_staff).send().await.unwrap();
    expect_problem(r, StatusCode::NOT_FOUND).await;
    let r = o.act(&o.clerk, &id, json!({"action": "distribute", "to": ["NOPE"]})).await;
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "to.0");
    o.ok(&o.clerk, &id, json!({"action": "distribute", "to": ["CWB", "RSB"]})).await;
    // A department it was distributed to does not pass it on.
    expect_problem(o.act(&o.cwb_clerk, &id, json!({"action": "distribute", "to": ["LD"]})).await, StatusCode::FORBIDDEN).await;
    let seen = o.get(&o.cwb_staff, &format!("/api/v1/documents/{id}")).await;
    let r = o.s.revise(&o.cwb_staff, &id, seen["head_revision"].as_str().unwrap(), "改").await;
    expect_problem(r, StatusCode::FORBIDDEN).await;
    let r = o.s.req(Method::POST, &format!("/api/v1/documents/{id}/opinions"), &o.cwb_staff).json(&json!({"text": "x"})).send().await.unwrap();
    expect_problem(r, StatusCode::FORBIDDEN).await;
    let listed = o.get(&o.cwb_staff, "/api/v1/documents").await;
    assert!(listed["items"].as_array().unwrap().iter().any(|d| d["id"] == id.as_str()), "distributed documents are listed");
    let done = o.ok(&o.clerk, &id, json!({"action": "approve", "comment": "已分发，归档"})).await;
    assert_eq!(done["state"], "approved");

    // The whole trail: every pass through every step, in the order it happened.
    let expected = rows(&[
        (1, "bgs-head", "done", "approve"),
        (2, "gm", "done", "forward"),
        (2, "vp1", "done", "return"),
        (1, "bgs-head", "done", "approve"),
        (2, "gm", "done", "approve"),
        (3, "clerk", "done", "approve"),
        (4, "cwb-head", "done", "approve"),
        (4, "rsb-head", "done", "approve"),
        (5, "clerk", "done", "approve"),
    ]);
    assert_eq!(o.trail(&id).await, expected);
    let trail = o.get(&o.admin, &format!("/api/v1/documents/{id}/trail")).await;
    let first = &trail["items"][0];
    assert_eq!((first["comment"].as_str(), first["step_name"].as_str()), (Some("拟请总经理阅示"), Some("拟办")));
    assert!(first["received_at"].is_string() && first["handled_at"].is_string());
    let opinions = o.get(&o.cwb_staff, &format!("/api/v1/documents/{id}/opinions")).await;
    assert_eq!(opinions["items"].as_array().unwrap().len(), 2);
    assert_eq!(opinions["items"][1]["display_name"], "GM");

    // Handled or not, everyone who held a task still reads it; the opinion is searchable text
    // for them, and for no one else.
    o.get(&o.vp1, &format!("/api/v1/documents/{id}")).await;
    assert!(o.search_finds(&o.gm, "青松木", &id).await, "an opinion is found by its words");
    assert!(o.search_finds(&o.vp1, "预算草案", &id).await, "a handled task keeps the document findable");
    assert!(!o.search_ids(&o.vp2, "青松木").await.contains(&id), "a leader with no task does not find it");
    assert!(o.search_finds(&o.cwb_staff, "opinions:青松木", &id).await, "distributed departments find it");

    // Finished: no more actions.
    let r = o.act(&o.clerk, &id, json!({"action": "approve"})).await;
    expect_problem(r, StatusCode::CONFLICT).await;
    assert!(o.s.verify().0, "henji verify passes after the flow");
}

/// 发文: drafter → department head (核稿) → leader in charge (审核), who returns it to the
/// drafter → resubmitted → … → general manager signs it off (签发) → the department's clerk
/// issues it.
#[tokio::test]
async fn outgoing_template_flow_with_return_to_the_drafter_and_sign_off() {
    let o = org().await;
    let doc = o.outgoing(&o.cwb_staff, "关于调整差旅费标准的通知", "差旅费住宿标准调整为每晚五百元。").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(doc["state"], "draft");
    // A sign-off step is for leaders only, checked when routing.
    let r = o.route(&o.cwb_staff, &id, json!({"template": "outgoing", "assignees": {"审核": ["vp1"], "签发": ["clerk"]}})).await;
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "steps.2.assignees");
    let r = o.route(&o.cwb_staff, &id, json!({"template": "incoming"})).await;
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "template");
    let r = o.route(&o.cwb_staff, &id, json!({"template": "outgoing", "assignees": {"审核": ["vp1"], "签发": ["gm"]}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(o.pending(&id).await, vec![(1, "cwb-head".to_owned())]);
    o.ok(&o.cwb_head, &id, json!({"action": "approve"})).await;

    // Back to the drafter (step 0): the document is `returned` and in the drafter's inbox.
    let back = o.ok(&o.vp1, &id, json!({"action": "return", "step": 0, "comment": "标准需与人事部会签"})).await;
    assert_eq!(back["state"], "returned");
    assert_eq!(o.inbox_ids(&o.cwb_staff, "").await, vec![id.clone()]);
    let r = o.act(&o.cwb_head, &id, json!({"action": "approve"})).await;
    expect_problem(r, StatusCode::CONFLICT).await;
    let head = o.get(&o.cwb_staff, &format!("/api/v1/documents/{id}")).await["head_revision"].as_str().unwrap().to_owned();
    assert_eq!(o.s.revise(&o.cwb_staff, &id, &head, "经与人事部会签，差旅费住宿标准调整为每晚四百五十元。").await.status(), StatusCode::CREATED);
    let again = o.ok(&o.cwb_staff, &id, json!({"action": "approve", "comment": "已修改"})).await;
    assert_eq!(again["state"], "in_review");
    o.ok(&o.cwb_head, &id, json!({"action": "approve"})).await;
    o.ok(&o.vp1, &id, json!({"action": "approve"})).await;

    // 签发: approve is not enough, a non-leader may not sign, the general manager does.
    let r = o.act(&o.gm, &id, json!({"action": "approve"})).await;
    expect_problem(r, StatusCode::CONFLICT).await;
    let r = o.act(&o.cwb_staff, &id, json!({"action": "sign"})).await;
    expect_problem(r, StatusCode::FORBIDDEN).await;
    o.ok(&o.gm, &id, json!({"action": "sign", "comment": "同意印发"})).await;
    assert_eq!(o.pending(&id).await, vec![(4, "cwb-clerk".to_owned())]);
    let issued = o.ok(&o.cwb_clerk, &id, json!({"action": "approve"})).await;
    assert_eq!(issued["state"], "issued");
    let route = o.get(&o.cwb_staff, &format!("/api/v1/documents/{id}/route")).await;
    assert_eq!((route["status"].as_str(), route["signed_by"].as_str()), (Some("completed"), Some("gm")));
    let expected = rows(&[
        (1, "cwb-head", "done", "approve"),
        (2, "vp1", "done", "return"),
        (0, "cwb-staff", "done", "approve"),
        (1, "cwb-head", "done", "approve"),
        (2, "vp1", "done", "approve"),
        (3, "gm", "done", "sign"),
        (4, "cwb-clerk", "done", "approve"),
    ]);
    assert_eq!(o.trail(&id).await, expected);

    // Signing an incoming document is refused; signing an approved outgoing one issues it.
    let other = o.outgoing(&o.cwb_staff, "无签发步骤的发文", "正文").await;
    let oid = other["id"].as_str().unwrap();
    assert_eq!(o.route(&o.cwb_staff, oid, json!({"steps": [{"mode": "any", "assignees": ["cwb-head"]}]})).await.status(), StatusCode::CREATED);
    assert_eq!(o.ok(&o.cwb_head, oid, json!({"action": "approve"})).await["state"], "approved");
    let r = o.act(&o.cwb_staff, oid, json!({"action": "sign"})).await;
    expect_problem(r, StatusCode::FORBIDDEN).await;
    assert_eq!(o.ok(&o.cwb_head, oid, json!({"action": "sign"})).await["state"], "issued");
    let inc = o.s.create_incoming(&o.clerk, "收文不签发", "internal", "正文").await;
    let iid = inc["id"].as_str().unwrap();
    assert_eq!(o.route(&o.clerk, iid, json!({"steps": [{"mode": "any", "assignees": ["bgs-head"]}]})).await.status(), StatusCode::CREATED);
    let r = o.act(&o.bgs_head, iid, json!({"action": "sign"})).await;
    expect_problem(r, StatusCode::CONFLICT).await;
}

/// An `any` step closes at the first approval; an administrator jumps; a non-administrator
/// may not; the initiator withdraws and then nothing moves. Refusals change nothing.
#[tokio::test]
async fn any_step_jump_withdraw_and_refusals_leave_state_unchanged() {
    let o = org().await;
    let doc = o.s.create_incoming(&o.clerk, "会议通知", "internal", "定于下周一召开会议。").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let steps = json!({"steps": [
        {"name": "阅", "mode": "any", "assignees": ["vp1", "vp2"]},
        {"name": "批", "mode": "sequential", "assignees": ["gm"], "due_at": "2020-01-01T00:00:00Z"},
        {"name": "办", "mode": "parallel", "assignees": ["cwb-head", "rsb-head"]}
    ]});
    assert_eq!(o.route(&o.clerk, &id, steps).await.status(), StatusCode::CREATED);

    let before = o.trail(&id).await;
    // Acting without a pending task; a jump by a non-administrator; a withdraw by anyone but
    // the initiator; a bad jump target: refused, nothing changed.
    expect_problem(o.act(&o.clerk, &id, json!({"action": "approve"})).await, StatusCode::CONFLICT).await;
    // Not reached yet, the general manager may not even learn the document exists.
    expect_problem(o.act(&o.gm, &id, json!({"action": "approve"})).await, StatusCode::NOT_FOUND).await;
    expect_problem(o.act(&o.vp1, &id, json!({"action": "jump", "step": 3})).await, StatusCode::FORBIDDEN).await;
    expect_problem(o.act(&o.vp1, &id, json!({"action": "withdraw"})).await, StatusCode::FORBIDDEN).await;
    assert_eq!(expect_problem(o.act(&o.admin, &id, json!({"action": "jump", "step": 9})).await, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "step");
    assert_eq!(expect_problem(o.act(&o.vp1, &id, json!({"action": "forward", "to": ["ghost"]})).await, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "to.0");
    let r = o.act(&o.vp1, &id, json!({"action": "fly"})).await;
    assert!(r.status().is_client_error());
    assert_eq!(o.trail(&id).await, before);
    assert_eq!(o.state(&id).await, "in_review");

    // Any: the first approval closes the step, the other task is skipped.
    o.ok(&o.vp2, &id, json!({"action": "approve"})).await;
    expect_problem(o.act(&o.vp1, &id, json!({"action": "approve"})).await, StatusCode::CONFLICT).await;
    assert_eq!(o.pending(&id).await, vec![(2, "gm".to_owned())]);
    // The step is overdue (催办): flagged, and filterable.
    let inbox = o.get(&o.gm, "/api/v1/inbox?overdue=true").await;
    assert_eq!(inbox["items"][0]["document"], id.as_str());
    assert_eq!(inbox["items"][0]["overdue"], true);

    // 跳转: the administrator moves it past the general manager to step 3.
    let jumped = o.ok(&o.admin, &id, json!({"action": "jump", "step": 3, "comment": "总经理出差，直接办理"})).await;
    assert_eq!(jumped["state"], "in_review");
    assert_eq!(o.pending(&id).await, vec![(3, "cwb-head".to_owned()), (3, "rsb-head".to_owned())]);
    assert!(o.inbox_ids(&o.gm, "").await.is_empty());
    let t = o.trail(&id).await;
    assert!(t.contains(&(1, "vp1".into(), "skipped".into(), String::new())));
    assert!(t.contains(&(2, "admin".into(), "done".into(), "jump".into())));
    assert!(t.contains(&(2, "gm".into(), "skipped".into(), String::new())));

    // 撤消 by the initiator: every open task closes; then nothing acts on it.
    let w = o.ok(&o.clerk, &id, json!({"action": "withdraw", "comment": "会议取消"})).await;
    assert_eq!(w["state"], "withdrawn");
    assert!(o.inbox_ids(&o.cwb_head, "").await.is_empty());
    let before = o.trail(&id).await;
    expect_problem(o.act(&o.cwb_head, &id, json!({"action": "approve"})).await, StatusCode::CONFLICT).await;
    expect_problem(o.act(&o.admin, &id, json!({"action": "jump", "step": 1})).await, StatusCode::CONFLICT).await;
    expect_problem(o.act(&o.clerk, &id, json!({"action": "withdraw"})).await, StatusCode::CONFLICT).await;
    let head = o.get(&o.clerk, &format!("/api/v1/documents/{id}")).await["head_revision"].as_str().unwrap().to_owned();
    expect_problem(o.s.revise(&o.clerk, &id, &head, "改").await, StatusCode::CONFLICT).await;
    let r = o.s.req(Method::POST, &format!("/api/v1/documents/{id}/opinions"), &o.clerk).json(&json!({"text": "x"})).send().await.unwrap();
    expect_problem(r, StatusCode::CONFLICT).await;
    assert_eq!(o.trail(&id).await, before);
    assert_eq!(o.state(&id).await, "withdrawn");

    // Bad bodies are problems, never 5xx.
    let r = o.s.req(Method::POST, &format!("/api/v1/documents/{id}/actions"), &o.clerk).body("{").header("content-type", "application/json").send().await.unwrap();
    expect_problem(r, StatusCode::BAD_REQUEST).await;
    let r = o.route(&o.clerk, &id, json!({"steps": []})).await;
    assert!(r.status().is_client_error());
    let r = o.s.req(Method::POST, &format!("/api/v1/documents/{id}/opinions"), &o.clerk).multipart(Form::new().part("ink", Part::bytes(b"GIF89a".to_vec()).mime_str("image/gif").unwrap())).send().await.unwrap();
    assert!(r.status().is_client_error());
}

/// Many simultaneous approvals: a parallel step takes them all and moves on exactly once; an
/// any step takes exactly one and refuses the rest; one task acted on twice at once moves once.
#[tokio::test]
async fn concurrent_approvals_on_parallel_and_any_steps() {
    let o = org().await;
    let mut tokens = vec![];
    for i in 0..12 {
        tokens.push((format!("p{i}"), o.s.user(&o.admin, &format!("p{i}"), "CWB", &["staff"], "internal").await));
    }
    let names: Vec<String> = tokens.iter().map(|(n, _)| n.clone()).collect();
    for mode in ["parallel", "any"] {
        let doc = o.s.create_incoming(&o.clerk, &format!("并发 {mode}"), "internal", "正文").await;
        let id = doc["id"].as_str().unwrap().to_owned();
        let steps = json!({"steps": [{"mode": mode, "assignees": names}, {"mode": "sequential", "assignees": ["gm"]}]});
        assert_eq!(o.route(&o.clerk, &id, steps).await.status(), StatusCode::CREATED);
        let results = futures::future::join_all(tokens.iter().map(|(_, t)| o.act(t, &id, json!({"action": "approve"})))).await;
        let ok = results.iter().filter(|r| r.status() == StatusCode::OK).count();
        let conflicts = results.iter().filter(|r| r.status() == StatusCode::CONFLICT).count();
        let (want_ok, want_conflict) = if mode == "parallel" { (12, 0) } else { (1, 11) };
        assert_eq!((ok, conflicts), (want_ok, want_conflict), "{mode}");
        let t = o.trail(&id).await;
        assert_eq!(t.iter().filter(|r| r.0 == 1 && r.2 == "done").count(), want_ok, "{mode}");
        assert_eq!(t.iter().filter(|r| r.0 == 1 && r.2 == "skipped").count(), want_conflict, "{mode}");
        assert_eq!(o.pending(&id).await, vec![(2, "gm".to_owned())], "{mode}: the next step is entered exactly once");

        // The same task, twice at once: one moves it, the other is a 409.
        let (a, b) = tokio::join!(o.act(&o.gm, &id, json!({"action": "approve"})), o.act(&o.gm, &id, json!({"action": "approve"})));
        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{mode}");
        assert_eq!(o.state(&id).await, "approved");
    }
}

/// A task arriving in someone's inbox reaches their open event stream within a second.
#[tokio::test]
async fn live_events_announce_new_tasks_within_a_second() {
    let o = org().await;
    let doc = o.s.create_incoming(&o.clerk, "特急：防汛通知", "internal", "立即部署防汛工作。").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    let r = o.s.req(Method::GET, "/api/v1/events", &o.bgs_head).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut stream = r.bytes_stream();
    let mut seen = String::new();
    // Subscribed once `ready` arrives; only then is the task made.
    while !seen.contains("event: ready") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("ready within 5 s").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // Someone else's task is not announced to this stream.
    let other = o.s.create_incoming(&o.clerk, "别人的", "internal", "x").await;
    assert_eq!(o.route(&o.clerk, other["id"].as_str().unwrap(), json!({"steps": [{"mode": "any", "assignees": ["gm"]}]})).await.status(), StatusCode::CREATED);
    let started = Instant::now();
    assert_eq!(o.route(&o.clerk, &id, json!({"template": "incoming", "assignees": {"批示": ["gm"]}})).await.status(), StatusCode::CREATED);
    seen.clear();
    while !seen.contains("event: task") {
        let left = Duration::from_secs(1).saturating_sub(started.elapsed());
        let chunk = tokio::time::timeout(left, stream.next()).await.expect("the task is announced within 1 s").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(&id), "{seen}");
    assert!(!seen.contains(other["id"].as_str().unwrap()), "{seen}");
}

/// On a classified document, opinions and comments are sealed at rest like the rest of it.
#[tokio::test]
async fn opinions_and_comments_of_classified_documents_are_sealed_at_rest() {
    let mut o = org().await;
    let doc = o.s.create_incoming(&o.clerk, "机密件", "secret", "正文").await;
    let id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(o.route(&o.clerk, &id, json!({"steps": [{"mode": "any", "assignees": ["gm"]}, {"mode": "any", "assignees": ["vp1"]}]})).await.status(), StatusCode::CREATED);
    // vp2's clearance (internal) is below the document: not assignable.
    let r = o.act(&o.gm, &id, json!({"action": "forward", "to": ["vp2"]})).await;
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "to.0");
    let marker_opinion = "OPINIONMARKER7731";
    let marker_comment = "COMMENTMARKER5512";
    let r = o.s.req(Method::POST, &format!("/api/v1/documents/{id}/opinions"), &o.gm).json(&json!({"text": marker_opinion})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let ink = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><text>INKMARKER9001</text></svg>".to_vec();
    let form = Form::new().part("ink", Part::bytes(ink.clone()).mime_str("image/svg+xml").unwrap());
    let r = o.s.req(Method::POST, &format!("/api/v1/documents/{id}/opinions"), &o.gm).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let ink_view: Value = r.json().await.unwrap();
    o.ok(&o.gm, &id, json!({"action": "approve", "comment": marker_comment})).await;
    // Cleared readers get them back in plain; the handwriting image comes back byte for byte.
    let ops = o.get(&o.vp1, &format!("/api/v1/documents/{id}/opinions")).await;
    assert_eq!(ops["items"][0]["text"], marker_opinion);
    let back = o.s.req(Method::GET, &format!("/api/v1/blobs/{}", ink_view["ink_sha256"].as_str().unwrap()), &o.vp1).send().await.unwrap();
    assert_eq!(back.bytes().await.unwrap().as_ref(), ink.as_slice());
    let trail = o.get(&o.vp1, &format!("/api/v1/documents/{id}/trail")).await;
    assert_eq!(trail["items"][0]["comment"], marker_comment);
    assert!(o.search_finds(&o.vp1, marker_opinion, &id).await, "cleared assignees find a sealed opinion");
    assert!(o.search_ids(&o.vp2, marker_opinion).await.is_empty());
    // Nothing on disk holds the plaintext: not the object store, the catalog and its WAL (the
    // server is killed so the WAL stays as it was), nor the indexes.
    o.s.kill9();
    for path in files_under(&o.s.data_dir) {
        let bytes = std::fs::read(&path).unwrap_or_default();
        for marker in [marker_opinion, marker_comment, "INKMARKER9001"] {
            assert!(!bytes.windows(marker.len()).any(|w| w == marker.as_bytes()), "{marker} in plain in {}", path.display());
        }
    }
}
