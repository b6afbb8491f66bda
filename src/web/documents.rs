//! The pages of one document: registering it (收文登记 / 发文拟稿 / 客户档案, the form drawn
//! from the kind's JSON Schema), reading it (fields, attachments, history, the body with its
//! 痕迹 or 清稿), revising it, opinions (批示意见) typed or handwritten, its flow (流转), the
//! printable fair copy, and its files.

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::Multipart;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::desk::{chrome, wants_json};
use super::forms::{FormPairs, next_part, text_part};
use super::pages::{self, Conflict, DocumentPage, IntoPage, PrintPage, Register, StepView, TemplateView, TextLine, Zh};
use super::session::csrf_header;
use super::{PageError, Viewer, assets};
use crate::domain::people::{Classification, Urgency};
use crate::domain::routing::{ActionKind, RouteStatus};
use crate::http::documents::stream_part;
use crate::http::routing::receive_ink;
use crate::services::documents::{BlobContent, BodyText, CreateDocument, PreparedDocument, ReviseDocument};
use crate::services::extraction::AttachmentText;
use crate::services::routing::{ActionRequest, RouteRequest, RouteView};
use crate::services::traces::{TraceOutput, TraceStart};
use crate::services::uploads::UploadedFile;
use crate::services::{Henji, ServiceError};

#[derive(Deserialize, Default)]
pub struct KindQuery {
    kind: Option<String>,
}

/// The registration form of a kind (收文 by default), drawn from its JSON Schema.
pub async fn register_form(State(henji): State<Henji>, viewer: Viewer, Query(q): Query<KindQuery>) -> Result<Response, PageError> {
    let name = q.kind.unwrap_or_else(|| "incoming".into());
    let kind = henji.kinds().get(&name).ok_or(ServiceError::NotFound("kind"))?;
    let classifications = Classification::ALL.iter().filter(|c| **c <= viewer.principal.clearance).map(|c| (c.as_str(), c.zh())).collect();
    let page = Register {
        chrome: chrome(&henji, &viewer, "register").await?,
        kind: kind.name.clone(),
        kind_title: kind.title.clone(),
        kinds: henji.kinds().iter().map(|k| (k.name.clone(), k.title.clone())).collect(),
        fields: kind.form(),
        classifications,
    };
    Ok(page.into_page())
}

/// 登记: the form's text parts, then its files streamed into the store as they arrive.
pub async fn register(State(henji): State<Henji>, viewer: Viewer, headers: HeaderMap, mut multipart: Multipart) -> Result<Response, PageError> {
    let json = wants_json(&headers);
    let fail = |e: PageError| if json { e.json() } else { e };
    let who = &viewer.principal;
    let mut form = FormPairs(Vec::new());
    // Prepared (rules checked, body stored) at the first file part, or at the end.
    let mut prepared = None;
    let mut attachments: Vec<UploadedFile> = Vec::new();
    while let Some(field) = next_part(&mut multipart).await.map_err(fail)? {
        let Some(file_name) = field.file_name().map(str::to_owned) else {
            if prepared.is_some() {
                return Err(fail(PageError::BadRequest("the form's text comes before its files".into())));
            }
            form.0.push(text_part(field).await.map_err(fail)?);
            continue;
        };
        if prepared.is_none() {
            prepared = Some(prepare(&henji, &viewer, &headers, &form).await.map_err(fail)?);
        }
        // A form sent with no file chosen still sends an empty, nameless part.
        if field.name() != Some("attachment") || file_name.is_empty() {
            continue;
        }
        let Some((doc, _)) = prepared.as_ref() else { continue };
        let sealing = doc.upload_sealing();
        let upload = henji.attachment_upload(sealing.as_ref(), attachments.len(), Some(&file_name), field.content_type()).map_err(|e| fail(e.into()))?;
        attachments.push(stream_part(&henji, upload, field).await.map_err(|p| fail(PageError::Json(p)))?);
    }
    let (doc, body) = match prepared {
        Some(p) => p,
        None => prepare(&henji, &viewer, &headers, &form).await.map_err(fail)?,
    };
    let view = henji.create_document(who, doc, body, attachments).await.map_err(|e| fail(e.into()))?;
    if json {
        return Ok((StatusCode::CREATED, Json(json!({"id": view.id}))).into_response());
    }
    Ok(Redirect::to(&format!("/documents/{}", view.id)).into_response())
}

/// The form's request checked (CSRF, then the rules of registering) and its body stored.
async fn prepare(henji: &Henji, viewer: &Viewer, headers: &HeaderMap, form: &FormPairs) -> Result<(PreparedDocument, Option<UploadedFile>), PageError> {
    viewer.check_csrf(csrf_header(headers).or(form.get("_csrf")))?;
    let request = create_request(henji, form)?;
    let mut prepared = henji.prepare_document(&viewer.principal, request).await?;
    let body = match prepared.inline_body.take() {
        Some(text) => Some(henji.store_text_body(prepared.upload_sealing().as_ref(), &text).await?),
        None => None,
    };
    Ok((prepared, body))
}

/// The API's create request from the form: `f.<field>` entries are the kind's fields.
fn create_request(henji: &Henji, form: &FormPairs) -> Result<CreateDocument, ServiceError> {
    let name = form.text("kind").unwrap_or_else(|| "incoming".into());
    let kind = henji.kinds().get(&name).ok_or_else(|| ServiceError::invalid("kind", "unknown kind"))?;
    let entries = form.0.iter().filter_map(|(k, v)| k.strip_prefix("f.").map(|f| (f, v.as_str())));
    let fields = kind.fields_from_form(entries).map_err(|e| ServiceError::Invalid { field: e.field, detail: e.detail })?;
    let classification = form.get("classification").unwrap_or("internal").parse::<Classification>().map_err(|e| ServiceError::invalid("classification", e.to_string()))?;
    let urgency = form.get("urgency").unwrap_or("normal").parse::<Urgency>().map_err(|e| ServiceError::invalid("urgency", e.to_string()))?;
    Ok(CreateDocument {
        kind: name,
        title: form.get("title").unwrap_or("").to_owned(),
        department: form.text("department"),
        classification,
        urgency: Some(urgency),
        fields,
        body: form.get("body").filter(|b| !b.trim().is_empty()).map(|b| BodyText { text: b.replace("\r\n", "\n") }),
    })
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    view: Option<String>,
    from: Option<String>,
    to: Option<String>,
    notice: Option<String>,
}

/// The document page.
pub async fn page(State(henji): State<Henji>, viewer: Viewer, Path(id): Path<String>, Query(q): Query<PageQuery>) -> Result<Response, PageError> {
    let notice = q.notice.as_deref().and_then(notice_text).map(str::to_owned);
    render_page(&henji, &viewer, &id, &q, None, notice).await
}

/// Messages a redirect after a form may ask the page to show.
fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "revised" => "已保存为新修订。",
        "opinion" => "批示已保存。",
        "routed" => "已发起流转。",
        "acted" => "已办理。",
        "archived" => "已归档。",
        "retried" => "已重新排队识别文字。",
        _ => return None,
    })
}

/// The page itself; `conflict` keeps a revision that lost a race (its text and base).
async fn render_page(henji: &Henji, viewer: &Viewer, id: &str, q: &PageQuery, conflict: Option<(String, String)>, notice: Option<String>) -> Result<Response, PageError> {
    let who = &viewer.principal;
    let doc = henji.get_document(who, id).await?;
    let revisions: Vec<_> = henji.list_revisions(who, id, 0, 10_000).await?.into_iter().map(|(_, r)| r).collect();
    let abilities = henji.abilities(who, id).await?;
    let clean = q.view.as_deref() == Some("clean");
    let from = q.from.clone().unwrap_or_else(|| "empty".into());
    let to = q.to.clone().unwrap_or_else(|| doc.head_revision.clone());
    let (trace_html, clean_text, legend_href) = if clean {
        (String::new(), henji.clean_text_of(who, id, Some(&to)).await?.1, None)
    } else {
        let start = if from == "empty" { TraceStart::Empty } else { TraceStart::Revision(from.clone()) };
        let t = henji.trace_fragment(who, id, Some(start), Some(&to)).await?;
        (t.html, String::new(), Some(assets::legend_href(&t.colors)))
    };
    let range_query = if clean { String::new() } else { format!("&from={from}&to={to}") };
    let (edit_text, conflict) = match conflict {
        Some((mine, base)) => {
            let theirs = henji.trace_fragment(who, id, Some(TraceStart::Revision(base)), None).await?;
            (mine, Some(Conflict { their_change: theirs.html }))
        }
        None if abilities.can.revise => (henji.clean_text_of(who, id, None).await?.1, None),
        None => (String::new(), None),
    };
    let route = match henji.get_route(who, id).await {
        Ok(r) => Some(r),
        Err(ServiceError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let trail = henji.trail(who, id).await?;
    let steps = route.as_ref().map(step_views).unwrap_or_default();
    let opinions = henji.list_opinions(who, id, "", 1000).await?;
    let needs_people = abilities.can.route || abilities.open_next_step.is_some() || abilities.actions.contains(&ActionKind::Forward);
    let users = if needs_people { henji.list_users("", 500).await? } else { vec![] };
    let departments = if abilities.can.distribute { henji.list_departments("", 500).await? } else { vec![] };
    let templates = if abilities.can.route { henji.route_templates_for(&doc.kind).into_iter().map(TemplateView::of).collect() } else { vec![] };
    let field_rows = field_rows(henji, &doc.kind, &doc.fields);
    let progress = henji.text_progress(who, id).await?;
    let texts = doc.attachments.iter().map(|a| progress.get(&a.sha256.to_hex()).map(TextLine::of)).collect();
    let page = DocumentPage {
        chrome: chrome(henji, viewer, "").await?,
        offer_forward: abilities.actions.contains(&ActionKind::Forward),
        offer_step: abilities.actions.contains(&ActionKind::Return) || abilities.actions.contains(&ActionKind::Jump),
        can: abilities.can.clone(),
        abilities,
        doc,
        revisions,
        clean,
        from,
        to,
        range_query,
        trace_html,
        clean_text,
        legend_href,
        edit_text,
        conflict,
        route,
        steps,
        trail,
        opinions,
        users,
        departments,
        templates,
        field_rows,
        texts,
        notice,
    };
    Ok(page.into_page())
}

/// The route as a row of steps: 已办 before the current one, 正办 the current, 未办 after.
fn step_views(route: &RouteView) -> Vec<StepView> {
    route
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let n = i as u32 + 1;
            let (class, state) = match route.status {
                RouteStatus::Completed => ("done", "已办"),
                _ if n < route.current_step => ("done", "已办"),
                RouteStatus::Active if n == route.current_step => ("current", "正办"),
                _ => ("waiting", "未办"),
            };
            StepView { class, state, name: s.name.clone().unwrap_or_else(|| format!("第 {n} 步")), who: s.assignees.join("、") }
        })
        .collect()
}

/// The fields as the kind titles them, in the schema's order, the rest after.
fn field_rows(henji: &Henji, kind: &str, fields: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let form = henji.kinds().get(kind).map(|k| k.form()).unwrap_or_default();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string())).collect::<Vec<_>>().join("、"),
        other => other.to_string(),
    };
    let mut rows: Vec<(String, String)> = form.iter().filter_map(|f| fields.get(&f.name).map(|v| (f.title.clone(), text(v)))).collect();
    rows.extend(fields.iter().filter(|(k, _)| !form.iter().any(|f| &f.name == *k)).map(|(k, v)| (k.clone(), text(v))));
    rows
}

#[derive(Deserialize)]
pub struct ReviseForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    base_revision: String,
    body: String,
    #[serde(default)]
    note: String,
}

/// Saving the body as a new revision; if someone else revised it meanwhile, the page shows
/// their change and keeps this text.
pub async fn revise(State(henji): State<Henji>, viewer: Viewer, Path(id): Path<String>, Form(form): Form<ReviseForm>) -> Result<Response, PageError> {
    viewer.check_csrf(Some(&form.csrf))?;
    let who = &viewer.principal;
    let text = form.body.replace("\r\n", "\n");
    let note = Some(form.note.trim().to_owned()).filter(|n| !n.is_empty());
    let request = ReviseDocument { base_revision: form.base_revision.clone(), body: Some(BodyText { text: text.clone() }), fields: None, note, remove_attachments: vec![] };
    let outcome = async {
        let mut prepared = henji.prepare_revision(who, &id, request).await?;
        let sealing = prepared.upload_sealing();
        let body = match prepared.inline_body.take() {
            Some(t) => Some(henji.store_text_body(sealing.as_ref(), &t).await?),
            None => None,
        };
        henji.add_revision(who, prepared, body, vec![]).await
    }
    .await;
    match outcome {
        Ok(_) => Ok(Redirect::to(&format!("/documents/{id}?notice=revised#body")).into_response()),
        Err(ServiceError::Conflict(why)) => {
            // Someone else's revision came first: show it, keep this text, base it on the head.
            let head = henji.get_document(who, &id).await?.head_revision;
            if head == form.base_revision {
                return Err(ServiceError::Conflict(why).into());
            }
            let mut response = render_page(&henji, &viewer, &id, &PageQuery::default(), Some((text, form.base_revision)), None).await?;
            *response.status_mut() = StatusCode::CONFLICT;
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

/// 批示: text, a handwriting image (part `ink`), or both.
pub async fn add_opinion(State(henji): State<Henji>, viewer: Viewer, headers: HeaderMap, Path(id): Path<String>, mut multipart: Multipart) -> Result<Response, PageError> {
    let json = wants_json(&headers);
    let fail = |e: PageError| if json { e.json() } else { e };
    let who = &viewer.principal;
    let mut form = FormPairs(Vec::new());
    let mut prepared = None;
    let mut ink = None;
    while let Some(field) = next_part(&mut multipart).await.map_err(fail)? {
        if field.file_name().is_none() {
            form.0.push(text_part(field).await.map_err(fail)?);
            continue;
        }
        if prepared.is_none() {
            viewer.check_csrf(csrf_header(&headers).or(form.get("_csrf"))).map_err(fail)?;
            prepared = Some(henji.prepare_opinion(who, &id).await.map_err(|e| fail(e.into()))?);
        }
        if let Some(p) = prepared.as_ref()
            && field.name() == Some("ink")
            && ink.is_none()
            && field.file_name().is_some_and(|n| !n.is_empty())
        {
            ink = Some(receive_ink(&henji, p, field).await.map_err(|p| fail(PageError::Json(p)))?);
        }
    }
    let prepared = match prepared {
        Some(p) => p,
        None => {
            viewer.check_csrf(csrf_header(&headers).or(form.get("_csrf"))).map_err(fail)?;
            henji.prepare_opinion(who, &id).await.map_err(|e| fail(e.into()))?
        }
    };
    let view = henji.add_opinion(who, prepared, form.text("text"), ink).await.map_err(|e| fail(e.into()))?;
    if json {
        return Ok((StatusCode::CREATED, Json(view)).into_response());
    }
    Ok(Redirect::to(&format!("/documents/{id}?notice=opinion#opinions")).into_response())
}

/// 发起流转 from a template; `assignee.<template>.<n>` names the people of its open steps.
pub async fn start_route(State(henji): State<Henji>, viewer: Viewer, Path(id): Path<String>, Form(pairs): Form<Vec<(String, String)>>) -> Result<Response, PageError> {
    let form = FormPairs(pairs);
    viewer.check_csrf(form.get("_csrf"))?;
    let template = form.text("template").ok_or_else(|| ServiceError::invalid("template", "choose a template"))?;
    let prefix = format!("assignee.{template}.");
    let mut assignees = std::collections::BTreeMap::new();
    for (key, value) in &form.0 {
        if let Some(step) = key.strip_prefix(&prefix).filter(|_| !value.trim().is_empty()) {
            assignees.entry(step.to_owned()).or_insert_with(Vec::new).push(value.trim().to_owned());
        }
    }
    let request = RouteRequest { steps: None, template: Some(template), assignees: (!assignees.is_empty()).then_some(assignees) };
    henji.start_route(&viewer.principal, &id, request).await?;
    Ok(Redirect::to(&format!("/documents/{id}?notice=routed#flow")).into_response())
}

/// An action on the route, or a distribution.
pub async fn act(State(henji): State<Henji>, viewer: Viewer, Path(id): Path<String>, Form(pairs): Form<Vec<(String, String)>>) -> Result<Response, PageError> {
    let form = FormPairs(pairs);
    viewer.check_csrf(form.get("_csrf"))?;
    let action: ActionKind = serde_json::from_value(Value::String(form.text("action").unwrap_or_default())).map_err(|_| ServiceError::invalid("action", "unknown action"))?;
    let to = match action {
        ActionKind::Forward => form.all("forward_to"),
        ActionKind::Distribute => form.all("departments"),
        ActionKind::Approve => form.all("to"),
        _ => vec![],
    };
    let step = match (action, form.text("step")) {
        (ActionKind::Return | ActionKind::Jump, Some(s)) => Some(s.parse::<u32>().map_err(|_| ServiceError::invalid("step", "a step number"))?),
        _ => None,
    };
    let request = ActionRequest { action, comment: form.text("comment"), to, step };
    henji.act_on_document(&viewer.principal, &id, request).await?;
    Ok(Redirect::to(&format!("/documents/{id}?notice=acted#flow")).into_response())
}

/// The fair copy (清稿) laid out on A4 as GB/T 9704-2012 has it, for the browser to print.
pub async fn print(State(henji): State<Henji>, viewer: Viewer, Path(id): Path<String>) -> Result<Response, PageError> {
    let who = &viewer.principal;
    let doc = henji.get_document(who, &id).await?;
    let (_, text) = henji.clean_text_of(who, &id, None).await?;
    let field = |name: &str| doc.fields.get(name).map(|v| match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("、"),
        other => other.to_string(),
    });
    let issuer = field("发文机关标志").or_else(|| field("来文单位")).unwrap_or_else(|| doc.department.clone());
    let watermark = doc.classification.is_classified().then(|| format!("{} {} {}", who.display_name, who.username, pages::short_time(&crate::services::now())));
    let page = PrintPage {
        css: assets::css_name(),
        title: doc.title.clone(),
        issuer,
        number: field("发文字号").or_else(|| field("来文字号")).unwrap_or_default(),
        to: field("主送机关").unwrap_or_default(),
        signer: field("签发人").unwrap_or_default(),
        date: chinese_date(&field("成文日期").or_else(|| field("来文日期")).unwrap_or_else(|| doc.created_at.get(..10).unwrap_or("").to_owned())),
        classification: if doc.classification.is_classified() { doc.classification.zh() } else { "" },
        urgency: doc.urgency.zh(),
        paragraphs: text.split('\n').map(str::to_owned).collect(),
        watermark,
    };
    Ok(page.into_page())
}

/// `2026-11-20` as 成文日期 is written: `2026年11月20日` (GB/T 9704: Arabic numerals, the
/// month and day without a leading zero).
fn chinese_date(iso: &str) -> String {
    let parts: Vec<&str> = iso.split('-').collect();
    match parts.as_slice() {
        [y, m, d] if [y, m, d].iter().all(|p| p.parse::<u32>().is_ok()) => format!("{y}年{}月{}日", m.trim_start_matches('0'), d.trim_start_matches('0')),
        _ => iso.to_owned(),
    }
}

/// The Word document with real tracked changes (`w:ins`/`w:del` per reviewer).
pub async fn traces_docx(State(henji): State<Henji>, viewer: Viewer, Path(id): Path<String>) -> Result<Response, PageError> {
    let rendered = henji.render_trace(&viewer.principal, &id, TraceOutput::Docx, Some(TraceStart::Empty), None).await?;
    let mut response = rendered.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TraceOutput::Docx.media_type()));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"traces.docx\""));
    Ok(response)
}

/// Media types a page may show inline; any other file is a download, so no uploaded file can
/// run as a page of this site.
const INLINE: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"];

/// An attachment or a handwriting image, for a caller who may read a document that has it.
pub async fn file(State(henji): State<Henji>, viewer: Viewer, Path((_id, sha256)): Path<(String, String)>) -> Result<Response, PageError> {
    let download = henji.blob(&viewer.principal, &sha256).await?;
    let media_type = download.media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let inline = INLINE.contains(&media_type.as_str());
    let body = match download.content {
        BlobContent::Whole(bytes) => Body::from(bytes),
        BlobContent::Stream(stream) => Body::from_stream(stream.map_err(|e| std::io::Error::other(e.to_string()))),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    let shown = if inline { download.media_type.as_str() } else { "application/octet-stream" };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(shown).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(download.size));
    let name: String = url::form_urlencoded::byte_serialize(download.name.as_bytes()).collect();
    let disposition = format!("{}; filename*=UTF-8''{name}", if inline { "inline" } else { "attachment" });
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The text read from an attachment (文字识别), page by page, as plain text.
pub async fn attachment_text(State(henji): State<Henji>, viewer: Viewer, Path((id, sha256)): Path<(String, String)>) -> Result<Response, PageError> {
    let (status, text) = match henji.attachment_text(&viewer.principal, &id, &sha256).await? {
        AttachmentText::Done { pages, .. } => (StatusCode::OK, pages.iter().map(|p| format!("—— 第 {} 页 ——\n{}", p.page, p.text.trim_end())).collect::<Vec<_>>().join("\n\n")),
        AttachmentText::Queued { .. } | AttachmentText::Running { .. } => (StatusCode::ACCEPTED, "正在识别文字，请稍后刷新。".to_owned()),
        AttachmentText::Failed { reason } => (StatusCode::OK, format!("未能识别文字：{reason}")),
        AttachmentText::Unsupported {} => (StatusCode::OK, "这种文件不含可识别的文字。".to_owned()),
    };
    Ok((status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// 重新识别: a failed reading queued again.
pub async fn retry_text(State(henji): State<Henji>, viewer: Viewer, Path((id, sha256)): Path<(String, String)>, Form(pairs): Form<Vec<(String, String)>>) -> Result<Response, PageError> {
    viewer.check_csrf(FormPairs(pairs).get("_csrf"))?;
    henji.retry_extraction(&viewer.principal, &id, &sha256).await?;
    Ok(Redirect::to(&format!("/documents/{id}?notice=retried#attachments")).into_response())
}

/// The first page of a PDF attachment as a small PNG.
pub async fn thumbnail(State(henji): State<Henji>, viewer: Viewer, Path((_id, sha256)): Path<(String, String)>) -> Result<Response, PageError> {
    let png = henji.pdf_thumbnail(&viewer.principal, &sha256).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// Which template steps are open (name their people when routing), for the route form.
impl TemplateView {
    fn of(t: &crate::domain::route_templates::RouteTemplate) -> Self {
        TemplateView {
            name: t.name.clone(),
            title: t.title.clone(),
            steps: t.steps.iter().enumerate().map(|(i, s)| (s.name.clone(), t.step_is_open(i))).map(|(name, open)| pages::TemplateStepView { name, open }).collect(),
        }
    }
}
