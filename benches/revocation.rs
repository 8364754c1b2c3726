//! How long a real API server keeps honouring a break-glass token after `revoke` deletes
//! its seal: the confirmation time `revoke` measures (seal deleted → the token rejected)
//! and writes onto the record (`status.revocationConfirmedAfterSeconds`), over repeated
//! grants on the test bed's real control plane.
//!
//! `cargo bench --bench revocation` (`BENCH_RUNS=N`, default 5). Each run: request, one
//! kubectl call through the grant (so the API server's token cache holds it, the worst
//! case), revoke. Only a real kube-apiserver can answer this; without Go the bench says so
//! and exits non-zero.

#![allow(clippy::print_stdout, clippy::print_stderr)] // the report is this program's output

use breakglass_testbed::apiserver::ApiConfig;
use breakglass_testbed::cluster::ClusterKind;
use breakglass_testbed::idp::IdpConfig;
use breakglass_testbed::playground::{kubectl, Playground, PlaygroundOptions};
use std::process::Command;

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-breakglass");

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let kind = match ClusterKind::choose(Some("real"), ClusterKind::from_env().unwrap().0.version())
    {
        Ok((kind, _)) => kind,
        Err(e) => {
            eprintln!("revocation bench: {e:#}");
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
    let run = |program: &std::path::Path, args: &[&str]| -> String {
        let mut cmd = Command::new(program);
        env(&mut cmd);
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plugin = std::path::Path::new(PLUGIN);
    run(
        plugin,
        &["--context", "playground", "login", "--no-browser"],
    );

    let mut seconds = Vec::with_capacity(runs);
    for i in 1..=runs {
        run(
            plugin,
            &[
                "--context",
                "playground",
                "request",
                "--reason",
                "benchmark of revocation on a real API server",
                "--duration",
                "10m",
            ],
        );
        run(
            &kubectl(),
            &["--context", "playground-breakglass", "auth", "whoami"],
        );
        run(plugin, &["--context", "playground", "revoke"]);
        let name = format!("grant-{i:06}");
        let after = run(
            &kubectl(),
            &[
                "--context",
                "playground-admin",
                "get",
                "breakglassgrants",
                "-n",
                "breakglass",
                &name,
                "-o",
                "jsonpath={.status.revocationConfirmedAfterSeconds}",
            ],
        );
        let s: f64 = after
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: no confirmation time on the record ({after:?})"));
        eprintln!("  {name}: token rejected {s:.1} s after its seal was deleted");
        seconds.push(s);
    }
    seconds.sort_by(|a, b| a.total_cmp(b));
    let version = pg
        .api
        .real()
        .map(|r| r.version().to_string())
        .unwrap_or_default();
    println!(
        "revocation confirmed on kube-apiserver {version} over {runs} revokes: min {:.1} s, median {:.1} s, max {:.1} s",
        seconds[0],
        seconds[seconds.len() / 2],
        seconds[seconds.len() - 1]
    );
}
