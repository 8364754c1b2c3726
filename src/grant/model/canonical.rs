//! The chain's digest of a JSON value: `sha256:` + hex of its canonical JSON (keys sorted,
//! no whitespace). Depends on nothing of the plugin, so the history bench computes the
//! very same digests (`benches/history.rs` includes this file).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `sha256:<hex>` of the canonical JSON of `value`.
pub fn digest(value: &Value) -> String {
    let mut out = String::new();
    canonical(value, &mut out);
    format!("sha256:{}", hex::encode(Sha256::digest(out.as_bytes())))
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn canonical_json_sorts_keys() {
        let mut out = String::new();
        super::canonical(
            &serde_json::json!({"b": [1, {"d": "x", "c": null}], "a": true}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":true,"b":[1,{"c":null,"d":"x"}]}"#);
    }
}
