//! Faults at each step of a request (5xx, dropped connection, 409): never a seal without a
//! record, never a live token without a record, and the person is told what happened and
//! what was cleaned up.

mod common;

use breakglass_testbed::apiserver::{FaultKind, FaultRule};
use common::grants::Bed;
use common::*;

struct Step {
    method: &'static str,
    path: &'static str,
    /// What the error names.
    says: &'static str,
    /// What the cleanup reports.
    cleanup: &'static str,
}

const STEPS: &[Step] = &[
    Step {
        method: "POST",
        path: "/breakglassgrants",
        says: "writing the grant record",
        cleanup: "othing was created",
    },
    Step {
        method: "POST",
        path: "/namespaces/breakglass/secrets",
        says: "creating the seal grant-",
        cleanup: "Failed (records are kept as the audit trail)",
    },
    Step {
        method: "POST",
        path: "/serviceaccounts/incident-debug/token",
        says: "requesting a token for ServiceAccount breakglass/incident-debug",
        cleanup: "deleted seal grant-",
    },
    Step {
        method: "PATCH",
        path: "/status",
        says: "recording the token's jti on grant-",
        cleanup: "deleted seal grant-",
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_at_any_step_leaves_nothing_live_and_says_what_happened() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    for step in STEPS {
        for kind in [FaultKind::Status(500), FaultKind::Drop, FaultKind::Conflict] {
            if step.path == "/breakglassgrants" && kind == FaultKind::Conflict {
                continue; // a 409 there is a lost race for the chain position: retried, below
            }
            let before = bed.records().len();
            bed.pg.api.faults().clear();
            bed.pg.api.faults().add(FaultRule {
                method: Some(step.method.into()),
                path_contains: step.path.into(),
                on_calls: 1..=1,
                kind: kind.clone(),
            });
            let out = bed.request(&[]);
            let what = format!("{} {} {kind:?}", step.method, step.path);
            assert_fails_with(&out, &[step.says, step.cleanup]);
            let err = stderr(&out);
            assert_eq!(
                err.lines().filter(|l| l.starts_with("error: ")).count(),
                1,
                "{what}: one error line:\n{err}"
            );
            let records = bed.records();
            if step.path == "/breakglassgrants" {
                assert_eq!(records.len(), before, "{what}: no record");
            } else {
                assert_eq!(records.len(), before + 1, "{what}");
                let r = records.last().unwrap();
                assert_eq!(r["status"]["state"], "Failed", "{what}: {r}");
                let message = r["status"]["message"].as_str().unwrap();
                assert!(message.contains(step.says), "{what}: {message}");
            }
            assert!(bed.seals().is_empty(), "{what}: no seal left");
            bed.assert_no_seal_without_an_active_record();
            assert!(
                !bed.kubeconfig_text().contains("playground-breakglass"),
                "{what}: no context written"
            );
        }
    }

    // A 409 on the record is another request taking our place in the chain: re-read, retry.
    bed.pg.api.faults().clear();
    bed.pg.api.faults().add(FaultRule {
        method: Some("POST".into()),
        path_contains: "/breakglassgrants".into(),
        on_calls: 1..=1,
        kind: FaultKind::Conflict,
    });
    let out = bed.request(&[]);
    assert_ok(&out, "request after a 409 on the record");
    // An Event that cannot be written does not take the grant back: the record is the audit.
    bed.pg.api.faults().add(FaultRule {
        method: Some("POST".into()),
        path_contains: "/events".into(),
        on_calls: 1..=1,
        kind: FaultKind::Status(503),
    });
    let out = bed.request(&["--additional", "--role", "cluster-admin"]);
    assert_ok(&out, "request with a failing Event");
    assert!(
        stderr(&out).contains("warning: the Granted Event was not written"),
        "{}",
        stderr(&out)
    );
    let records = bed.records();
    let active: Vec<_> = records
        .iter()
        .filter(|r| r["status"]["state"] == "Active")
        .collect();
    assert_eq!(active.len(), 2);
    assert_eq!(bed.seals().len(), 2);
    bed.assert_no_seal_without_an_active_record();
    assert_ok(
        &bed.kubectl_elevated(&["auth", "whoami"]),
        "the grant works",
    );
    // Failed records stay in the chain: every link is intact.
    for pair in records.windows(2) {
        assert_eq!(
            pair[1]["spec"]["previous"]["name"],
            pair[0]["metadata"]["name"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seal_forged_without_a_record_dies_with_its_token() {
    let bed = Bed::start().await;
    // An admin-made seal whose owner record does not exist: the garbage collector removes it
    // (the admission policy refuses it first; this is the second line of defence).
    bed.drop_admission();
    let seal = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "breakglass.dev/seal",
        "metadata": {
            "name": "grant-999999-seal", "namespace": "breakglass",
            "labels": {"breakglass.dev/seal": "true"},
            "ownerReferences": [{
                "apiVersion": "breakglass.dev/v1alpha1", "kind": "BreakGlassGrant",
                "name": "grant-999999", "uid": "00000000-0000-0000-0000-000000000000"
            }]
        }
    });
    let file = bed.sb.path("seal.json");
    std::fs::write(&file, seal.to_string()).unwrap();
    let out = bed.kubectl(&[
        "--context",
        "playground-admin",
        "create",
        "-f",
        file.to_str().unwrap(),
    ]);
    assert_ok(&out, "create a forged seal");
    // A real garbage collector learns of a CRD installed after it started at its next
    // resource discovery (every 30 s); until then it cannot resolve the owner's kind.
    let mut gone = false;
    for _ in 0..450 {
        if bed.seals().is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        gone,
        "the garbage collector deletes a seal without a record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_that_cannot_be_recorded_says_so_and_can_be_retried() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "request");
    bed.pg.api.faults().add(FaultRule {
        method: Some("PATCH".into()),
        path_contains: "/status".into(),
        on_calls: 1..=1,
        kind: FaultKind::Status(503),
    });
    let out = bed.run(&["revoke"]);
    assert_fails_with(
        &out,
        &[
            "grant-000001 is not on its record yet",
            "run the same revoke again",
        ],
    );
    assert!(
        bed.seals().is_empty(),
        "the seal is gone: the token is dead"
    );
    assert_eq!(bed.records()[0]["status"]["state"], "Active");

    let out = bed.run(&["revoke", "grant-000001"]);
    assert_ok(&out, "revoke again");
    assert!(
        stderr(&out).contains("the seal was already deleted"),
        "{}",
        stderr(&out)
    );
    let r = &bed.records()[0];
    assert_eq!(r["status"]["state"], "Revoked");
    assert_eq!(r["status"]["revokedBy"], "alice@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_made_record_cannot_block_the_chain_nor_crash_the_plugin() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    assert_ok(&bed.request(&[]), "first request");
    let first = bed.records()[0].clone();
    bed.drop_admission();
    // Squat the next name with an old sequence.
    let out = bed.admin_create(&Bed::forged_record(&first, "grant-000002", 1));
    assert_ok(&out, "create the squatter");

    let out = bed.request(&["--additional", "--role", "cluster-admin"]);
    assert_ok(&out, "request past the squatter");
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("chain")).collect();
    assert_eq!(
        warnings,
        ["warning: the grant record chain is broken at grant-000002 (misnumbered); shown once on \
          this machine — see it with: kubectl breakglass audit --context playground"],
        "{err}"
    );
    let names: Vec<String> = bed
        .records()
        .iter()
        .map(|r| r["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["grant-000001", "grant-000002", "grant-000003"]);
    let third = &bed.records()[2];
    assert_eq!(third["spec"]["sequence"], 3);
    assert_eq!(third["spec"]["previous"]["name"], "grant-000002");
    assert_eq!(third["status"]["state"], "Active");
    // Known now: status does not repeat it; audit always reports it.
    let status = bed.run(&["status"]);
    assert_ok(&status, "status");
    assert!(!stderr(&status).contains("chain"), "{}", stderr(&status));
    let audit = bed.run(&["audit"]);
    assert!(!audit.status.success());
    assert!(
        stderr(&audit).contains("chain break at grant-000002 (misnumbered)"),
        "{}",
        stderr(&audit)
    );

    // A record past the CRD's maximum is kept out by the CRD.
    let out = bed.admin_create(&Bed::forged_record(&first, "grant-999999", i64::MAX));
    assert!(!out.status.success(), "the CRD bounds sequence");
    assert!(stderr(&out).contains("sequence"), "{}", stderr(&out));
    // A record squatting the last place the CRD allows, far past the head, is passed over:
    // the chain goes on from its real head.
    let out = bed.admin_create(&Bed::forged_record(&first, "grant-999999999", 999_999_999));
    assert_ok(&out, "create a record at the last place");
    assert_ok(
        &bed.run(&["revoke", "grant-000003"]),
        "revoke the cluster-admin grant",
    );
    let out = bed.request(&["--additional", "--role", "cluster-admin"]);
    assert_ok(&out, "request past the far squatter");
    assert!(stderr(&out).contains("grant-000004"), "{}", stderr(&out));
    assert_ok(
        &bed.run(&["revoke", "grant-000004"]),
        "revoke the cluster-admin grant",
    );
    // A head that claims the last place: the next request is refused cleanly.
    let out = bed.admin_create(&Bed::forged_record(&first, "grant-000005", 999_999_999));
    assert_ok(&out, "create a head claiming the last place");
    let out = bed.request(&["--additional", "--role", "cluster-admin"]);
    assert_fails_with(
        &out,
        &[
            "grant-000005 claims chain place 999999999, the last one possible",
            "nothing was created",
            "kubectl breakglass audit --context playground",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "a clean refusal, not a panic");
    assert_eq!(bed.records().len(), 6);
}
