//! Document kinds (收文, 发文, …) are JSON Schemas of the `fields` object. Adding a kind is adding
//! a schema file; this module compiles them and validates fields, naming the bad field.

use std::collections::BTreeMap;

use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value};

use super::people::DocumentState;

/// One document kind: its schema and the validator compiled from it.
pub struct Kind {
    pub name: String,
    pub title: String,
    pub schema: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kind").field("name", &self.name).field("title", &self.title).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KindError {
    #[error("kind name {0:?} must be lower-case letters, digits and '-'")]
    BadName(String),
    #[error("schema of kind {kind:?} is not a valid JSON Schema: {detail}")]
    BadSchema { kind: String, detail: String },
}

/// A field that does not fit its kind: `field` is the dotted request path (`fields.来文单位`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

impl Kind {
    pub fn new(name: &str, schema: Value) -> Result<Self, KindError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(KindError::BadName(name.to_owned()));
        }
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| KindError::BadSchema { kind: name.to_owned(), detail: e.to_string() })?;
        let title = schema.get("title").and_then(Value::as_str).unwrap_or(name).to_owned();
        Ok(Self { name: name.to_owned(), title, schema, validator })
    }

    /// 收文 starts registered (the clerk has registered it); everything else starts as a draft.
    pub fn initial_state(&self) -> DocumentState {
        if self.name == "incoming" { DocumentState::Registered } else { DocumentState::Draft }
    }

    /// Checks `fields` against the schema. Messages never quote the submitted value, because a
    /// value may be sensitive and errors end up in logs and on screens.
    pub fn validate(&self, fields: &Map<String, Value>) -> Result<(), FieldError> {
        let instance = Value::Object(fields.clone());
        let Some(error) = self.validator.iter_errors(&instance).next() else {
            return Ok(());
        };
        let mut path: Vec<String> = error.instance_path().iter().map(|s| s.to_string()).collect();
        if let ValidationErrorKind::Required { property } = error.kind() {
            path.push(property.as_str().map(str::to_owned).unwrap_or_else(|| property.to_string()));
        }
        if let ValidationErrorKind::AdditionalProperties { unexpected } = error.kind()
            && let Some(first) = unexpected.first()
        {
            path.push(first.clone());
            return Err(FieldError { field: dotted(&path), detail: "is not a field of this kind".into() });
        }
        Err(FieldError { field: dotted(&path), detail: error.masked().to_string() })
    }

    /// 签发: documents of this kind are signed off by a leader (`"x-sign-off": true`, as 发文).
    pub fn signs_off(&self) -> bool {
        self.schema.get("x-sign-off").and_then(Value::as_bool) == Some(true)
    }

    /// Names of the fields marked `"x-sensitive": true`.
    pub fn sensitive_fields(&self) -> Vec<String> {
        self.schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .filter(|(_, p)| p.get("x-sensitive").and_then(Value::as_bool) == Some(true))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn dotted(path: &[String]) -> String {
    std::iter::once("fields".to_owned()).chain(path.iter().cloned()).collect::<Vec<_>>().join(".")
}

/// Every kind this installation knows, by name.
#[derive(Debug, Default)]
pub struct KindRegistry {
    kinds: BTreeMap<String, Kind>,
}

impl KindRegistry {
    /// Later entries override earlier ones of the same name (a `--schemas` folder overrides the
    /// built-in kinds).
    pub fn from_schemas(schemas: impl IntoIterator<Item = (String, Value)>) -> Result<Self, KindError> {
        let mut kinds = BTreeMap::new();
        for (name, schema) in schemas {
            let kind = Kind::new(&name, schema)?;
            kinds.insert(name, kind);
        }
        Ok(Self { kinds })
    }

    pub fn get(&self, name: &str) -> Option<&Kind> {
        self.kinds.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Kind> {
        self.kinds.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind() -> Kind {
        Kind::new(
            "incoming",
            json!({
                "title": "收文",
                "type": "object",
                "required": ["来文单位"],
                "additionalProperties": false,
                "properties": {
                    "来文单位": {"type": "string", "minLength": 1},
                    "页数": {"type": "integer", "minimum": 1},
                    "来文日期": {"type": "string", "format": "date"},
                    "签收人": {"type": "string", "x-sensitive": true}
                }
            }),
        )
        .unwrap()
    }

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn valid_fields_pass() {
        assert_eq!(kind().validate(&fields(json!({"来文单位": "财政局", "页数": 3, "来文日期": "2026-11-01"}))), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let k = kind();
        assert_eq!(k.validate(&fields(json!({}))).unwrap_err().field, "fields.来文单位");
        assert_eq!(k.validate(&fields(json!({"来文单位": "x", "页数": "三"}))).unwrap_err().field, "fields.页数");
        assert_eq!(k.validate(&fields(json!({"来文单位": "x", "来文日期": "yesterday"}))).unwrap_err().field, "fields.来文日期");
        assert_eq!(k.validate(&fields(json!({"来文单位": "x", "颜色": 1}))).unwrap_err().field, "fields.颜色");
    }

    #[test]
    fn errors_never_quote_the_value() {
        let err = kind().validate(&fields(json!({"来文单位": "x", "签收人": 4242424242u64}))).unwrap_err();
        assert!(!err.detail.contains("4242424242"), "{}", err.detail);
    }

    #[test]
    fn sensitive_fields_are_listed_and_initial_state_follows_the_kind() {
        let k = kind();
        assert_eq!(k.sensitive_fields(), vec!["签收人".to_owned()]);
        assert_eq!(k.initial_state(), DocumentState::Registered);
    }
}
