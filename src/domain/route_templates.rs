//! Route templates (`schemas/routes/*.json`): named routes as data. A template step names its
//! assignees by username, by role within a department, or as the route's initiator; the
//! service turns those into usernames when a document is routed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::people::{Principal, Role};
use super::routing::{StepMode, StepPlan};

/// Who a template step goes to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AssigneeSelector {
    /// These users; empty: the step is open, named when routing or by the approve before it.
    Users(Vec<String>),
    /// `"initiator"`: whoever routes the document.
    Initiator(InitiatorWord),
    /// Everyone with `role` in `department`: a department code, `document` (the document's
    /// own department) or `initiator` (the router's department).
    Role { role: Role, department: String },
}

impl AssigneeSelector {
    /// Whether `user` is among those a `Role` selector names (within its department).
    pub fn holds_role(user: &Principal, role: Role) -> bool {
        user.has_role(role)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InitiatorWord {
    Initiator,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateStep {
    pub name: String,
    #[serde(default)]
    pub title: String,
    pub mode: StepMode,
    pub assignees: AssigneeSelector,
    #[serde(default)]
    pub sign: bool,
    #[serde(default)]
    pub due_hours: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteTemplate {
    #[serde(default)]
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Kinds this template is meant for; empty: any.
    #[serde(default)]
    pub kinds: Vec<String>,
    pub steps: Vec<TemplateStep>,
}

impl RouteTemplate {
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        let mut t: RouteTemplate = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if t.steps.is_empty() {
            return Err("a template needs at least one step".into());
        }
        t.name = name.to_owned();
        Ok(t)
    }

    /// The plan with every selector already turned into usernames by `resolve`.
    pub fn plan(&self, mut resolve: impl FnMut(&AssigneeSelector) -> Vec<String>) -> Vec<StepPlan> {
        self.steps
            .iter()
            .map(|s| StepPlan { name: Some(s.name.clone()), mode: s.mode, assignees: resolve(&s.assignees), sign: s.sign, due_hours: s.due_hours, due_at: None })
            .collect()
    }

    /// Whether documents of `kind` may take this route.
    pub fn fits(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind)
    }

    /// Whether step `i` (from 0) names nobody: who handles it is said when routing.
    pub fn step_is_open(&self, i: usize) -> bool {
        matches!(&self.steps.get(i).map(|s| &s.assignees), Some(AssigneeSelector::Users(users)) if users.is_empty())
    }

    /// A step named by its name or its number (from 1), as in the `assignees` of a route request.
    pub fn step_index(&self, key: &str) -> Option<usize> {
        if let Ok(n) = key.parse::<usize>() {
            return (1..=self.steps.len()).contains(&n).then(|| n - 1);
        }
        self.steps.iter().position(|s| s.name == key)
    }
}

/// Every template this installation knows, by name.
#[derive(Clone, Debug, Default)]
pub struct TemplateRegistry {
    templates: BTreeMap<String, RouteTemplate>,
}

impl TemplateRegistry {
    pub fn insert(&mut self, t: RouteTemplate) {
        self.templates.insert(t.name.clone(), t);
    }

    pub fn get(&self, name: &str) -> Option<&RouteTemplate> {
        self.templates.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &RouteTemplate> {
        self.templates.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_templates_parse() {
        for (name, text) in [("incoming", include_str!("../../schemas/routes/incoming.json")), ("outgoing", include_str!("../../schemas/routes/outgoing.json"))] {
            let t = RouteTemplate::parse(name, text).unwrap();
            assert_eq!(t.kinds, vec![name.to_owned()]);
            let plan = t.plan(|s| match s {
                AssigneeSelector::Users(u) => u.clone(),
                AssigneeSelector::Initiator(_) => vec!["me".into()],
                AssigneeSelector::Role { role, .. } => vec![role.as_str().to_owned()],
            });
            assert_eq!(plan.len(), t.steps.len());
        }
        let out = RouteTemplate::parse("outgoing", include_str!("../../schemas/routes/outgoing.json")).unwrap();
        assert!(out.steps.iter().any(|s| s.sign));
        assert_eq!(out.step_index("签发"), Some(2));
        assert_eq!(out.step_index("2"), Some(1));
        assert_eq!(out.step_index("9"), None);
    }

    #[test]
    fn selectors_read_as_written() {
        let s: AssigneeSelector = serde_json::from_str(r#"{"role":"clerk","department":"document"}"#).unwrap();
        assert_eq!(s, AssigneeSelector::Role { role: Role::Clerk, department: "document".into() });
        let s: AssigneeSelector = serde_json::from_str(r#""initiator""#).unwrap();
        assert_eq!(s, AssigneeSelector::Initiator(InitiatorWord::Initiator));
        assert!(serde_json::from_str::<AssigneeSelector>(r#""someone""#).is_err());
    }
}
