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

#[test]
fn durations_are_go_durations_only() {
    let sb = sandbox();
    let duration = |d: &str| {
        let out = sb
            .plugin(&["request", "--reason", "checkout is down", "--duration", d])
            .output()
            .unwrap();
        assert_fails_with(&out, &[&format!("error: invalid --duration {d:?}: ")]);
        let err = stderr(&out);
        assert!(err.contains("90m, 1h30m, 1.5h, 45s"), "{err}");
        err
    };
    assert!(duration("10M").contains("\"M\" is not a unit (units are case-sensitive"));
    assert!(duration("10 minutes").contains("a duration has no spaces"));
    assert!(duration("1d").contains("\"d\" is not a unit"));
    assert!(duration("300ms").contains("below a second"));
    assert!(duration("99999999999h").contains("longer than any duration can be"));
    // The same parser for audit --since: no days, no years, and no overflow.
    for since in ["300000y", "7days", "99999999999h"] {
        let out = sb.plugin(&["audit", "--since", since]).output().unwrap();
        assert_fails_with(&out, &[&format!("error: invalid --since {since:?}: ")]);
    }
}
