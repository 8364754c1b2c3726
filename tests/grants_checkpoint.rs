//! External checkpoints on the real API server: an admin who removes the admission policies
//! and rewrites history with a recomputed chain passes plain `audit`; `audit --checkpoint`
//! names the first rewritten record. A grown chain holds; bad checkpoints are one error line.

mod common;

use common::grants::Bed;
use common::*;
use serde_json::Value;

fn admin(bed: &Bed, args: &[&str]) {
    let mut all = vec!["--context", "playground-admin"];
    all.extend_from_slice(args);
    assert_ok(&bed.kubectl(&all), &format!("kubectl {args:?}"));
}

/// `audit -o json` as the person (its stdout even when it fails).
fn audit_json(bed: &Bed) -> Value {
    serde_json::from_slice(&bed.run(&["audit", "-o", "json"]).stdout).unwrap()
}

fn error_lines(out: &std::process::Output) -> usize {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_catches_history_rewritten_with_a_recomputed_chain() {
    let Some(bed) = Bed::start_real().await else {
        return;
    };
    bed.login("alice").await;
    for _ in 0..2 {
        assert_ok(&bed.request(&["--role", "incident-debug"]), "request");
        assert_ok(&bed.run(&["revoke"]), "revoke");
    }
    let cp = bed.sb.path("checkpoint.json");
    let cp_arg = cp.to_str().unwrap();
    let out = bed.run(&["audit", "--checkpoint-out", cp_arg]);
    assert_ok(&out, "audit --checkpoint-out");
    assert!(
        stderr(&out).contains("Checkpoint written to"),
        "{}",
        stderr(&out)
    );
    let c: Value = serde_json::from_str(&std::fs::read_to_string(&cp).unwrap()).unwrap();
    let records = bed.records();
    let digests = audit_json(&bed)["records"].clone();
    assert_eq!(c["kind"], "BreakGlassChainCheckpoint");
    assert_eq!(c["schemaVersion"], 1);
    assert_eq!(c["chainIntact"], true);
    assert!(
        c["cluster"].as_str().unwrap().starts_with("https://"),
        "{c}"
    );
    assert_eq!(c["head"]["sequence"], 2);
    assert_eq!(c["head"]["name"], "grant-000002");
    assert_eq!(c["head"]["uid"], records[1]["metadata"]["uid"]);
    assert_eq!(c["head"]["digest"], digests[1]["digest"]);
    assert_eq!(c["records"].as_array().unwrap().len(), 2);
    assert_eq!(c["records"][0]["digest"], digests[0]["digest"]);

    // The SIEM export: one line per record, every field, its own chain verdict.
    let out = bed.run(&["audit", "-o", "jsonl", "--since", "1h"]);
    assert_ok(&out, "audit -o jsonl");
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (i, l) in lines.iter().enumerate() {
        let r = &records[i];
        assert_eq!(l["schema"], "breakglass.dev/grant-record");
        assert_eq!(l["schemaVersion"], 1);
        assert_eq!(l["cluster"], c["cluster"]);
        assert_eq!(l["name"], r["metadata"]["name"]);
        assert_eq!(l["uid"], r["metadata"]["uid"]);
        assert_eq!(l["sequence"], r["spec"]["sequence"]);
        assert_eq!(l["reason"], r["spec"]["reason"]);
        assert_eq!(l["requestId"], r["spec"]["requestId"]);
        assert_eq!(l["jti"], r["status"]["jti"]);
        assert_eq!(
            l["auditLogCredentialId"],
            format!("JTI={}", r["status"]["jti"].as_str().unwrap())
        );
        assert_eq!(
            l["credentialIdKey"],
            "authentication.kubernetes.io/credential-id"
        );
        assert_eq!(l["recordedState"], "Revoked");
        assert_eq!(l["revokedBy"], "alice@example.com");
        assert_eq!(l["digest"], digests[i]["digest"]);
        assert_eq!(l["chainVerdict"], "intact");
        assert_eq!(l["chainIntact"], true);
    }
    assert_eq!(lines[1]["previousDigest"], digests[0]["digest"]);

    // The chain grows: the checkpoint holds.
    assert_ok(&bed.request(&["--role", "incident-debug"]), "request");
    let out = bed.run(&["audit", "--checkpoint", cp_arg]);
    assert_ok(&out, "audit --checkpoint after growth");
    assert!(
        stderr(&out).contains("holds: its 2 record(s) are unchanged; 1 added since."),
        "{}",
        stderr(&out)
    );
    assert_ok(&bed.run(&["revoke"]), "revoke");

    // An admin rewrites history: the policies go, every record is replaced, grant-000001 with
    // another reason, each later one linked to its new predecessor's digest.
    admin(
        &bed,
        &[
            "delete",
            "validatingadmissionpolicy",
            "breakglass-records-kept",
        ],
    );
    bed.drop_admission();
    let originals = bed.records();
    admin(
        &bed,
        &["delete", "breakglassgrants", "--all", "-n", "breakglass"],
    );
    for (i, orig) in originals.iter().enumerate() {
        let name = orig["metadata"]["name"].as_str().unwrap();
        let mut forged = Bed::forged_record(orig, name, i as i64 + 1);
        if i == 0 {
            forged["spec"]["reason"] = "routine maintenance, nothing to see".into();
        } else {
            forged["spec"]["previous"]["digest"] =
                audit_json(&bed)["records"][i - 1]["digest"].clone();
        }
        assert_ok(&bed.admin_create(&forged), "create the forged record");
        let status = serde_json::json!({ "status": orig["status"] }).to_string();
        admin(
            &bed,
            &[
                "patch",
                "breakglassgrants",
                name,
                "-n",
                "breakglass",
                "--subresource=status",
                "--type=merge",
                "-p",
                &status,
            ],
        );
    }

    // Plain audit cannot see it: the chain is consistent.
    let out = bed.run(&["audit"]);
    assert_ok(&out, "plain audit over the rewritten chain");
    assert!(
        stderr(&out).contains("Hash chain intact: 3 record(s) verified"),
        "{}",
        stderr(&out)
    );

    // The checkpoint does, naming the first rewritten record.
    let before = std::fs::read_to_string(&cp).unwrap();
    let out = bed.run(&["audit", "--checkpoint", cp_arg, "--checkpoint-out", cp_arg]);
    assert!(
        !out.status.success(),
        "audit --checkpoint passed a rewritten chain"
    );
    let err = stderr(&out);
    assert_eq!(error_lines(&out), 1, "{err}");
    assert!(
        err.contains("the first rewritten record is grant-000001 (deleted and re-created and altered), 2 record(s) in all"),
        "{err}"
    );
    assert!(
        err.contains(
            "checkpoint: record grant-000002 (sequence 2) was deleted and re-created and altered"
        ),
        "{err}"
    );
    assert!(err.contains("No checkpoint written"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&cp).unwrap(),
        before,
        "the checkpoint was laundered"
    );
    let out = bed.run(&["audit", "--checkpoint", cp_arg, "-o", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["chain"]["intact"], true);
    assert_eq!(report["checkpoint"]["holds"], false);
    assert_eq!(report["checkpoint"]["rewritten"][0]["name"], "grant-000001");
    assert_eq!(
        report["checkpoint"]["rewritten"][0]["how"],
        serde_json::json!(["recreated", "altered"])
    );

    // A malformed checkpoint and one of another cluster: one error line each.
    let bad = bed.sb.path("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let out = bed.run(&["audit", "--checkpoint", bad.to_str().unwrap()]);
    assert_fails_with(
        &out,
        &["is not a break-glass chain checkpoint", "--checkpoint-out"],
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let mut other = c.clone();
    other["cluster"] = "https://other.example:6443".into();
    let other_path = bed.sb.path("other.json");
    std::fs::write(&other_path, other.to_string()).unwrap();
    let out = bed.run(&["audit", "--checkpoint", other_path.to_str().unwrap()]);
    assert_fails_with(
        &out,
        &["is of cluster https://other.example:6443", "--context"],
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}
