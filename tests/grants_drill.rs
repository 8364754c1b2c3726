//! `drill` on the real Playground: a real grant through the request protocol, used,
//! revoked with confirmation, recorded as a drill; a person who may not break the glass
//! learns it from the drill, and nothing is created.

mod common;

use breakglass_testbed::apiserver::{FaultKind, FaultRule};
use common::grants::Bed;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_drills_and_leaves_nothing_live() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    // A real grant she holds must survive the drill, cache and context included.
    assert_ok(&bed.request(&["--role", "cluster-admin"]), "request");
    let kubeconfig = bed.kubeconfig_text();

    let out = bed.run(&["drill"]);
    let err = stderr(&out);
    assert_ok(&out, "drill");
    assert_no_jwt(&err);
    assert!(out.stdout.is_empty(), "drill writes to stderr only");
    for stage in ["identity", "policy", "grant", "use", "revoke"] {
        let line = err
            .lines()
            .find(|l| l.contains(&format!("PASS  {stage}")))
            .unwrap_or_else(|| panic!("no passed stage {stage} in:\n{err}"));
        assert!(
            line.contains(" s  "),
            "stage {stage} shows its time: {line}"
        );
    }
    assert!(
        err.contains(
            "the elevated token authenticates as system:serviceaccount:breakglass:incident-debug"
        ),
        "{err}"
    );
    assert!(err.contains("Drill passed"), "{err}");

    // The record: a drill, of the minimum duration, Revoked with a confirmed rejection.
    let records = bed.records();
    assert_eq!(records.len(), 2);
    let drill = &records[1];
    let spec = &drill["spec"];
    assert_eq!(spec["requester"], "alice@example.com");
    assert_eq!(spec["role"], "incident-debug");
    assert!(
        spec["reason"].as_str().unwrap().starts_with("[drill] "),
        "{spec}"
    );
    assert_eq!(spec["durationSeconds"], 600);
    assert_eq!(drill["status"]["state"], "Revoked");
    assert_eq!(drill["status"]["revokedBy"], "alice@example.com");
    assert_eq!(drill["status"]["revocationConfirmed"], true);
    let jti = drill["status"]["jti"].as_str().unwrap();
    assert!(err.contains(&format!("JTI={jti}")), "{err}");
    // Its token was used once, as the role's ServiceAccount, under its credential id.
    assert!(
        bed.pg.api.audit_log().iter().any(|e| {
            e.credential_id() == Some(&format!("JTI={jti}"))
                && e.user == "system:serviceaccount:breakglass:incident-debug"
        }),
        "the drill's token shows in the API server's audit log"
    );

    // No seal but the real grant's; the kubeconfig untouched; the real grant still works.
    bed.assert_no_seal_without_an_active_record();
    assert_eq!(bed.seals().len(), 1);
    assert_eq!(bed.kubeconfig_text(), kubeconfig);
    let who = bed.kubectl_elevated(&["auth", "whoami", "-o", "json"]);
    assert_ok(&who, "the real grant after the drill");
    assert!(stdout(&who).contains("system:serviceaccount:breakglass:cluster-admin"));

    // The audit shows both, the chain whole.
    let out = bed.run(&["audit"]);
    assert_ok(&out, "audit");
    assert!(stdout(&out).contains("[drill]"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_learns_from_the_drill_that_he_may_not() {
    let bed = Bed::start().await;
    bed.login("bob").await;
    let out = bed.run(&["drill"]);
    assert_fails_with(
        &out,
        &[
            "FAIL  policy",
            "error: the break-glass drill failed at stage policy: bob@example.com may not request role incident-debug: it needs membership of group sre",
            "nothing was created",
        ],
    );
    assert!(stderr(&out).contains("PASS  identity"), "{}", stderr(&out));
    assert!(bed.records().is_empty());
    assert!(bed.seals().is_empty());
}

fn fail_once(bed: &Bed, method: &str, path: &str, call: u32) {
    bed.pg.api.faults().add(FaultRule {
        method: Some(method.into()),
        path_contains: path.into(),
        on_calls: call..=call,
        kind: FaultKind::Status(500),
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stage_still_takes_the_grant_back() {
    let bed = Bed::start().await;
    bed.login("alice").await;

    // The elevated token's first SelfSubjectReview (the second in all) fails: the use
    // stage fails, and the grant is revoked with confirmation all the same.
    fail_once(&bed, "POST", "/selfsubjectreviews", 2);
    let out = bed.run(&["drill"]);
    assert_fails_with(
        &out,
        &[
            "FAIL  use",
            "PASS  revoke",
            "failed at stage use: presenting the drill's elevated token: the cluster answered 500",
            "grant grant-000001 was taken back",
        ],
    );
    let r = &bed.records()[0];
    assert_eq!(r["status"]["state"], "Revoked");
    assert_eq!(r["status"]["revocationConfirmed"], true);
    assert!(bed.seals().is_empty());

    // Deleting the seal fails once: the revocation fails, and the undo (which retries)
    // deletes the seal and marks the record Failed.
    bed.pg.api.faults().clear();
    fail_once(
        &bed,
        "DELETE",
        "/secrets/grant-000002-incident-debug-seal",
        1,
    );
    let out = bed.run(&["drill"]);
    assert_fails_with(
        &out,
        &[
            "FAIL  revoke",
            "failed at stage revoke: deleting seal grant-000002-incident-debug-seal: the cluster answered 500",
            "deleted seal grant-000002-incident-debug-seal",
            "marked record grant-000002 Failed",
        ],
    );
    let r = &bed.records()[1];
    assert_eq!(r["status"]["state"], "Failed");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .starts_with("[drill] revocation failed"),
        "{r}"
    );
    assert!(bed.seals().is_empty());
}
