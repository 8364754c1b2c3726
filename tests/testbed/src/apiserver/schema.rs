//! Custom resources against their CRD's structural schema, like the real server: unknown fields
//! are pruned (unless `x-kubernetes-preserve-unknown-fields`), then types, `required`, string
//! lengths, `pattern`, `enum`, `format: date-time`, numeric bounds and list sizes are checked
//! with the real messages. CEL `x-kubernetes-validations` are not evaluated.

use super::status::FieldError;
use serde_json::{json, Value};

/// What validation found: field errors, and the paths of pruned (unknown) fields.
#[derive(Debug, Default)]
pub struct Outcome {
    pub errors: Vec<FieldError>,
    pub pruned: Vec<String>,
}

/// Prunes and validates a custom resource (apiVersion/kind/metadata are left alone).
pub fn validate(schema: &Value, obj: &mut Value) -> Outcome {
    let mut out = Outcome::default();
    let Some(map) = obj.as_object_mut() else {
        return out;
    };
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == json!(true);
    let props = schema["properties"].as_object();
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match props.and_then(|p| p.get(&k)) {
            Some(s) => walk(s, map.get_mut(&k).expect("key exists"), &k, &mut out),
            None if preserve => {}
            None => {
                map.remove(&k);
                out.pruned.push(k);
            }
        }
    }
    required(schema, map, "", &mut out);
    out
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn required(schema: &Value, map: &serde_json::Map<String, Value>, path: &str, out: &mut Outcome) {
    for r in schema["required"].as_array().into_iter().flatten() {
        let Some(r) = r.as_str() else { continue };
        if !map.contains_key(r) {
            out.errors.push(FieldError::required(&child(path, r), ""));
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(want: &str, v: &Value) -> bool {
    match want {
        "" => true,
        "number" => v.is_number(),
        other => type_name(v) == other,
    }
}

fn walk(schema: &Value, v: &mut Value, path: &str, out: &mut Outcome) {
    if v.is_null() && schema["nullable"] == json!(true) {
        return;
    }
    if schema["x-kubernetes-int-or-string"] == json!(true) {
        if !(v.is_string() || type_name(v) == "integer") {
            out.errors.push(FieldError::invalid(
                path,
                &json!(type_name(v)),
                &format!(
                    "{path} in body must be of type int-or-string: {:?}",
                    type_name(v)
                ),
            ));
        }
        return;
    }
    let want = schema["type"].as_str().unwrap_or_default();
    if !type_ok(want, v) {
        out.errors.push(FieldError::invalid(
            path,
            &json!(type_name(v)),
            &format!("{path} in body must be of type {want}: {:?}", type_name(v)),
        ));
        return;
    }
    if let Some(options) = schema["enum"].as_array() {
        if !options.contains(v) {
            let shown: Vec<String> = options.iter().map(|o| o.to_string()).collect();
            out.errors.push(FieldError {
                reason: "FieldValueNotSupported",
                field: path.to_string(),
                message: format!(
                    "Unsupported value: {v}: supported values: {}",
                    shown.join(", ")
                ),
            });
        }
    }
    let snapshot = if v.is_object() || v.is_array() {
        Value::Null
    } else {
        v.clone()
    };
    match v {
        Value::Object(map) => {
            let preserve = schema["x-kubernetes-preserve-unknown-fields"] == json!(true);
            let props = schema["properties"].as_object();
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let p = child(path, &k);
                match (props.and_then(|ps| ps.get(&k)), additional) {
                    (Some(s), _) | (None, Some(s)) => {
                        walk(s, map.get_mut(&k).expect("key exists"), &p, out)
                    }
                    (None, None) if preserve || props.is_none() && want.is_empty() => {}
                    (None, None) => {
                        map.remove(&k);
                        out.pruned.push(p);
                    }
                }
            }
            required(schema, map, path, out);
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(min) = schema["minItems"].as_u64().filter(|m| n < *m) {
                out.errors.push(FieldError::invalid(
                    path,
                    &json!(n),
                    &format!("{path} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = schema["maxItems"].as_u64().filter(|m| n > *m) {
                out.errors.push(FieldError {
                    reason: "FieldValueTooMany",
                    field: path.to_string(),
                    message: format!("Too many: {n}: must have at most {max} items"),
                });
            }
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::String(s) => {
            let v = &snapshot;
            let len = s.chars().count() as u64;
            if let Some(min) = schema["minLength"].as_u64().filter(|m| len < *m) {
                out.errors.push(FieldError::invalid(
                    path,
                    v,
                    &format!("{path} in body should be at least {min} chars long"),
                ));
            } else if let Some(max) = schema["maxLength"].as_u64().filter(|m| len > *m) {
                out.errors.push(FieldError {
                    reason: "FieldValueTooLong",
                    field: path.to_string(),
                    message: format!("Too long: may not be more than {max} bytes"),
                });
            } else if let Some(p) = schema["pattern"]
                .as_str()
                .filter(|p| !pattern_matches(p, s))
            {
                out.errors.push(FieldError::invalid(
                    path,
                    v,
                    &format!("{path} in body should match '{p}'"),
                ));
            } else if schema["format"] == "date-time"
                && chrono::DateTime::parse_from_rfc3339(s).is_err()
            {
                out.errors.push(FieldError::invalid(
                    path,
                    v,
                    &format!("{path} in body must be of type date-time: {s:?}"),
                ));
            }
        }
        Value::Number(n) => {
            let v = &snapshot;
            let x = n.as_f64().unwrap_or_default();
            let shown = |b: &Value| b.to_string();
            if let Some(min) = schema
                .get("minimum")
                .filter(|m| m.as_f64().is_some_and(|m| x < m))
            {
                out.errors.push(FieldError::invalid(
                    path,
                    v,
                    &format!(
                        "{path} in body should be greater than or equal to {}",
                        shown(min)
                    ),
                ));
            }
            if let Some(max) = schema
                .get("maximum")
                .filter(|m| m.as_f64().is_some_and(|m| x > m))
            {
                out.errors.push(FieldError::invalid(
                    path,
                    v,
                    &format!(
                        "{path} in body should be less than or equal to {}",
                        shown(max)
                    ),
                ));
            }
        }
        _ => {}
    }
}

/// Fields present in `sent` that a typed round trip dropped (unknown to the built-in type).
pub fn dropped_fields(sent: &Value, kept: &Value, path: &str, out: &mut Vec<String>) {
    match (sent, kept) {
        (Value::Object(s), Value::Object(k)) => {
            for (key, v) in s {
                let p = child(path, key);
                match k.get(key) {
                    None if !v.is_null() => out.push(p),
                    Some(kv) => dropped_fields(v, kv, &p, out),
                    None => {}
                }
            }
        }
        (Value::Array(s), Value::Array(k)) => {
            for (i, (sv, kv)) in s.iter().zip(k).enumerate() {
                dropped_fields(sv, kv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Whether `s` matches the schema's `pattern` (Go's RE2 syntax on the real server; the
/// `regex` crate reads the same syntax). An invalid pattern matches nothing, so it is seen.
fn pattern_matches(pattern: &str, s: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|re| re.is_match(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "required": ["spec"], "properties": {
            "spec": {"type": "object", "required": ["reason"], "properties": {
                "reason": {"type": "string", "minLength": 1},
                "ticket": {"type": "string", "pattern": "^[^\\x00-\\x1F\\x7F]*$"},
                "seconds": {"type": "integer", "minimum": 1},
                "start": {"type": "string", "format": "date-time"},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}
            }},
            "status": {"type": "object", "properties": {"state": {"type": "string"}}}
        }})
    }

    #[test]
    fn prunes_and_reports_like_the_real_server() {
        let mut obj = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
            "spec": {"reason": "", "ticket": "INC-1\n\u{1b}[2J", "seconds": 0, "start": "yesterday", "mode": "c", "extra": 1,
                     "free": {"anything": true}, "labels": {"a": "b"}},
            "bogus": true});
        let out = validate(&schema(), &mut obj);
        assert_eq!(
            out.pruned,
            vec!["bogus".to_string(), "spec.extra".to_string()]
        );
        assert!(obj["spec"]["free"]["anything"] == json!(true));
        let msgs: Vec<String> = out
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        assert_eq!(
            msgs,
            vec![
                r#"spec.mode: Unsupported value: "c": supported values: "a", "b""#,
                r#"spec.reason: Invalid value: "": spec.reason in body should be at least 1 chars long"#,
                r#"spec.seconds: Invalid value: 0: spec.seconds in body should be greater than or equal to 1"#,
                r#"spec.start: Invalid value: "yesterday": spec.start in body must be of type date-time: "yesterday""#,
                r#"spec.ticket: Invalid value: "INC-1\n\u{1b}[2J": spec.ticket in body should match '^[^\x00-\x1F\x7F]*$'"#,
            ]
        );
        let mut missing = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {}});
        let out = validate(&schema(), &mut missing);
        assert_eq!(out.errors[0].field, "spec");
        let mut wrong = json!({"spec": {"reason": 5}});
        let out = validate(&schema(), &mut wrong);
        assert_eq!(
            out.errors[0].message,
            r#"Invalid value: "integer": spec.reason in body must be of type string: "integer""#
        );
    }

    #[test]
    fn finds_fields_a_typed_round_trip_dropped() {
        let mut out = vec![];
        dropped_fields(
            &json!({"metadata": {"name": "x", "creationTimestamp": null}, "data": {"a": "b"}, "spce": {}}),
            &json!({"metadata": {"name": "x"}, "data": {"a": "b"}}),
            "",
            &mut out,
        );
        assert_eq!(out, vec!["spce".to_string()]);
    }
}
