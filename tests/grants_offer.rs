//! The interactive offer of a `<context>-breakglass` context, the way a person meets it:
//! real kubectl at a terminal (a pseudo-terminal from `script`), with the default token
//! cache (`keyring`, which is the kernel keyring where no Secret Service runs).

mod common;

use breakglass_testbed::playground::kubectl;
use common::grants::Bed;
use common::*;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// `kubectl ARGS` under a pseudo-terminal (so kubectl calls the exec credential with
/// `interactive: true`), typing `input`; the terminal's transcript and the exit status.
fn kubectl_at_a_terminal(bed: &Bed, args: &[&str], input: &str) -> (String, bool) {
    let line = std::iter::once(kubectl().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    bed.sb.env(&mut cmd);
    cmd.env("KUBECONFIG", bed.pg.kubeconfig_path())
        .env("BREAKGLASS_TOKEN_CACHE", &bed.sb.cache)
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("script(1) from util-linux/bsdutils");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    // Kept open until kubectl is done: an early end of input would reach it as ^D.
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let transcript = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    (transcript, out.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offer_at_a_terminal_asks_how_long_and_serves_the_new_token_at_once() {
    let mut bed = Bed::start().await;
    bed.sb.cache = "keyring".to_string();
    bed.login("alice").await;
    assert_ok(&bed.request(&["--role", "cluster-admin"]), "request");
    assert_ok(&bed.run(&["revoke"]), "revoke");

    // Reason, ticket, and Enter for the proposed duration.
    let (transcript, ok) = kubectl_at_a_terminal(
        &bed,
        &["--context", "playground-breakglass", "auth", "whoami"],
        "etcd lost quorum, need to look\nINC-42\n\n",
    );
    assert!(ok, "kubectl failed:\n{transcript}");
    for said in [
        "no active break-glass grant for playground (role cluster-admin)",
        "Break the glass now as cluster-admin?",
        // The policy sets no defaultDuration: the shortest grant, never the role's maximum.
        "For how long? (Enter for 10m; from 10m to 1h",
        "Break-glass grant grant-000002: alice@example.com acts as cluster-admin",
        // The same kubectl call, served the new token.
        "system:serviceaccount:breakglass:cluster-admin",
    ] {
        assert!(transcript.contains(said), "{said:?} not in:\n{transcript}");
    }
    assert!(!transcript.contains("error"), "{transcript}");
    assert_no_jwt(&transcript);
    let records = bed.records();
    assert_eq!(records.len(), 2);
    let spec = &records[1]["spec"];
    assert_eq!(spec["reason"], "etcd lost quorum, need to look");
    assert_eq!(spec["ticket"], "INC-42");
    assert_eq!(spec["durationSeconds"], 600);
    assert_eq!(records[1]["status"]["state"], "Active");

    // The next call is an ordinary cache hit, without a terminal.
    assert_ok(
        &bed.kubectl_elevated(&["auth", "whoami"]),
        "kubectl after the offer",
    );
    // The keyring items are the kernel's, shared beyond this test: take them back.
    assert_ok(&bed.run(&["revoke"]), "revoke");
    assert_ok(&bed.run(&["logout"]), "logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offer_proposes_the_policys_default_duration_capped_at_the_role() {
    let mut bed = Bed::start().await;
    bed.sb.cache = "keyring".to_string();
    bed.login("alice").await;
    bed.patch_policy(
        serde_json::json!({ "defaultDuration": "20m", "cluster-admin.maxDuration": "15m" }),
    );
    assert_ok(&bed.request(&["--role", "cluster-admin"]), "request");
    // request without --duration takes the default too, capped at the role's maximum.
    assert_eq!(bed.records()[0]["spec"]["durationSeconds"], 900);
    assert_ok(&bed.run(&["revoke"]), "revoke");
    bed.patch_policy(serde_json::json!({ "cluster-admin.maxDuration": "1h" }));

    let (transcript, ok) = kubectl_at_a_terminal(
        &bed,
        &["--context", "playground-breakglass", "auth", "whoami"],
        "etcd lost quorum, need to look\n\n\n",
    );
    assert!(ok, "kubectl failed:\n{transcript}");
    assert!(
        transcript.contains("For how long? (Enter for 20m; from 10m to 1h"),
        "{transcript}"
    );
    assert_eq!(bed.records()[1]["spec"]["durationSeconds"], 1200);
    assert_ok(&bed.run(&["revoke"]), "revoke");
    assert_ok(&bed.run(&["logout"]), "logout");
}
