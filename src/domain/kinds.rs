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
    /// The fields in the order the schema lists them (a form shows them so).
    field_order: Vec<String>,
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
        let field_order = schema.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default();
        Ok(Self { name: name.to_owned(), title, schema, validator, field_order })
    }

    /// A kind from its schema's text, keeping the order in which the text lists the fields.
    pub fn parse(name: &str, text: &str) -> Result<Self, KindError> {
        let bad = |e: serde_json::Error| KindError::BadSchema { kind: name.to_owned(), detail: e.to_string() };
        let schema: Value = serde_json::from_str(text).map_err(bad)?;
        let order: PropertyOrder = serde_json::from_str(text).map_err(bad)?;
        let mut kind = Self::new(name, schema)?;
        kind.field_order = order.0;
        Ok(kind)
    }

    /// The registration form drawn from the schema: each field, in the schema's order, with
    /// its title, whether it is required or sensitive, and how it is entered.
    pub fn form(&self) -> Vec<FormField> {
        let required: Vec<&str> = self.schema.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let Some(props) = self.schema.get("properties").and_then(Value::as_object) else { return vec![] };
        self.field_order
            .iter()
            .filter_map(|name| {
                let p = props.get(name)?;
                Some(FormField {
                    name: name.clone(),
                    title: p.get("title").and_then(Value::as_str).unwrap_or(name).to_owned(),
                    required: required.contains(&name.as_str()),
                    sensitive: p.get("x-sensitive").and_then(Value::as_bool) == Some(true),
                    input: Input::of(p),
                })
            })
            .collect()
    }

    /// The `fields` object from a form's text entries (field name, text as typed): empty
    /// entries are left out, numbers and lists converted as the schema says. The result is
    /// then validated as any request's fields are.
    pub fn fields_from_form<'a>(&self, entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Map<String, Value>, FieldError> {
        let props = self.schema.get("properties").and_then(Value::as_object);
        let mut out = Map::new();
        for (name, text) in entries {
            let bad = |detail: &str| FieldError { field: format!("fields.{name}"), detail: detail.to_owned() };
            let schema = props.and_then(|p| p.get(name)).ok_or_else(|| bad("is not a field of this kind"))?;
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let value = match Input::of(schema) {
                Input::Integer => Value::from(text.parse::<i64>().map_err(|_| bad("must be a whole number"))?),
                Input::Number => serde_json::Number::from_f64(text.parse::<f64>().map_err(|_| bad("must be a number"))?).map(Value::Number).ok_or_else(|| bad("must be a finite number"))?,
                Input::Flag => Value::Bool(matches!(text, "on" | "true" | "1" | "是")),
                Input::Lines => Value::Array(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| Value::String(l.to_owned())).collect()),
                Input::Text | Input::LongText | Input::Date | Input::Choice(_) => Value::String(text.to_owned()),
            };
            out.insert(name.to_owned(), value);
        }
        Ok(out)
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

/// A field on the registration form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormField {
    pub name: String,
    pub title: String,
    pub required: bool,
    /// `x-sensitive`: sealed at rest, shown only to those who may read the document.
    pub sensitive: bool,
    pub input: Input,
}

/// How a field is entered, from its schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Text,
    /// A string that may run long (more than 200 characters allowed).
    LongText,
    /// `"format": "date"`
    Date,
    Integer,
    Number,
    /// `enum`: one of these.
    Choice(Vec<String>),
    /// An array of strings: one per line.
    Lines,
    Flag,
}

impl Input {
    fn of(schema: &Value) -> Self {
        if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
            return Input::Choice(choices.iter().map(|c| c.as_str().map(str::to_owned).unwrap_or_else(|| c.to_string())).collect());
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("integer") => Input::Integer,
            Some("number") => Input::Number,
            Some("boolean") => Input::Flag,
            Some("array") => Input::Lines,
            _ if schema.get("format").and_then(Value::as_str) == Some("date") => Input::Date,
            _ if schema.get("maxLength").and_then(Value::as_u64).is_none_or(|m| m > 200) => Input::LongText,
            _ => Input::Text,
        }
    }
}

/// The keys of a schema's `properties`, in the order its text lists them (serde_json's map
/// sorts them).
struct PropertyOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for PropertyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys(Vec<String>);
        impl<'de> serde::Deserialize<'de> for Keys {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Keys;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                        let mut keys = Vec::new();
                        while let Some(key) = map.next_key::<String>()? {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            keys.push(key);
                        }
                        Ok(Keys(keys))
                    }
                }
                d.deserialize_map(V)
            }
        }
        struct Top;
        impl<'de> serde::de::Visitor<'de> for Top {
            type Value = PropertyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON Schema object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<PropertyOrder, A::Error> {
                let mut order = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "properties" {
                        order = map.next_value::<Keys>()?.0;
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(PropertyOrder(order))
            }
        }
        d.deserialize_map(Top)
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

    /// Later entries override earlier ones, each kept in the field order of its text.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = (String, &'a str)>) -> Result<Self, KindError> {
        let mut kinds = BTreeMap::new();
        for (name, text) in texts {
            let kind = Kind::parse(&name, text)?;
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

    #[test]
    fn the_form_follows_the_schema_and_converts_what_is_typed() {
        let text = r#"{"type":"object","required":["来文单位"],"properties":{
            "来文单位":{"type":"string","title":"来文单位 (issuer)","maxLength":200},
            "来文日期":{"type":"string","format":"date"},
            "页数":{"type":"integer","minimum":1},
            "主送机关":{"type":"array","items":{"type":"string"}},
            "缓急":{"type":"string","enum":["平件","加急"]},
            "签收人":{"type":"string","maxLength":50,"x-sensitive":true}}}"#;
        let kind = Kind::parse("incoming", text).unwrap();
        let form = kind.form();
        let names: Vec<&str> = form.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["来文单位", "来文日期", "页数", "主送机关", "缓急", "签收人"], "the text's order, not the code points'");
        assert!(form[0].required && !form[1].required);
        assert_eq!(form[0].title, "来文单位 (issuer)");
        assert_eq!(form[1].input, Input::Date);
        assert_eq!(form[2].input, Input::Integer);
        assert_eq!(form[3].input, Input::Lines);
        assert_eq!(form[4].input, Input::Choice(vec!["平件".into(), "加急".into()]));
        assert!(form[5].sensitive && form[5].input == Input::Text);
        let fields = kind.fields_from_form([("来文单位", " 市财政局 "), ("页数", "3"), ("主送机关", "各区\n\n各局"), ("来文日期", "")]).unwrap();
        assert_eq!(Value::Object(fields.clone()), json!({"来文单位": "市财政局", "页数": 3, "主送机关": ["各区", "各局"]}));
        assert!(kind.validate(&fields).is_ok());
        assert_eq!(kind.fields_from_form([("页数", "三")]).unwrap_err().field, "fields.页数");
        assert_eq!(kind.fields_from_form([("颜色", "红")]).unwrap_err().field, "fields.颜色");
    }

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
