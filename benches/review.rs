//! `review` over a large audit log: throughput and peak memory beside `grep -c JTI=<jti>`
//! over the same file in the same run.
//!
//! `cargo bench --bench review` (`BENCH_MB=N`, default 1024). It starts the playground on the
//! real control plane, breaks the glass and uses the grant with kubectl, so the API server's
//! own audit log holds real events of the grant and of everything else; then it writes a log
//! of BENCH_MB from those real lines (every 1000th line one of the grant's: 0.1 % matching,
//! the rest the mix the server logged), and times `grep -c` and `review -o json` twice each,
//! interleaved, reporting the faster run of each and review's peak resident memory
//! (`/usr/bin/time -f %M`).

#![allow(clippy::print_stdout, clippy::print_stderr)] // the report is this program's output

use breakglass_testbed::apiserver::ApiConfig;
use breakglass_testbed::cluster::ClusterKind;
use breakglass_testbed::idp::IdpConfig;
use breakglass_testbed::playground::{kubectl, Playground, PlaygroundOptions};
use std::io::Write as _;
use std::process::Command;
use std::time::Instant;

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-breakglass");

fn main() {
    let mb: u64 = std::env::var("BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let kind = match ClusterKind::choose(Some("real"), ClusterKind::from_env().unwrap().0.version())
    {
        Ok((kind, _)) => kind,
        Err(e) => {
            eprintln!("review bench: {e:#}");
            std::process::exit(1);
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pg = runtime
        .block_on(Playground::start(PlaygroundOptions {
            dir: dir.path().join("pg"),
            auto_approve: Some("alice".into()),
            plugin: PLUGIN.into(),
            idp: IdpConfig::default(),
            cluster: kind,
            authentication: Default::default(),
            api: ApiConfig::default(),
            install: true,
        }))
        .unwrap();
    let kubeconfig = pg.kubeconfig_path();
    let env = |cmd: &mut Command| {
        cmd.env_remove("DISPLAY")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("HOME", &home)
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("KUBECONFIG", &kubeconfig)
            .env("BREAKGLASS_TOKEN_CACHE", "keyutils");
    };
    let run = |program: &str, args: &[&str]| -> String {
        let mut cmd = Command::new(program);
        env(&mut cmd);
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let kubectl = kubectl().to_string_lossy().into_owned();
    run(
        PLUGIN,
        &["--context", "playground", "login", "--no-browser"],
    );
    run(
        PLUGIN,
        &[
            "--context",
            "playground",
            "request",
            "--reason",
            "review benchmark: generating audit events",
            "--role",
            "cluster-admin",
        ],
    );
    for args in [
        &["get", "pods", "-A"][..],
        &["get", "secrets", "-n", "breakglass"],
        &["get", "configmaps", "-A"],
        &["get", "namespaces"],
    ] {
        let mut all = vec!["--context", "playground-breakglass"];
        all.extend_from_slice(args);
        run(&kubectl, &all);
    }
    let audit: serde_json::Value = serde_json::from_str(&run(
        PLUGIN,
        &["--context", "playground", "audit", "-o", "json"],
    ))
    .unwrap();
    let jti = audit["records"][0]["jti"].as_str().unwrap().to_string();
    let key = format!("JTI={jti}");

    let real = std::fs::read_to_string(pg.api.real().unwrap().audit_log_path()).unwrap();
    let (matching, other): (Vec<&str>, Vec<&str>) = real
        .lines()
        .filter(|l| !l.trim().is_empty())
        .partition(|l| l.contains(&key));
    assert!(!matching.is_empty() && !other.is_empty());
    let log = dir.path().join("audit-big.log");
    let target = mb << 20;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&log).unwrap());
    let (mut written, mut lines, mut matched) = (0u64, 0u64, 0u64);
    while written < target {
        let line = if lines % 1000 == 999 {
            matched += 1;
            matching[(matched as usize) % matching.len()]
        } else {
            other[(lines as usize) % other.len()]
        };
        w.write_all(line.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
        written += line.len() as u64 + 1;
        lines += 1;
    }
    w.flush().unwrap();
    drop(w);
    let size_mb = written as f64 / (1 << 20) as f64;
    eprintln!("review bench: {size_mb:.0} MiB, {lines} lines, {matched} of the grant's");

    let log_s = log.to_str().unwrap();
    let time_it = |f: &dyn Fn() -> String| {
        let t = Instant::now();
        let out = f();
        (t.elapsed().as_secs_f64(), out)
    };
    let grep = || {
        let out = Command::new("grep")
            .args(["-c", &key, log_s])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let review = || {
        let mut cmd = Command::new("/usr/bin/time");
        env(&mut cmd);
        let out = cmd
            .args([
                "-f",
                "%M",
                PLUGIN,
                "--context",
                "playground",
                "review",
                "grant-000001",
            ])
            .args(["--audit-log", log_s, "-o", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "review failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // /usr/bin/time's last stderr line: peak resident set in KiB.
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        format!(
            "{} {}",
            stderr.lines().last().unwrap_or("0").trim(),
            report["actions"].as_u64().unwrap() + report["minted"].as_u64().unwrap()
        )
    };
    let mut grep_s = f64::MAX;
    let mut review_s = f64::MAX;
    let mut peak_kib = 0u64;
    for _ in 0..2 {
        let (s, count) = time_it(&grep);
        assert_eq!(count, matched.to_string(), "grep's count");
        grep_s = grep_s.min(s);
        let (s, out) = time_it(&review);
        let mut parts = out.split(' ');
        let kib: u64 = parts.next().unwrap().parse().unwrap_or(0);
        let found: u64 = parts.next().unwrap().parse().unwrap();
        assert_eq!(found, matched, "review's count of the grant's events");
        review_s = review_s.min(s);
        peak_kib = peak_kib.max(kib);
    }
    println!("| | time | throughput | peak memory |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| `grep -c JTI=<jti>` | {grep_s:.2} s | {:.0} MB/s | |",
        size_mb / grep_s
    );
    println!(
        "| `review -o json` | {review_s:.2} s | {:.0} MB/s | {:.1} MiB |",
        size_mb / review_s,
        peak_kib as f64 / 1024.0
    );
    println!(
        "review / grep: {:.2}× the time ({size_mb:.0} MiB, {lines} lines, {matched} matching)",
        review_s / grep_s
    );
}
