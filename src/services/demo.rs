//! `henji serve --demo`: sample departments, users of every role and Chinese documents with
//! several revisions by different people, so a newcomer can try everything at once.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::documents::{CreateDocument, ReviseDocument};
use super::people::{NewUser, principal_from_row};
use super::routing::RouteRequest;
use super::{Henji, ServiceError, ServiceResult};
use crate::domain::people::{Classification, Principal, Role, Urgency};
use crate::resources::catalog::people::user_by_username;
use crate::resources::catalog::set_setting;

const DEMO: &str = include_str!("../../fixtures/demo.json");
const LOADED_KEY: &str = "demo_loaded";

#[derive(Deserialize)]
struct Demo {
    password: String,
    departments: Vec<DemoDepartment>,
    users: Vec<DemoUser>,
    documents: Vec<DemoDocument>,
}

#[derive(Deserialize)]
struct DemoDepartment {
    code: String,
    name: String,
}

#[derive(Deserialize)]
struct DemoUser {
    username: String,
    display_name: String,
    department: String,
    roles: Vec<Role>,
    clearance: Classification,
}

#[derive(Deserialize)]
struct DemoDocument {
    kind: String,
    title: String,
    department: String,
    classification: Classification,
    urgency: Urgency,
    fields: Map<String, Value>,
    revisions: Vec<DemoRevision>,
    /// Put on a route once written, so inboxes are not empty.
    route: Option<DemoRoute>,
}

#[derive(Deserialize)]
struct DemoRoute {
    by: String,
    template: String,
    #[serde(default)]
    assignees: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct DemoRevision {
    author: String,
    text: String,
    note: Option<String>,
}

/// What the demo loader did.
pub struct DemoLoaded {
    pub users: Vec<String>,
    pub password: String,
    pub documents: usize,
    pub already: bool,
}

impl Henji {
    /// Loads the demo once; a second start with `--demo` leaves everything as it is.
    pub async fn load_demo(&self) -> ServiceResult<DemoLoaded> {
        let demo: Demo = serde_json::from_str(DEMO).map_err(|e| ServiceError::Internal(format!("fixtures/demo.json: {e}")))?;
        let users = demo.users.iter().map(|u| u.username.clone()).collect();
        if self.catalog.setting(LOADED_KEY).await?.is_some() {
            return Ok(DemoLoaded { users, password: demo.password, documents: 0, already: true });
        }
        for d in &demo.departments {
            match self.create_department(&Principal::console(), &d.code, &d.name).await {
                Ok(_) | Err(ServiceError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for u in &demo.users {
            let new = NewUser {
                username: u.username.clone(),
                display_name: u.display_name.clone(),
                password: demo.password.clone(),
                department: u.department.clone(),
                roles: u.roles.clone(),
                clearance: u.clearance,
            };
            match self.create_user(&Principal::console(), new).await {
                Ok(_) | Err(ServiceError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for doc in &demo.documents {
            let Some((first, rest)) = doc.revisions.split_first() else { continue };
            let author = self.demo_user(&first.author).await?;
            let prepared = self
                .prepare_document(
                    &author,
                    CreateDocument {
                        kind: doc.kind.clone(),
                        title: doc.title.clone(),
                        department: Some(doc.department.clone()),
                        classification: doc.classification,
                        urgency: Some(doc.urgency),
                        fields: doc.fields.clone(),
                        body: None,
                    },
                )
                .await?;
            let body = self.store_text_body(prepared.upload_sealing().as_ref(), &first.text).await?;
            let mut view = self.create_document(&author, prepared, Some(body), vec![]).await?;
            for rev in rest {
                let author = self.demo_user(&rev.author).await?;
                let prepared = self
                    .prepare_revision(
                        &author,
                        &view.id,
                        ReviseDocument { base_revision: view.head_revision.clone(), body: None, fields: None, note: rev.note.clone(), remove_attachments: vec![] },
                    )
                    .await?;
                let body = self.store_text_body(prepared.upload_sealing().as_ref(), &rev.text).await?;
                let revision = self.add_revision(&author, prepared, Some(body), vec![]).await?;
                view.head_revision = revision.id;
            }
            if let Some(route) = &doc.route {
                let by = self.demo_user(&route.by).await?;
                let request = RouteRequest { steps: None, template: Some(route.template.clone()), assignees: Some(route.assignees.clone()) };
                self.start_route(&by, &view.id, request).await?;
            }
        }
        let mut tx = self.catalog.begin_write().await?;
        set_setting(&mut tx, LOADED_KEY, &super::now()).await?;
        tx.commit().await?;
        Ok(DemoLoaded { users, password: demo.password, documents: demo.documents.len(), already: false })
    }

    async fn demo_user(&self, username: &str) -> ServiceResult<Principal> {
        let row = user_by_username(&mut *self.catalog.read().await?, username).await?;
        principal_from_row(row.ok_or_else(|| ServiceError::Internal(format!("demo user {username} is missing")))?)
    }
}
