//! The exec credential's hot path as a whole process: `credential` with a
//! valid ID token in the kernel keyring, against `/bin/true`, same run.
//!
//! `cargo bench --bench credential_cache_hit` builds the plugin with the
//! bench (release) profile, logs in once against the test bed's real IdP
//! (oidc-provider under node) so the cache holds a genuine token, then runs
//! both commands N times, interleaved, and prints medians and their ratio.
//! `BENCH_RUNS` overrides N (default 300). Target: at most 3× `/bin/true`.

#![allow(clippy::print_stdout)] // the report is this program's output

use breakglass_testbed::idp::{Idp, IdpConfig};
use breakglass_testbed::tls::Ca;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-breakglass");
const EXEC_INFO: &str = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.crt");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ca = Ca::generate().unwrap();
    ca.write_cert(&ca_file).unwrap();
    let idp = runtime
        .block_on(Idp::start(
            IdpConfig {
                id_token_ttl: Duration::from_secs(3600),
                ..IdpConfig::default()
            },
            &ca,
        ))
        .unwrap();
    let idp_args = [
        "--issuer".to_string(),
        idp.issuer().to_string(),
        "--client-id".to_string(),
        idp.client_id().to_string(),
        "--ca-file".to_string(),
        ca_file.display().to_string(),
    ];
    let plugin = |args: &[&str]| {
        let mut cmd = Command::new(PLUGIN);
        cmd.env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_RUNTIME_DIR", dir.path())
            .arg("--token-cache")
            .arg("keyutils")
            .args(args)
            .args(&idp_args);
        cmd
    };

    // Log in once, approving like a person would.
    let login = plugin(&["login", "--no-browser"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    runtime.block_on(async {
        let code = idp
            .wait_for_pending_user_code(Duration::from_secs(30))
            .await
            .unwrap();
        idp.approve(&code, "alice").await.unwrap();
    });
    let out = login.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "login failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut credential = plugin(&["credential"]);
    credential
        .env("KUBERNETES_EXEC_INFO", EXEC_INFO)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let check = credential.output().unwrap();
    assert!(
        check.status.success(),
        "credential failed: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("\"token\""),
        "no ExecCredential on stdout"
    );
    let before = runtime
        .block_on(idp.stats())
        .unwrap()
        .total_token_requests();

    let mut truecmd = Command::new("/bin/true");
    truecmd.stdout(Stdio::null());
    credential.stdout(Stdio::null()).stderr(Stdio::null());
    let time = |cmd: &mut Command| {
        let t = Instant::now();
        let status = cmd.status().unwrap();
        let elapsed = t.elapsed();
        assert!(status.success());
        elapsed
    };
    // Warm both up, then interleave so drift hits both equally.
    for _ in 0..10 {
        time(&mut credential);
        time(&mut truecmd);
    }
    let (mut plugin_times, mut true_times) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        plugin_times.push(time(&mut credential));
        true_times.push(time(&mut truecmd));
    }
    let after = runtime
        .block_on(idp.stats())
        .unwrap()
        .total_token_requests();
    assert_eq!(
        before, after,
        "the cache-hit path made token requests: not a cache hit"
    );

    let _ = plugin(&["logout"]).stderr(Stdio::null()).status();
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (p, t) = (median(&mut plugin_times), median(&mut true_times));
    let ratio = p.as_secs_f64() / t.as_secs_f64();
    println!("credential cache hit (keyutils), {runs} runs");
    println!(
        "  kubectl-breakglass credential  median {:>8.3} ms",
        p.as_secs_f64() * 1e3
    );
    println!(
        "  /bin/true                      median {:>8.3} ms",
        t.as_secs_f64() * 1e3
    );
    println!("  ratio                          {ratio:.2}x  (target <= 3x)");
}
