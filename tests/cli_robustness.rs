//! The plugin in hostile or broken surroundings, without a cluster: a stderr nobody reads,
//! durations people mistype. No panic (exit 101), always a clean outcome.

mod common;

use common::*;
use std::process::Stdio;

fn sandbox() -> Sandbox {
    let ca = breakglass_testbed::tls::Ca::generate().unwrap();
    Sandbox::new("https://idp.example.invalid", "kubectl-breakglass", &ca)
}

/// Runs `args` with stderr a pipe whose reader has gone (`cmd 2>&1 | true` after `true`
/// exited): every write to it fails with EPIPE.
fn with_dead_stderr(sb: &Sandbox, args: &[&str]) -> std::process::ExitStatus {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    sb.plugin(args)
        .stdout(Stdio::null())
        .stderr(Stdio::from(writer))
        .status()
        .unwrap()
}

#[test]
fn a_closed_stderr_is_no_panic() {
    let sb = sandbox();
    // Failures still exit 1, not 101 (the panic of eprintln! on EPIPE).
    for args in [
        &["request", "--reason", "checkout is down, need to look"][..],
        &["status"],
        &["credential"],
        &["request", "--reason", "x", "--duration", "10M"],
        &["audit", "--since", "300000y"],
    ] {
        let status = with_dead_stderr(&sb, args);
        assert_eq!(status.code(), Some(1), "{args:?}: {status}");
    }
    // A command that succeeds still succeeds when nobody reads what it says.
    let status = with_dead_stderr(
        &sb,
        &[
            "logout",
            "--issuer",
            "https://idp.example.invalid",
            "--client-id",
            "kubectl-breakglass",
        ],
    );
    assert_eq!(status.code(), Some(0), "{status}");
}
