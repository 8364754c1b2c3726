//! The happy path end to end: alice logs in, breaks the glass, uses the grant with real
//! kubectl through the written context; the record, chain and jti are checked field by field.

mod common;

use common::grants::Bed;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_breaks_the_glass_and_kubectl_uses_the_grant() {
    let bed = Bed::start().await;
    bed.login("alice").await;

    let out = bed.request(&[
        "--role",
        "cluster-admin",
        "--duration",
        "30m",
        "--ticket",
        "INC-7",
        "-o",
        "json",
    ]);
    assert_ok(&out, "request");
    let err = stderr(&out);
    assert_no_jwt(&err);
    assert_no_jwt(&stdout(&out));
    assert!(
        err.contains("alice@example.com acts as cluster-admin"),
        "{err}"
    );
    assert!(
        err.contains("kubectl --context playground-breakglass"),
        "{err}"
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["role"], "cluster-admin");
    assert_eq!(
        printed["serviceAccount"],
        "system:serviceaccount:breakglass:cluster-admin"
    );
    assert_eq!(printed["context"], "playground-breakglass");

    // One JSON shape per concept: request, status and audit give the grant the same keys.
    let json = |args: &[&str]| -> serde_json::Value {
        let out = bed.run(args);
        assert_ok(&out, &format!("{args:?}"));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let listed = json(&["status", "-o", "json"])[0].clone();
    let audited = json(&["audit", "-o", "json"])["records"][0].clone();
    for key in [
        "name",
        "state",
        "requester",
        "role",
        "reason",
        "ticket",
        "start",
        "expiry",
        "jti",
    ] {
        assert!(
            printed[key].is_string(),
            "request -o json has no {key}: {printed}"
        );
        assert_eq!(printed[key], listed[key], "status -o json {key}: {listed}");
        assert_eq!(printed[key], audited[key], "audit -o json {key}: {audited}");
    }
    assert_eq!(printed["state"], "Active");

    // Real kubectl, through the written context and the elevated exec credential.
    let who = bed.kubectl(&[
        "--context",
        "playground-breakglass",
        "auth",
        "whoami",
        "-o",
        "json",
    ]);
    assert_ok(&who, "kubectl auth whoami");
    let who: serde_json::Value = serde_json::from_slice(&who.stdout).unwrap();
    assert_eq!(
        who["status"]["userInfo"]["username"],
        "system:serviceaccount:breakglass:cluster-admin"
    );
    let secrets = bed.kubectl(&["--context", "playground-breakglass", "get", "secrets", "-A"]);
    assert_ok(&secrets, "kubectl get secrets -A");
    // As herself, alice may not.
    let own = bed.kubectl(&["--context", "playground", "get", "secrets", "-A"]);
    assert!(!own.status.success(), "alice herself must not read secrets");

    // The record, field by field.
    let records = bed.records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["metadata"]["name"], "grant-000001");
    let spec = &r["spec"];
    assert_eq!(spec["requester"], "alice@example.com");
    assert!(spec["requesterGroups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == "sre"));
    assert_eq!(spec["reason"], "checkout is down, need to look");
    assert_eq!(spec["ticket"], "INC-7");
    assert_eq!(spec["role"], "cluster-admin");
    assert_eq!(spec["serviceAccount"], "cluster-admin");
    assert_eq!(spec["durationSeconds"], 1800);
    assert_eq!(spec["sequence"], 1);
    assert!(spec.get("previous").is_none());
    assert_eq!(spec["pluginVersion"], env!("CARGO_PKG_VERSION"));
    assert!(!spec["clientHost"].as_str().unwrap().is_empty());
    let start = chrono::DateTime::parse_from_rfc3339(spec["startTime"].as_str().unwrap()).unwrap();
    let expiry =
        chrono::DateTime::parse_from_rfc3339(spec["expiryTime"].as_str().unwrap()).unwrap();
    assert_eq!((expiry - start).num_seconds(), 1800);
    let status = &r["status"];
    assert_eq!(status["state"], "Active");
    assert_eq!(status["sealName"], "grant-000001-cluster-admin-seal");
    let jti = status["jti"].as_str().unwrap();
    assert_eq!(printed["jti"], jti);

    // The seal: owned by the record, labelled, empty.
    let seals = bed.seals();
    assert_eq!(seals.len(), 1);
    let seal = &seals[0];
    assert_eq!(seal["metadata"]["uid"], status["sealUid"]);
    assert_eq!(seal["type"], "breakglass.dev/seal");
    assert_eq!(seal["metadata"]["labels"]["breakglass.dev/seal"], "true");
    assert_eq!(
        seal["metadata"]["labels"]["breakglass.dev/grant"],
        "grant-000001"
    );
    assert_eq!(
        seal["metadata"]["labels"]["breakglass.dev/role"],
        "cluster-admin"
    );
    // The admission policy requires the seal to name its maker.
    assert_eq!(
        seal["metadata"]["annotations"]["breakglass.dev/requester"],
        "alice@example.com"
    );
    assert_eq!(seal["metadata"]["name"], "grant-000001-cluster-admin-seal");
    let owner = &seal["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "BreakGlassGrant");
    assert_eq!(owner["name"], "grant-000001");
    assert_eq!(owner["uid"], r["metadata"]["uid"]);

    // The audit log joins what was done to who and why: kubectl's calls carry the jti.
    let audited = bed.pg.api.audit_log();
    let by_grant: Vec<_> = audited
        .iter()
        .filter(|e| e.credential_id() == Some(&format!("JTI={jti}")))
        .collect();
    assert!(
        by_grant
            .iter()
            .any(|e| e.resource == "secrets" && e.verb == "list"),
        "the audit log has `get secrets -A` under JTI={jti}: {by_grant:?}"
    );
    assert!(by_grant
        .iter()
        .all(|e| e.user == "system:serviceaccount:breakglass:cluster-admin"));

    // A second request chains to the first: digest of the first record's name + spec.
    let before = bed.pg.api.audit_log().len();
    let out = bed.request(&["--additional"]);
    assert_ok(&out, "second request");
    // It found the grants that may be live through the seals (the requesters' RBAC lets
    // it list them) and the newest records by name: it listed no records at all, so the
    // history never enters its cost (issue 11).
    let calls: Vec<_> = bed.pg.api.audit_log().split_off(before);
    let alices: Vec<_> = calls
        .iter()
        .filter(|e| e.user == "alice@example.com")
        .collect();
    assert!(
        alices
            .iter()
            .any(|e| e.resource == "secrets" && e.verb == "list" && e.code == 200),
        "{alices:?}"
    );
    assert!(
        !alices
            .iter()
            .any(|e| e.resource == "breakglassgrants" && e.verb == "list"),
        "{alices:?}"
    );
    let records = bed.records();
    assert_eq!(records.len(), 2);
    let second = &records[1]["spec"];
    assert_eq!(second["sequence"], 2);
    assert_eq!(second["role"], "incident-debug");
    assert_eq!(second["durationSeconds"], 3600);
    assert_eq!(second["previous"]["name"], "grant-000001");
    assert_eq!(second["previous"]["digest"], chain_digest(&records[0]));
}

/// `sha256:` of the canonical JSON (sorted keys, no spaces) of `{"name", "spec"}`,
/// computed here independently of the plugin.
fn chain_digest(record: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let doc = serde_json::json!({ "name": record["metadata"]["name"], "spec": record["spec"] });
    // serde_json without preserve_order keeps object keys sorted.
    let text = serde_json::to_string(&doc).unwrap();
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}
