//! The hash chain: each record carries the digest of the one before it, so a deleted or
//! altered record is detectable. The digest covers what never changes: name and spec.

use super::record::{Grant, GrantSpec};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `sha256:<hex>` of the canonical JSON (sorted keys, no spaces) of `{"name", "spec"}`.
pub fn digest(name: &str, spec: &GrantSpec) -> String {
    let value = serde_json::json!({ "name": name, "spec": spec });
    let mut out = String::new();
    canonical(&value, &mut out);
    format!("sha256:{}", hex::encode(Sha256::digest(out.as_bytes())))
}

/// Digest of a stored record.
pub fn digest_of(grant: &Grant) -> String {
    digest(grant.name(), &grant.spec)
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

/// The record a new one must follow: the highest sequence.
pub fn head(records: &[Grant]) -> Option<&Grant> {
    records.iter().max_by_key(|g| g.spec.sequence)
}

/// Breaks in the chain, one sentence each (empty when intact).
pub fn verify(records: &[Grant]) -> Vec<String> {
    let mut sorted: Vec<&Grant> = records.iter().collect();
    sorted.sort_by_key(|g| g.spec.sequence);
    let mut problems = Vec::new();
    let mut prev: Option<&Grant> = None;
    for g in sorted {
        match (prev, &g.spec.previous) {
            (None, None) if g.spec.sequence == 1 => {}
            (None, _) => problems.push(format!(
                "{} (sequence {}) follows records that no longer exist",
                g.name(),
                g.spec.sequence
            )),
            (Some(p), Some(link)) => {
                if g.spec.sequence != p.spec.sequence + 1 {
                    problems.push(format!(
                        "records between {} and {} are missing",
                        p.name(),
                        g.name()
                    ));
                } else if link.name != p.name() || link.digest != digest_of(p) {
                    problems.push(format!(
                        "{} does not match the digest {} records for it (altered or replaced)",
                        p.name(),
                        g.name()
                    ));
                }
            }
            (Some(p), None) => problems.push(format!(
                "{} has no link to the previous record {}",
                g.name(),
                p.name()
            )),
        }
        prev = Some(g);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::record::{name_for, PreviousRecord};

    fn spec(seq: i64, previous: Option<PreviousRecord>) -> GrantSpec {
        GrantSpec {
            requester: "alice@example.com".into(),
            requester_groups: vec!["sre".into()],
            reason: "etcd is down".into(),
            ticket: None,
            role: "incident-debug".into(),
            service_account: "incident-debug".into(),
            duration_seconds: 600,
            start_time: "2026-11-27T11:00:00Z".into(),
            expiry_time: "2026-11-27T11:10:00Z".into(),
            client_host: "laptop".into(),
            plugin_version: "0.1.0".into(),
            request_id: format!("r{seq}"),
            sequence: seq,
            previous,
        }
    }

    fn chain(n: i64) -> Vec<Grant> {
        let mut out: Vec<Grant> = Vec::new();
        for seq in 1..=n {
            let previous = out.last().map(|p| PreviousRecord {
                name: p.name().to_string(),
                digest: digest_of(p),
            });
            out.push(Grant::new(&name_for(seq), spec(seq, previous)));
        }
        out
    }

    #[test]
    fn digest_is_stable_and_covers_every_field() {
        let a = digest("grant-000001", &spec(1, None));
        assert_eq!(a, digest("grant-000001", &spec(1, None)));
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
        let mut s = spec(1, None);
        s.reason.push('!');
        assert_ne!(a, digest("grant-000001", &s));
        assert_ne!(a, digest("grant-000002", &spec(1, None)));
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let mut out = String::new();
        canonical(
            &serde_json::json!({"b": [1, {"d": "x", "c": null}], "a": true}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":true,"b":[1,{"c":null,"d":"x"}]}"#);
    }

    #[test]
    fn verify_finds_deleted_and_altered_records() {
        let records = chain(4);
        assert!(verify(&records).is_empty());
        assert_eq!(head(&records).unwrap().name(), "grant-000004");
        let mut deleted = records.clone();
        deleted.remove(1);
        let p = verify(&deleted);
        assert!(
            p[0].contains("between grant-000001 and grant-000003"),
            "{p:?}"
        );
        let mut altered = records.clone();
        altered[2].spec.reason = "nothing to see".into();
        let p = verify(&altered);
        assert!(p[0].contains("grant-000003 does not match"), "{p:?}");
    }
}
