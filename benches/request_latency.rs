//! `request` end to end, as the whole process a person runs, beside `kubectl create
//! token` against the same real API server in the same run.
//!
//! `request` authenticates as the person, reads the policy, finds the chain's head,
//! writes the record, the seal and the token request, annotates the record, emits an
//! Event, caches the token and writes the kubeconfig context; `kubectl create token`
//! (Go start-up, and with /usr/bin/kubectl the version dispatcher's /version call) makes
//! one TokenRequest for an ordinary ServiceAccount as the admin. Target: `request` at
//! most 1.0× its median.
//!
//! `cargo bench --bench request_latency` (`BENCH_RUNS=N`, default 10). Each run: request,
//! kubectl create token, then `revoke` (not timed: it waits until the API server rejects
//! the token, ~10 s) so the next request is not refused as a second live grant.
//!
//! Needs the test bed's real API server (these figures mean nothing on the double):
//! kube-apiserver and etcd built once per machine by `tests/testbed/go/build` (Go 1.26+),
//! the IdP's packages (`npm ci --prefix tests/testbed/idp`, Node) and kubectl on PATH;
//! without Go it exits 1 saying so. A bench, never run by `cargo test`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // the report is this program's output

mod support;

use breakglass_testbed::idp::IdpConfig;
use std::process::Stdio;
use std::time::Duration;
use support::bed::{must, Bed};
use support::process::{load_average, median, ms, percentile, time};

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let bed = Bed::start(
        "request latency",
        IdpConfig {
            id_token_ttl: Duration::from_secs(3600),
            ..IdpConfig::default()
        },
    );
    bed.log_in();
    let admin = |args: &[&str]| {
        let mut cmd = bed.kubectl(&["--context", "playground-admin"]);
        cmd.args(args);
        cmd
    };
    must(
        &mut admin(&["create", "namespace", "bench"]),
        "create namespace",
    );
    must(
        &mut admin(&["create", "serviceaccount", "bench", "-n", "bench"]),
        "create serviceaccount",
    );
    let mut request = bed.plugin(&[
        "--context",
        "playground",
        "request",
        "--reason",
        "benchmark of request latency",
        "--role",
        "incident-debug",
        "--duration",
        "10m",
    ]);
    let mut create_token = admin(&[
        "create",
        "token",
        "bench",
        "-n",
        "bench",
        "--duration",
        "10m",
    ]);
    // Timed runs print nothing: the token `kubectl create token` prints stays unseen.
    for cmd in [&mut request, &mut create_token] {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    // Warm both (kubectl's discovery cache, the API server's first use of each path).
    time(&mut create_token);
    time(&mut request);
    must(
        &mut bed.plugin(&["--context", "playground", "revoke"]),
        "revoke",
    );

    let load_before = load_average();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..runs {
        ours.push(time(&mut request));
        theirs.push(time(&mut create_token));
        must(
            &mut bed.plugin(&["--context", "playground", "revoke"]),
            "revoke",
        );
        eprintln!(
            "  run {}/{runs}: request {:.1} ms, kubectl create token {:.1} ms",
            i + 1,
            ms(ours[i]),
            ms(theirs[i])
        );
    }
    let load_after = load_average();

    let (m_ours, m_theirs) = (median(&ours), median(&theirs));
    println!(
        "request vs kubectl create token on kube-apiserver {}, {runs} runs each, \
         load average {load_before} before, {load_after} after",
        bed.version()
    );
    println!(
        "  request                 median {:>7.1} ms  p90 {:>7.1} ms  {:.2}x kubectl create token  (target <= 1.0x)",
        ms(m_ours),
        ms(percentile(&ours, 90.0)),
        m_ours.as_secs_f64() / m_theirs.as_secs_f64()
    );
    println!(
        "  kubectl create token    median {:>7.1} ms  p90 {:>7.1} ms",
        ms(m_theirs),
        ms(percentile(&theirs, 90.0))
    );
}
