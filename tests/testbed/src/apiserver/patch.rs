//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.
//! Strategic merge patch is applied with merge-patch semantics (lists are replaced, `$`
//! directives dropped): the resources this double serves have no merge-keyed lists that the
//! tests patch, so the difference never shows.

use serde_json::Value;

pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Strategic merge patch with merge-patch semantics; `$patch`/`$setElementOrder`/`$retainKeys`
/// directives are removed.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let mut p = patch.clone();
    strip_directives(&mut p);
    merge_patch(target, &p);
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<(Vec<String>, String), String> {
    if path.is_empty() {
        return Err("JSON patch path must not be empty".into());
    }
    let mut parts: Vec<String> = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?
        .split('/')
        .map(unescape)
        .collect();
    let last = parts.pop().unwrap_or_default();
    Ok((parts, last))
}

fn parent_mut<'a>(
    doc: &'a mut Value,
    parts: &[String],
    path: &str,
) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m.get_mut(p),
            Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("doc is missing path: {path:?}: missing value"))?;
    }
    Ok(cur)
}

fn get<'a>(doc: &'a Value, path: &str) -> Result<&'a Value, String> {
    doc.pointer(path)
        .ok_or_else(|| format!("doc is missing path: {path:?}: missing value"))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parts, last) = split_pointer(path)?;
    match parent_mut(doc, &parts, path)? {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .map_err(|_| format!("invalid index {last:?}"))?
            };
            if i > a.len() {
                return Err(format!(
                    "add operation does not apply: doc is missing path: {path:?}"
                ));
            }
            a.insert(i, value);
        }
        _ => return Err(format!("doc is missing path: {path:?}")),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parts, last) = split_pointer(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: {path:?}");
    match parent_mut(doc, &parts, path)? {
        Value::Object(m) => m.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let i = last.parse::<usize>().map_err(|_| missing())?;
            (i < a.len()).then(|| a.remove(i)).ok_or_else(missing)
        }
        _ => Err(missing()),
    }
}

/// Applies an RFC 6902 JSON patch.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("json patch must be an array of operations")?;
    for op in ops {
        let path = op["path"]
            .as_str()
            .ok_or("json patch operation has no path")?;
        match op["op"].as_str() {
            Some("add") => add(doc, path, op["value"].clone())?,
            Some("remove") => {
                remove(doc, path)?;
            }
            Some("replace") => {
                remove(doc, path).map_err(|_| {
                    format!("replace operation does not apply: doc is missing key: {path}: missing value")
                })?;
                add(doc, path, op["value"].clone())?;
            }
            Some("test") => {
                if get(doc, path)? != &op["value"] {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            Some("move") => {
                let from = op["from"].as_str().ok_or("move needs from")?;
                let v = remove(doc, from)?;
                add(doc, path, v)?;
            }
            Some("copy") => {
                let from = op["from"].as_str().ok_or("copy needs from")?;
                let v = get(doc, from)?.clone();
                add(doc, path, v)?;
            }
            other => return Err(format!("Unexpected kind: {}", other.unwrap_or_default())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_and_json_patch() {
        let mut d = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut d, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(d, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
        json_patch(
            &mut d,
            &json!([
                {"op": "add", "path": "/l/-", "value": 4},
                {"op": "replace", "path": "/a/c", "value": 5},
                {"op": "remove", "path": "/a/d"},
                {"op": "test", "path": "/l/1", "value": 4},
                {"op": "add", "path": "/m~1n", "value": true}
            ]),
        )
        .unwrap();
        assert_eq!(d, json!({"a": {"c": 5}, "l": [3, 4], "m/n": true}));
        assert!(json_patch(&mut d, &json!([{"op": "test", "path": "/l/0", "value": 9}])).is_err());
        assert!(json_patch(&mut d, &json!([{"op": "remove", "path": "/zz"}])).is_err());
    }

    #[test]
    fn strategic_drops_directives() {
        let mut d = json!({"rules": [1]});
        strategic_merge_patch(&mut d, &json!({"$setElementOrder/rules": [], "rules": [2]}));
        assert_eq!(d, json!({"rules": [2]}));
    }
}
