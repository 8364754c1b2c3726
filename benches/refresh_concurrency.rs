//! 64 kubectl processes at once while the person's cached ID token is stale: exactly
//! one refresh reaches the IdP (the others wait on the cache lock and read its result),
//! and what that costs each caller.
//!
//! `cargo bench --bench refresh_concurrency` (`BENCH_PROCESSES=N`, default 64). The IdP
//! issues 30-second ID tokens; alice logs in, the bench waits until the token is no
//! longer served (a quarter of its life before `exp`), then starts the kubectl processes
//! (`auth whoami` on the real API server) together. Each credential call is timed by
//! this bench standing in for the exec command (`wrap_exec`): it runs the plugin and
//! notes how long that took, so the figures are the plugin's own, not kubectl's.
//!
//! Needs the test bed's real API server (these figures mean nothing on the double):
//! kube-apiserver and etcd built once per machine by `tests/testbed/go/build` (Go 1.26+),
//! the IdP's packages (`npm ci --prefix tests/testbed/idp`, Node) and kubectl on PATH;
//! without Go it exits 1 saying so. A bench, never run by `cargo test`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // the report is this program's output

mod support;

use breakglass_testbed::idp::IdpConfig;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::bed::{must, wrap_exec, Bed};
use support::process::{load_average, ms, percentile};

/// Set on the kubectl processes: this bench then runs as their exec command.
const TIMES_FILE: &str = "BENCH_CREDENTIAL_TIMES";
const TTL: u64 = 30;

fn main() {
    if let Some(file) = std::env::var_os(TIMES_FILE) {
        std::process::exit(time_credential(&file));
    }
    let processes: usize = std::env::var("BENCH_PROCESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let bed = Bed::start(
        "refresh concurrency",
        IdpConfig {
            id_token_ttl: Duration::from_secs(TTL),
            ..IdpConfig::default()
        },
    );
    let timed = bed.path("timed-kubeconfig");
    wrap_exec(
        &bed.kubeconfig(),
        "playground",
        &std::env::current_exe().unwrap(),
        &timed,
    );
    let times = bed.path("credential-times");
    let whoami = || {
        let mut cmd = bed.kubectl(&["--context", "playground", "auth", "whoami", "-o", "json"]);
        cmd.env("KUBECONFIG", &timed)
            .env(TIMES_FILE, &times)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    std::fs::write(&times, b"").unwrap();
    bed.log_in();
    // Warms kubectl's discovery cache and checks the wrapped entry works.
    must(&mut whoami(), "kubectl auth whoami");
    // Stale: refresh_at is exp minus a quarter of the lifetime.
    std::thread::sleep(Duration::from_millis(TTL * 1000 * 3 / 4 + 700));
    std::fs::write(&times, b"").unwrap();
    let before = bed.runtime.block_on(bed.pg.idp.stats()).unwrap();

    let load_before = load_average();
    let started = Instant::now();
    let children: Vec<_> = (0..processes)
        .map(|_| (Instant::now(), whoami().spawn().unwrap()))
        .collect();
    let mut kubectl_times = Vec::with_capacity(processes);
    for (t, child) in children {
        let out = child.wait_with_output().unwrap();
        kubectl_times.push(t.elapsed());
        assert!(
            out.status.success()
                && String::from_utf8_lossy(&out.stdout).contains("alice@example.com"),
            "a kubectl call failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let all = started.elapsed();
    let load_after = load_average();
    let after = bed.runtime.block_on(bed.pg.idp.stats()).unwrap();
    let refreshes = after.refresh_requests() - before.refresh_requests();
    assert_eq!(refreshes, 1, "exactly one refresh at the IdP: {after:?}");
    assert_eq!(after.device_authorizations, before.device_authorizations);

    let credential_times: Vec<Duration> = std::fs::read_to_string(&times)
        .unwrap()
        .lines()
        .map(|l| Duration::from_nanos(l.parse().unwrap()))
        .collect();
    println!(
        "{processes} kubectl processes at once with a stale ID token on kube-apiserver {}, \
         load average {load_before} before, {load_after} after",
        bed.version()
    );
    println!(
        "  refreshes at the IdP: {refreshes}; all done in {:.0} ms",
        ms(all)
    );
    println!(
        "  credential calls: {} (kubectl's version dispatcher may call it too)",
        credential_times.len()
    );
    let show = |what: &str, t: &[Duration]| {
        println!(
            "  {what:<22} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
            ms(percentile(t, 50.0)),
            ms(percentile(t, 99.0)),
            ms(percentile(t, 100.0))
        );
    };
    show("credential time", &credential_times);
    show("kubectl auth whoami", &kubectl_times);
}

/// Stands in for the exec command: runs the plugin (first argument) with the rest,
/// stdio passed through, and appends its wall time in nanoseconds to `file`.
fn time_credential(file: &std::ffi::OsStr) -> i32 {
    let mut args = std::env::args_os().skip(1);
    let program = args.next().expect("the plugin to run");
    let t = Instant::now();
    let status = Command::new(program).args(args).status().unwrap();
    let took = t.elapsed();
    let mut out = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    // One short write per line: appends from concurrent callers do not interleave.
    out.write_all(format!("{}\n", took.as_nanos()).as_bytes())
        .unwrap();
    status.code().unwrap_or(1)
}
