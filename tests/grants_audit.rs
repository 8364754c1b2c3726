//! `audit` on the real Playground: every record with its fields and audit-log key, the
//! chain verified; tampering by an admin (who first removes the admission policy that
//! protects the records) is found and named.

mod common;

use common::grants::Bed;
use common::*;
use serde_json::Value;

fn audit_json(bed: &Bed) -> (std::process::Output, Value) {
    let out = bed.run(&["audit", "-o", "json"]);
    assert_no_jwt(&stdout(&out));
    assert_no_jwt(&stderr(&out));
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("audit -o json ({e}): {}\n{}", stdout(&out), stderr(&out)));
    (out, v)
}

/// As admin, sets grant-000002's reason (the records policy must be gone).
fn set_reason(bed: &Bed, reason: &str) {
    let patch = serde_json::json!({ "spec": { "reason": reason } }).to_string();
    admin(
        bed,
        &[
            "-n",
            "breakglass",
            "patch",
            "bgg",
            "grant-000002",
            "--type",
            "merge",
            "-p",
            &patch,
        ],
    );
}

fn admin(bed: &Bed, args: &[&str]) {
    let mut all = vec!["--context", "playground-admin"];
    all.extend_from_slice(args);
    let out = bed.kubectl(&all);
    assert_ok(&out, &format!("kubectl {args:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lists_every_record_and_finds_tampering() {
    let bed = Bed::start_double().await;
    bed.login("alice").await;

    // 1: revoked; 2: still active, with a ticket; 3: expired (a short grant whose expiry passes).
    assert_ok(&bed.request(&["--role", "cluster-admin"]), "request 1");
    assert_ok(&bed.run(&["revoke", "grant-000001"]), "revoke 1");
    assert_ok(
        &bed.request(&["--ticket", "INC-42", "--duration", "20m"]),
        "request 2",
    );
    // Kubectl through grant 2 (the cached token; grant 3 will replace it in the cache).
    let used = bed.kubectl_elevated(&["get", "namespaces"]);
    assert_ok(&used, "kubectl through grant-000002");
    bed.allow_short_grants(2);
    assert_ok(
        &bed.request(&[
            "--additional",
            "--role",
            "cluster-admin",
            "--duration",
            "2s",
        ]),
        "request 3",
    );
    let records = bed.records();
    let expiry3 =
        chrono::DateTime::parse_from_rfc3339(records[2]["spec"]["expiryTime"].as_str().unwrap())
            .unwrap();
    while chrono::Utc::now() <= expiry3 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    let (out, report) = audit_json(&bed);
    assert_ok(&out, "audit");
    let listed = report["records"].as_array().unwrap();
    let names: Vec<&str> = listed.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["grant-000001", "grant-000002", "grant-000003"]);
    let states: Vec<&str> = listed
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["Revoked", "Active", "Expired"]);
    for (shown, stored) in listed.iter().zip(&records) {
        let spec = &stored["spec"];
        assert_eq!(shown["requester"], "alice@example.com");
        assert_eq!(shown["requester"], spec["requester"]);
        assert_eq!(shown["role"], spec["role"]);
        assert_eq!(shown["reason"], spec["reason"]);
        assert_eq!(shown["start"], spec["startTime"]);
        assert_eq!(shown["expiry"], spec["expiryTime"]);
        let jti = stored["status"]["jti"].as_str().unwrap();
        assert_eq!(shown["jti"], jti);
        assert_eq!(shown["auditLogCredentialId"], format!("JTI={jti}"));
    }
    assert_eq!(listed[0]["role"], "cluster-admin");
    assert_eq!(listed[0]["revokedBy"], "alice@example.com");
    assert_eq!(listed[0]["revokedAt"], records[0]["status"]["revokedAt"]);
    assert_eq!(listed[1]["ticket"], "INC-42");
    assert!(listed[2].get("ticket").is_none());
    assert_eq!(
        report["auditLogKey"],
        "authentication.kubernetes.io/credential-id"
    );
    assert_eq!(report["chain"]["intact"], true);
    assert_eq!(report["chain"]["records"], 3);
    assert_eq!(report["chain"]["head"], "grant-000003");

    // The key finds grant 2's calls in the API server's audit log.
    let key = listed[1]["auditLogCredentialId"].as_str().unwrap();
    let audited = bed.pg.api.audit_log();
    assert!(
        audited
            .iter()
            .any(|e| e.credential_id() == Some(key) && e.resource == "namespaces"),
        "the API server's audit log has kubectl's call under {key}"
    );

    // The table for people, and the verdict on stderr.
    let out = bed.run(&["audit"]);
    assert_ok(&out, "audit (table)");
    let table = stdout(&out);
    let header = table.lines().next().unwrap();
    for col in [
        "NAME",
        "STATE",
        "REQUESTER",
        "ROLE",
        "START",
        "EXPIRY",
        "REVOKED",
        "TICKET",
        "CREDENTIAL-ID",
        "REASON",
    ] {
        assert!(header.contains(col), "{col} in {header}");
    }
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(table.contains(key), "{table}");
    assert!(
        stderr(&out).contains("Hash chain intact: 3 record(s) verified, newest grant-000003"),
        "{}",
        stderr(&out)
    );

    // --since lists only recent records but still verifies all of them.
    let out = bed.run(&["audit", "--since", "1h", "-o", "json"]);
    assert_ok(&out, "audit --since 1h");
    let recent: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(recent["records"].as_array().unwrap().len(), 3);
    let out = bed.run(&["audit", "--since", "soon"]);
    assert_fails_with(&out, &["invalid --since", "24h"]);

    // An admin alters grant-000002's reason: the policy that forbids it must go first.
    admin(
        &bed,
        &[
            "delete",
            "validatingadmissionpolicybinding",
            "breakglass-records",
        ],
    );
    set_reason(&bed, "routine maintenance");
    let (out, report) = audit_json(&bed);
    assert!(
        !out.status.success(),
        "audit must fail on an altered record"
    );
    let err = stderr(&out);
    assert!(
        err.contains("error: the grant record chain of playground is broken at grant-000002"),
        "{err}"
    );
    assert!(
        err.contains("chain break at grant-000002 (altered)"),
        "{err}"
    );
    assert_eq!(report["chain"]["intact"], false);
    let breaks = report["chain"]["breaks"].as_array().unwrap();
    assert_eq!(breaks.len(), 1, "{breaks:?}");
    assert_eq!(breaks[0]["record"], "grant-000002");
    assert_eq!(breaks[0]["kind"], "altered");
    // The listing is still printed in full.
    assert_eq!(report["records"].as_array().unwrap().len(), 3);
    assert_eq!(report["records"][1]["reason"], "routine maintenance");

    // Put it back: the chain is whole again, which shows the digest covers exactly the spec.
    let original = records[1]["spec"]["reason"].as_str().unwrap();
    set_reason(&bed, original);
    let (out, _) = audit_json(&bed);
    assert_ok(&out, "audit after the reason is restored");

    // An admin deletes the middle record (after removing the policy that forbids it).
    admin(
        &bed,
        &[
            "delete",
            "validatingadmissionpolicybinding",
            "breakglass-records-kept",
        ],
    );
    admin(&bed, &["-n", "breakglass", "delete", "bgg", "grant-000002"]);
    let out = bed.run(&["audit"]);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "audit must fail on a deleted record:\n{err}"
    );
    assert!(
        err.contains("chain break at grant-000003 (sequence gap): records between grant-000001 and grant-000003 are missing (grant-000002 is gone"),
        "{err}"
    );
    assert!(
        err.contains("error: the grant record chain of playground is broken at grant-000003"),
        "{err}"
    );
    assert_no_jwt(&err);
    // The listing comes first, with what is left.
    let table = stdout(&out);
    assert!(
        table.contains("grant-000001") && table.contains("grant-000003"),
        "{table}"
    );
    assert!(!table.contains("grant-000002"), "{table}");
}
