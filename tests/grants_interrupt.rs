//! Ctrl-C (SIGINT), a closed terminal (SIGHUP) or a kill (SIGTERM) in the middle of a
//! request, a drill or a revoke, sent to the real plugin process while the API double
//! holds the protocol at a chosen step: nothing half-made is left, the record says why,
//! and the person is told what was cleaned up.

mod common;

use breakglass_testbed::apiserver::{FaultKind, FaultRule};
use common::grants::Bed;
use common::*;
use serde_json::Value;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// Long enough that only the signal can end the held step within the test's patience.
const HOLD: Duration = Duration::from_secs(60);
/// How long the plugin may take to clean up after a signal.
const PATIENCE: Duration = Duration::from_secs(20);

fn hold(bed: &Bed, method: &str, path: &str, call: u32) {
    bed.pg.api.faults().clear();
    bed.pg.api.faults().add(FaultRule {
        method: Some(method.into()),
        path_contains: path.into(),
        on_calls: call..=call,
        kind: FaultKind::Latency(HOLD),
    });
}

fn spawn(bed: &Bed, args: &[&str]) -> Child {
    bed.plugin(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn kill(child: &Child, signal: &str) {
    let out = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .output()
        .unwrap();
    assert_ok(&out, &format!("kill {signal}"));
}

/// Waits for the child, failing if it is still running after `PATIENCE`.
async fn finished(child: Child) -> Output {
    let started = Instant::now();
    let out = tokio::time::timeout(PATIENCE, wait(child))
        .await
        .expect("the plugin ends soon after the signal, without waiting for the held step");
    assert!(started.elapsed() < PATIENCE);
    out
}

/// Polls (as admin) until `ready` holds for the records and seals.
async fn until(bed: &Bed, what: &str, ready: impl Fn(&[Value], &[Value]) -> bool) {
    for _ in 0..100 {
        if ready(&bed.records(), &bed.seals()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The person's elevated credential for the playground's role, non-interactive.
fn cached_credential(bed: &Bed) -> Output {
    let out = bed.kubectl(&[
        "config",
        "view",
        "--minify",
        "--context",
        "playground",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
    ]);
    assert_ok(&out, "kubectl config view");
    let server = stdout(&out);
    bed.plugin(&[
        "credential",
        "--elevated",
        "--server",
        &server,
        "--role",
        "incident-debug",
        "--account",
        "alice@example.com",
        "--origin-context",
        "playground",
    ])
    .env("KUBERNETES_EXEC_INFO", exec_info(V1, false))
    .output()
    .unwrap()
}

#[track_caller]
fn assert_stopped_by(out: &Output, code: i32, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(code), "stderr:\n{}", stderr(out));
    assert_fails_with(out, needles);
    let err = stderr(out);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error: ")).count(),
        1,
        "one error line:\n{err}"
    );
    assert_no_jwt(&err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_request_is_taken_back_and_says_so() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    let kubeconfig = bed.kubeconfig_text();
    let request = ["request", "--reason", "checkout is down, need to look"];

    // Ctrl-C while the token is being issued: the record and the seal exist.
    hold(&bed, "POST", "/serviceaccounts/incident-debug/token", 1);
    let child = spawn(&bed, &request);
    until(&bed, "record and seal", |r, s| r.len() == 1 && s.len() == 1).await;
    kill(&child, "-INT");
    let out = finished(child).await;
    assert_stopped_by(
        &out,
        130,
        &[
            "interrupted by the requester (SIGINT)",
            "deleted seal grant-000001-incident-debug-seal",
            "marked record grant-000001 Failed",
        ],
    );
    assert!(bed.seals().is_empty(), "no seal is left");
    let r = &bed.records()[0];
    assert_eq!(r["status"]["state"], "Failed", "{r}");
    assert_eq!(
        r["status"]["message"], "interrupted by the requester (SIGINT)",
        "{r}"
    );
    assert_eq!(bed.kubeconfig_text(), kubeconfig, "no context written");
    assert_fails_with(&cached_credential(&bed), &["no active break-glass grant"]);

    // The terminal closes while the jti is being recorded: the token was issued, and dies.
    hold(&bed, "PATCH", "/breakglassgrants/grant-000002/status", 1);
    let child = spawn(&bed, &request);
    until(&bed, "the second record issued", |r, s| {
        r.len() == 2 && s.len() == 1
    })
    .await;
    // The token request comes between the seal and the held annotation.
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill(&child, "-HUP");
    let out = finished(child).await;
    assert_stopped_by(
        &out,
        129,
        &[
            "interrupted by the requester (SIGHUP)",
            "deleted seal grant-000002-incident-debug-seal",
            "marked record grant-000002 Failed",
        ],
    );
    assert!(bed.seals().is_empty(), "no seal is left");
    let r = &bed.records()[1];
    assert_eq!(r["status"]["state"], "Failed", "{r}");
    assert_eq!(
        r["status"]["message"], "interrupted by the requester (SIGHUP)",
        "{r}"
    );
    assert_eq!(bed.kubeconfig_text(), kubeconfig, "no context written");
    assert_fails_with(&cached_credential(&bed), &["no active break-glass grant"]);

    // Without a signal the same request goes through, and the same check sees its token:
    // the Failed records block nothing, and the cache check above could have failed.
    bed.pg.api.faults().clear();
    assert_ok(&bed.run(&request), "request after the interrupts");
    assert_ok(&cached_credential(&bed), "the cached grant");
    bed.assert_no_seal_without_an_active_record();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_drill_revokes_its_grant() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    // The drill's first SelfSubjectReview is its identity stage, the second its use stage.
    hold(&bed, "POST", "/selfsubjectreviews", 2);
    let child = spawn(&bed, &["drill"]);
    until(&bed, "the drill's grant", |r, _| {
        r.first().is_some_and(|r| r["status"]["state"] == "Active")
    })
    .await;
    // The Granted Event is the last call before the use stage.
    for _ in 0..100 {
        let log = bed.pg.api.audit_log();
        if log
            .iter()
            .any(|e| e.method == "POST" && e.path.contains("/events"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill(&child, "-INT");
    let out = finished(child).await;
    assert_stopped_by(
        &out,
        130,
        &[
            "FAIL  use",
            "interrupted by the requester (SIGINT)",
            "PASS  revoke",
            "the break-glass drill was interrupted (SIGINT) at stage use",
            "grant grant-000001 is revoked",
        ],
    );
    assert!(bed.seals().is_empty(), "no seal is left");
    let r = &bed.records()[0];
    assert_eq!(r["status"]["state"], "Revoked", "{r}");
    assert_eq!(r["status"]["revokedBy"], "alice@example.com");
    assert_eq!(r["status"]["revocationConfirmed"], true, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_revoke_records_what_it_knows() {
    let bed = Bed::start_double().await;
    bed.login("alice").await;
    assert_ok(&bed.request(&["--role", "incident-debug"]), "request");
    // The server vouches for a token it has checked for a minute: the rejection that
    // `revoke` waits for does not come before the signal.
    bed.pg.api.set_token_auth_cache_ttl(Duration::from_secs(60));
    assert_ok(&bed.kubectl_elevated(&["auth", "whoami"]), "use the grant");
    let child = spawn(&bed, &["revoke"]);
    until(&bed, "the seal deleted", |_, s| s.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill(&child, "-TERM");
    let out = finished(child).await;
    assert_stopped_by(
        &out,
        143,
        &[
            "NOT CONFIRMED: interrupted (SIGTERM) before the cluster was seen to reject its token",
            "grant-000001: seal deleted and revocation recorded",
        ],
    );
    let r = &bed.records()[0];
    assert_eq!(r["status"]["state"], "Revoked", "{r}");
    assert_eq!(r["status"]["revocationConfirmed"], false, "{r}");
    // The local cache is wiped all the same.
    assert_fails_with(&cached_credential(&bed), &["no active break-glass grant"]);

    // Ctrl-C while the seal is being deleted: the deletion finishes (it is the point of
    // revoking), the wait for the rejection is skipped, the record says what is known.
    assert_ok(&bed.request(&[]), "a second grant");
    assert_ok(&bed.kubectl_elevated(&["auth", "whoami"]), "use it");
    let slow = Duration::from_secs(3);
    bed.pg.api.faults().add(FaultRule {
        method: Some("DELETE".into()),
        path_contains: "/secrets/grant-000002-incident-debug-seal".into(),
        on_calls: 1..=1,
        kind: FaultKind::Latency(slow),
    });
    let lists_before = grant_lists(&bed);
    let started = Instant::now();
    let child = spawn(&bed, &["revoke"]);
    // Reading the records is the revoke's last call before the held deletion.
    while grant_lists(&bed) == lists_before {
        assert!(
            started.elapsed() < PATIENCE,
            "revoke never read the records"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill(&child, "-INT");
    let out = finished(child).await;
    assert!(
        started.elapsed() < slow + Duration::from_secs(10),
        "no 30 s wait for a rejection after the signal"
    );
    assert_stopped_by(
        &out,
        130,
        &[
            "SIGINT received: deleting seal grant-000002-incident-debug-seal first",
            "NOT CONFIRMED: interrupted (SIGINT) before the cluster was seen to reject its token",
            "grant-000002: seal deleted and revocation recorded",
        ],
    );
    assert!(bed.seals().is_empty(), "the seal is deleted");
    let r = &bed.records()[1];
    assert_eq!(r["status"]["state"], "Revoked", "{r}");
    assert_eq!(r["status"]["revocationConfirmed"], false, "{r}");
}

/// How many times the person has listed the grant records.
fn grant_lists(bed: &Bed) -> usize {
    bed.pg
        .api
        .audit_log()
        .iter()
        .filter(|e| {
            e.method == "GET"
                && e.path
                    .split('?')
                    .next()
                    .unwrap()
                    .ends_with("/breakglassgrants")
                && e.user == "alice@example.com"
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_abandons_the_clean_up_and_says_how_to_finish_it() {
    let bed = Bed::start().await;
    bed.login("alice").await;
    // The token request is held, and so is the seal's deletion the clean-up starts with.
    hold(&bed, "POST", "/serviceaccounts/incident-debug/token", 1);
    bed.pg.api.faults().add(FaultRule {
        method: Some("DELETE".into()),
        path_contains: "/secrets/grant-000001-incident-debug-seal".into(),
        on_calls: 1..=1,
        kind: FaultKind::Latency(HOLD),
    });
    let child = spawn(
        &bed,
        &["request", "--reason", "checkout is down, need to look"],
    );
    until(&bed, "record and seal", |r, s| r.len() == 1 && s.len() == 1).await;
    kill(&child, "-INT");
    // The clean-up says it started, and how to abandon it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill(&child, "-INT");
    let out = finished(child).await;
    assert_stopped_by(
        &out,
        130,
        &[
            "SIGINT received: taking back what this request created; press Ctrl-C again",
            "the clean-up was abandoned at a second SIGINT",
            "May be left: record grant-000001 and maybe its seal grant-000001-incident-debug-seal",
            "finish with: kubectl breakglass revoke grant-000001 --context playground",
        ],
    );
    assert_eq!(bed.seals().len(), 1, "the held deletion never happened");

    // What it says to run finishes the job.
    bed.pg.api.faults().clear();
    let out = bed.run(&["revoke", "grant-000001", "--context", "playground"]);
    assert_ok(&out, "the revoke the message names");
    assert!(bed.seals().is_empty(), "no seal is left");
    // Never issued, so Failed (a Pending record cannot become Revoked).
    let status = &bed.records()[0]["status"];
    assert_eq!(status["state"], "Failed");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with("revoked by alice@example.com at "),
        "{status}"
    );
}
