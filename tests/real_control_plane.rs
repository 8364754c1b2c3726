//! What only the real control plane can prove: the admission policies pass the real CEL
//! type checker, `/version` is the pinned release, and the audit log ties the minting
//! TokenRequest and every use of the token to the grant's jti. (The real garbage
//! collector's removal of a seal without a record: `grants_faults.rs`.)

mod common;

use common::grants::Bed;
use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Polls `f` every 250 ms until it returns Some, for at most `secs` seconds.
async fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn admin_json(bed: &Bed, args: &[&str]) -> Value {
    let mut all = vec!["--context", "playground-admin"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = bed.kubectl(&all);
    assert_ok(&out, &format!("kubectl {args:?}"));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_policies_pass_the_real_type_checker_on_the_pinned_release() {
    let Some(bed) = Bed::start_real().await else {
        return;
    };
    let version = bed.pg.api.real().unwrap().version().to_string();

    // The version ldflags reached the binary: kubectl's skew check sees the real release.
    let out = bed.kubectl(&["--context", "playground-admin", "version", "-o", "json"]);
    assert_ok(&out, "kubectl version");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], version.as_str());

    // The controller manager's type checker writes status.typeChecking for each policy.
    let policies = eventually(60, "status.typeChecking on every policy", || {
        let list = admin_json(&bed, &["get", "validatingadmissionpolicies"]);
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let ours: Vec<Value> = items
            .into_iter()
            .filter(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("breakglass-"))
            })
            .collect();
        let checked = ours.iter().all(|p| {
            p["status"]["typeChecking"].is_object()
                && p["status"]["observedGeneration"] == p["metadata"]["generation"]
        });
        (checked && !ours.is_empty()).then_some(ours)
    })
    .await;
    assert!(policies.len() >= 5, "{policies:?}");
    for p in &policies {
        let warnings = &p["status"]["typeChecking"]["expressionWarnings"];
        assert!(
            warnings.is_null() || warnings.as_array().is_some_and(|w| w.is_empty()),
            "the real CEL type checker warns about {}: {warnings:#}",
            p["metadata"]["name"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_ties_the_minting_call_and_every_use_to_the_grant() {
    let Some(bed) = Bed::start_real().await else {
        return;
    };
    bed.login("alice").await;
    assert_ok(&bed.request(&["--role", "cluster-admin"]), "request");
    assert_ok(
        &bed.kubectl_elevated(&["get", "configmaps", "-n", "breakglass"]),
        "kubectl through the grant",
    );
    let jti = bed.records()[0]["status"]["jti"]
        .as_str()
        .expect("the record holds the jti")
        .to_string();
    let key = format!("JTI={jti}");

    let log = bed.pg.api.real().unwrap().audit_log_path().to_path_buf();
    let events: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The TokenRequest, made as alice herself, names the credential it issued.
    let minted: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["annotations"]["authentication.kubernetes.io/issued-credential-id"] == key.as_str()
        })
        .collect();
    assert_eq!(minted.len(), 1, "one TokenRequest issued {key}");
    assert_eq!(minted[0]["user"]["username"], "alice@example.com");
    assert_eq!(minted[0]["objectRef"]["resource"], "serviceaccounts");
    assert_eq!(minted[0]["objectRef"]["subresource"], "token");
    assert_eq!(minted[0]["objectRef"]["name"], "cluster-admin");
    // kubectl's call with the token carries the same key as its credential id.
    let used: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["user"]["extra"]["authentication.kubernetes.io/credential-id"][0] == key.as_str()
        })
        .collect();
    assert!(
        used.iter().any(|e| e["verb"] == "list"
            && e["objectRef"]["resource"] == "configmaps"
            && e["objectRef"]["namespace"] == "breakglass"
            && e["responseStatus"]["code"] == 200),
        "kubectl's list under {key}: {used:#?}"
    );
    assert!(used
        .iter()
        .all(|e| e["user"]["username"] == "system:serviceaccount:breakglass:cluster-admin"));
}
