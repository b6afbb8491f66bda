use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn sign_in_profile_and_sign_out() {
    let s = Server::start().await;
    // A wrong password and an unknown user get the same answer.
    for (u, p) in [("admin", "wrong-password"), ("nobody", "wrong-password")] {
        let r = s.client.post(s.url("/api/v1/sessions")).json(&json!({"username": u, "password": p})).send().await.unwrap();
        let v = expect_problem(r, StatusCode::UNAUTHORIZED).await;
        assert_eq!(v["detail"], "wrong username or password");
    }
    let admin = s.admin().await;
    let me: Value = s.req(Method::GET, "/api/v1/me", &admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["username"], "admin");
    assert_eq!(me["department"], "ADMIN");
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["clearance"], "secret");
    assert!(me["color"].as_str().unwrap().starts_with('#'));

    // Colour: palette only.
    let r = s.req(Method::PATCH, "/api/v1/me", &admin).json(&json!({"color": "#123456"})).send().await.unwrap();
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "color");
    let r = s.req(Method::PATCH, "/api/v1/me", &admin).json(&json!({"color": "#2E7D32", "display_name": "管理员"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!((me["color"].as_str(), me["display_name"].as_str()), (Some("#2E7D32"), Some("管理员")));

    // Password: needs the current one, and a wrong current one is 403.
    let r = s.req(Method::PATCH, "/api/v1/me", &admin).json(&json!({"password": "new-password-1"})).send().await.unwrap();
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "current_password");
    let r = s.req(Method::PATCH, "/api/v1/me", &admin).json(&json!({"password": "new-password-1", "current_password": "nope-nope"})).send().await.unwrap();
    expect_problem(r, StatusCode::FORBIDDEN).await;
    let r = s.req(Method::PATCH, "/api/v1/me", &admin).json(&json!({"password": "new-password-1", "current_password": ADMIN_PASSWORD})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let again = s.login("admin", "new-password-1").await;

    // Logout revokes exactly that token.
    let r = s.req(Method::DELETE, "/api/v1/sessions/current", &admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s.req(Method::GET, "/api/v1/me", &admin).send().await.unwrap();
    expect_problem(r, StatusCode::UNAUTHORIZED).await;
    assert_eq!(s.req(Method::GET, "/api/v1/me", &again).send().await.unwrap().status(), StatusCode::OK);

    // No token, or a malformed header.
    expect_problem(s.client.get(s.url("/api/v1/me")).send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
    let r = s.client.get(s.url("/api/v1/me")).header("authorization", "Basic YWRtaW4=").send().await.unwrap();
    expect_problem(r, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn administrators_manage_users_and_departments() {
    let s = Server::start().await;
    let admin = s.admin().await;
    s.department(&admin, "BGS", "办公室").await;
    let r = s.req(Method::POST, "/api/v1/departments", &admin).json(&json!({"code": "BGS", "name": "again"})).send().await.unwrap();
    expect_problem(r, StatusCode::CONFLICT).await;
    let r = s.req(Method::POST, "/api/v1/departments", &admin).json(&json!({"code": "bad code", "name": "x"})).send().await.unwrap();
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "code");

    let clerk = s.user(&admin, "wangfang", "BGS", &["clerk"], "internal").await;
    let r = s
        .req(Method::POST, "/api/v1/users", &admin)
        .json(&json!({"username": "wangfang", "display_name": "x", "password": PASSWORD, "department": "BGS", "roles": ["staff"], "clearance": "public"}))
        .send()
        .await
        .unwrap();
    expect_problem(r, StatusCode::CONFLICT).await;
    let r = s
        .req(Method::POST, "/api/v1/users", &admin)
        .json(&json!({"username": "x1", "display_name": "x", "password": PASSWORD, "department": "BGS", "roles": ["emperor"], "clearance": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "roles.0");
    let r = s
        .req(Method::POST, "/api/v1/users", &admin)
        .json(&json!({"username": "x2", "display_name": "x", "password": PASSWORD, "department": "NOPE", "roles": ["staff"], "clearance": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await["field"], "department");

    // Non-administrators may list, not create.
    let r = s.req(Method::POST, "/api/v1/departments", &clerk).json(&json!({"code": "CWB", "name": "财务部"})).send().await.unwrap();
    expect_problem(r, StatusCode::FORBIDDEN).await;
    let r = s
        .req(Method::POST, "/api/v1/users", &clerk)
        .json(&json!({"username": "x3", "display_name": "x", "password": PASSWORD, "department": "BGS", "roles": ["admin"], "clearance": "secret"}))
        .send()
        .await
        .unwrap();
    expect_problem(r, StatusCode::FORBIDDEN).await;
    let users: Value = s.req(Method::GET, "/api/v1/users", &clerk).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = users["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "wangfang"]);
    assert!(users["items"][0].get("password_hash").is_none());
    let depts: Value = s.req(Method::GET, "/api/v1/departments?limit=1", &clerk).send().await.unwrap().json().await.unwrap();
    assert_eq!(depts["items"].as_array().unwrap().len(), 1);
    assert_eq!(depts["next_cursor"], "ADMIN");
    let rest: Value = s.req(Method::GET, "/api/v1/departments?limit=1&cursor=ADMIN", &clerk).send().await.unwrap().json().await.unwrap();
    assert_eq!(rest["items"][0]["code"], "BGS");
    assert_eq!(rest["next_cursor"], Value::Null);

    // Two users created one after the other get different colours.
    let a: Value = s.req(Method::GET, "/api/v1/users", &admin).send().await.unwrap().json().await.unwrap();
    assert_ne!(a["items"][0]["color"], a["items"][1]["color"]);
}

#[tokio::test]
async fn command_line_adds_departments_and_users() {
    let mut s = Server::start().await;
    let dir = s.data_dir.clone();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(henji_bin()).args(args).arg("--data-dir").arg(&dir).env("HENJI_USER_PASSWORD", PASSWORD).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let (ok, out) = run(&["department", "add", "--code", "GCB", "--name", "工程部"]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["user", "add", "--username", "wujun", "--display-name", "吴军", "--department", "GCB", "--role", "staff", "--role", "leader", "--clearance", "confidential"]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["user", "add", "--username", "wujun", "--display-name", "吴军", "--department", "GCB", "--role", "staff"]);
    assert!(!ok && out.contains("taken"), "{out}");
    let token = s.login("wujun", PASSWORD).await;
    let me: Value = s.req(Method::GET, "/api/v1/me", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["roles"], json!(["staff", "leader"]));
    assert_eq!(me["department"], "GCB");
    // SIGTERM finishes cleanly.
    assert!(s.terminate().success());
}

async fn sign_in(s: &Server, username: &str, password: &str) -> reqwest::Response {
    s.client.post(s.url("/api/v1/sessions")).json(&json!({"username": username, "password": password})).send().await.unwrap()
}

/// Five wrong passwords for one name, and that name waits (even with the right password) with
/// a 429 and `Retry-After`, while others sign in; thirty failures from one address, and the
/// address waits, whoever signs in from it.
#[tokio::test]
async fn sign_in_attempts_are_limited_per_user_and_per_address() {
    let s = Server::start().await;
    let (_admin, _clerk) = s.office_clerk("internal").await;
    for _ in 0..5 {
        expect_problem(sign_in(&s, "clerk", "guess-guess").await, StatusCode::UNAUTHORIZED).await;
    }
    let r = sign_in(&s, "clerk", PASSWORD).await;
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((250..=300).contains(&wait), "Retry-After {wait}");
    let problem = expect_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(problem["type"], "/problems/too-many-attempts");
    assert!(problem["detail"].as_str().unwrap().contains("try again in"), "{problem}");
    // Another user from the same address is not held up by the clerk's failures.
    assert_eq!(sign_in(&s, "admin", ADMIN_PASSWORD).await.status(), StatusCode::CREATED);

    // The address: 30 failures in all (names made up, so no name reaches its own limit).
    for i in 0..25 {
        expect_problem(sign_in(&s, &format!("nobody{i}"), "guess-guess").await, StatusCode::UNAUTHORIZED).await;
    }
    let r = sign_in(&s, "admin", ADMIN_PASSWORD).await;
    assert!(r.headers().contains_key("retry-after"));
    expect_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
}

/// A token stops working when the session's time is up (`--session-ttl`).
#[tokio::test]
async fn a_session_ends_when_its_time_is_up() {
    let temp = tempfile::tempdir().unwrap();
    let s = Server::start_in(temp.path(), &["--session-ttl", "2s"], &[]).await;
    let admin = s.admin().await;
    assert_eq!(s.req(Method::GET, "/api/v1/me", &admin).send().await.unwrap().status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    expect_problem(s.req(Method::GET, "/api/v1/me", &admin).send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
    // A fresh sign-in works again, for its own two seconds.
    let again = s.admin().await;
    assert_eq!(s.req(Method::GET, "/api/v1/me", &again).send().await.unwrap().status(), StatusCode::OK);
}
