//! Canonical JSON: object keys sorted by code point, no insignificant whitespace, numbers and
//! strings as serde_json writes them. Revision ids and audit hashes are digests of these bytes,
//! so the form must not depend on insertion order or on serde_json's feature flags.

use serde_json::Value;

pub fn to_canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_string(key, out);
                out.push(b':');
                write_value(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_canonical_string(s, out),
        // Null, booleans and numbers have one serde_json spelling already.
        scalar => {
            let _infallible = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// Writes `s` as a JSON string, escaped as serde_json escapes it. `out` is memory or a hasher,
/// neither of which can fail to take bytes.
pub fn write_canonical_string(s: &str, out: &mut impl std::io::Write) {
    let _infallible = serde_json::to_writer(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: Value = serde_json::from_str(r#"{ "b": 1, "a": {"z": [1, 2], "y": "来文"} }"#).unwrap();
        let b = json!({"a": {"y": "来文", "z": [1, 2]}, "b": 1});
        assert_eq!(to_canonical_bytes(&a), to_canonical_bytes(&b));
        assert_eq!(
            String::from_utf8(to_canonical_bytes(&a)).unwrap(),
            r#"{"a":{"y":"来文","z":[1,2]},"b":1}"#
        );
    }

    #[test]
    fn canonical_bytes_parse_back_to_the_same_value() {
        let v = json!({"q": "line\nbreak \"quoted\" \u{0001}", "n": -1.5, "t": true, "x": null});
        let bytes = to_canonical_bytes(&v);
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn serde_json_writes_values_in_canonical_form() {
        // The catalog stores audit details with `to_string`, and the chain check hashes the
        // stored text as it is before parsing it (`ChainVerifier::check_stored`); a feature
        // such as serde_json's `preserve_order` would send every event the slow way.
        let mut inserted = serde_json::Map::new();
        for key in ["z", "理由", "a", "B"] {
            inserted.insert(key.to_owned(), json!({"y": [2, 1], "x": "\u{7}\"", "w": -0.5}));
        }
        let value = Value::Object(inserted);
        assert_eq!(value.to_string().into_bytes(), to_canonical_bytes(&value));
    }
}
