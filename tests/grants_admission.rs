//! The admission policies of `deploy/04-admission.yaml`, enforced by the API double: the
//! protocol is the only way in, even for a person whose RBAC allows each single step.

mod common;

use common::grants::Bed;
use common::*;

/// Runs kubectl and expects a refusal by the named admission policy.
#[track_caller]
fn denied(bed: &Bed, who: &[&str], rest: &[&str], policy: &str, says: &str) {
    let args: Vec<&str> = who.iter().chain(rest).copied().collect();
    let out = bed.kubectl(&args);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "{args:?} must be denied; stdout: {}",
        stdout(&out)
    );
    assert!(
        err.contains(&format!("ValidatingAdmissionPolicy '{policy}'")) && err.contains(says),
        "{args:?}: expected {policy}: {says:?} in:\n{err}"
    );
}

fn write_json(bed: &Bed, name: &str, v: serde_json::Value) -> String {
    let path = bed.sb.path(name);
    std::fs::write(&path, v.to_string()).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protocol_is_the_only_way_in() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let me = ["--context", "playground", "-n", "breakglass"];

    // RBAC lets alice mint tokens for the role's account; admission demands a seal.
    denied(
        &bed,
        &me,
        &["create", "token", "cluster-admin", "--duration", "10m"],
        "breakglass-token-requests",
        "must be bound to its seal Secret",
    );

    // Through the protocol it works; bound to that seal, a longer token is still refused.
    assert_ok(&bed.request(&["--role", "cluster-admin"]), "request");
    denied(
        &bed,
        &me,
        &[
            "create",
            "token",
            "cluster-admin",
            "--duration",
            "2h",
            "--bound-object-kind",
            "Secret",
            "--bound-object-name",
            "grant-000001-seal",
        ],
        "breakglass-token-requests",
        "may last at most 3600 seconds",
    );

    // Secrets there are seals only; a record names its creator.
    denied(
        &bed,
        &me,
        &["create", "secret", "generic", "loot", "--from-literal=a=b"],
        "breakglass-seals",
        "must be seals",
    );
    let forged = write_json(
        &bed,
        "forged.json",
        serde_json::json!({
            "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassGrant",
            "metadata": {"name": "grant-000002", "namespace": "breakglass"},
            "spec": {
                "requester": "bob@example.com", "reason": "not me", "role": "cluster-admin",
                "serviceAccount": "cluster-admin", "durationSeconds": 600,
                "startTime": "2026-11-27T11:00:00Z", "expiryTime": "2026-11-27T11:10:00Z",
                "clientHost": "x", "pluginVersion": "0", "requestId": "x", "sequence": 2
            }
        }),
    );
    denied(
        &bed,
        &me,
        &["create", "-f", &forged],
        "breakglass-records",
        "must name its creator",
    );

    // Records are immutable where it matters, even for an admin.
    let admin = ["--context", "playground-admin", "-n", "breakglass"];
    denied(
        &bed,
        &admin,
        &[
            "patch",
            "bgg",
            "grant-000001",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"reason":"nothing happened"}}"#,
        ],
        "breakglass-records",
        "spec is immutable",
    );
    denied(
        &bed,
        &admin,
        &[
            "patch",
            "bgg",
            "grant-000001",
            "--subresource",
            "status",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"jti":"someone-else"}}"#,
        ],
        "breakglass-records",
        "jti cannot change",
    );

    // Once revoked, final: nobody brings it back.
    assert_ok(&bed.run(&["revoke", "grant-000001"]), "revoke");
    denied(
        &bed,
        &admin,
        &[
            "patch",
            "bgg",
            "grant-000001",
            "--subresource",
            "status",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"state":"Active"}}"#,
        ],
        "breakglass-records",
        "is final",
    );
    // Records are never deleted, not even by an admin.
    denied(
        &bed,
        &admin,
        &["delete", "bgg", "grant-000001"],
        "breakglass-records-kept",
        "never deleted",
    );
    let r = &bed.records()[0];
    assert_eq!(r["spec"]["reason"], "checkout is down, need to look");
    assert_eq!(r["status"]["state"], "Revoked");
}
