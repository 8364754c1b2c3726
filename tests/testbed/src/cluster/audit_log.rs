//! Reads the real API server's audit log (`audit.k8s.io/v1` Events, one JSON object per
//! line) into the same [`AuditEntry`] the API double records, so tests can ask either.

use crate::apiserver::AuditEntry;
use serde_json::Value;
use std::path::Path;

/// Every complete request in the log, in order. Lines that are not events are skipped.
pub fn read(path: &Path) -> Vec<AuditEntry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| e["kind"] == "Event")
        .map(|e| entry(&e))
        .collect()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn entry(e: &Value) -> AuditEntry {
    let verb = s(&e["verb"]);
    let object = &e["objectRef"];
    let groups = |u: &Value| -> Vec<String> {
        u["groups"]
            .as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_default()
    };
    // The double records the impersonated user as `user`; the real log keeps the
    // authenticated one in `user` and the impersonated one in `impersonatedUser`.
    let (user, impersonated_by) = if e["impersonatedUser"].is_object() {
        (&e["impersonatedUser"], s(&e["user"]["username"]))
    } else {
        (&e["user"], String::new())
    };
    AuditEntry {
        timestamp: s(&e["requestReceivedTimestamp"]),
        method: method_of(&verb).to_string(),
        verb,
        path: s(&e["requestURI"]),
        user: s(&user["username"]),
        groups: groups(user),
        extra: e["user"]["extra"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let values = v
                            .as_array()
                            .map(|a| a.iter().map(s).collect())
                            .unwrap_or_default();
                        (k.clone(), values)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        namespace: s(&object["namespace"]),
        resource: s(&object["resource"]),
        subresource: s(&object["subresource"]),
        name: s(&object["name"]),
        impersonated_by,
        code: e["responseStatus"]["code"].as_u64().unwrap_or(0) as u16,
    }
}

/// The HTTP method behind a Kubernetes verb.
fn method_of(verb: &str) -> &'static str {
    match verb {
        "create" => "POST",
        "update" => "PUT",
        "patch" => "PATCH",
        "delete" | "deletecollection" => "DELETE",
        _ => "GET",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_service_account_request() {
        let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/secrets?limit=500","verb":"list","user":{"username":"system:serviceaccount:breakglass:cluster-admin","uid":"u","groups":["system:serviceaccounts"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=abc"]}},"objectRef":{"resource":"secrets","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-29T07:00:00.000000Z"}"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, format!("{line}\nnot json\n")).unwrap();
        let entries = read(&path);
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(e.credential_id(), Some("JTI=abc"));
        assert_eq!((e.verb.as_str(), e.method.as_str()), ("list", "GET"));
        assert_eq!(e.resource, "secrets");
        assert_eq!(e.code, 200);
        assert_eq!(e.path, "/api/v1/secrets?limit=500");
    }
}
