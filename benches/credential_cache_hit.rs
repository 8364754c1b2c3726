//! The exec credential's hot path as a whole process, in both modes, against
//! `/bin/true` in the same run:
//!
//! - identity: `credential --issuer … --client-id …` with a valid ID token cached;
//! - elevated: `credential --elevated …` with a live break-glass token cached.
//!
//! `cargo bench --bench credential_cache_hit` builds the plugin with the bench
//! (release) profile, starts the playground (the test bed's real IdP and the API
//! double with `deploy/` applied), logs alice in and breaks the glass once, so the
//! kernel keyring holds genuine tokens, then runs each command N times,
//! interleaved, and prints medians and ratios. `BENCH_RUNS` overrides N
//! (default 300). Target: at most 3× `/bin/true`.
//!
//! `BENCH_STORE` picks where the tokens are cached:
//! - `keyutils` (default): `--token-cache keyutils`, the kernel keyring;
//! - `keyring`: the default `--token-cache keyring` on a machine without a session bus
//!   (it remembers the kernel keyring in its state file);
//! - `secret-service`: the default `keyring` on a desktop: run the bench inside
//!   `dbus-run-session -- cargo bench --bench credential_cache_hit`; it starts an
//!   unlocked gnome-keyring (in a throwaway HOME) on that bus, and login chooses it.

#![allow(clippy::print_stdout)] // the report is this program's output

use breakglass_testbed::apiserver::ApiConfig;
use breakglass_testbed::cluster::ClusterKind;
use breakglass_testbed::idp::IdpConfig;
use breakglass_testbed::playground::{Playground, PlaygroundOptions};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-breakglass");
const EXEC_INFO: &str = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let store = std::env::var("BENCH_STORE").unwrap_or_else(|_| "keyutils".into());
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (cache_flag, expect_in_login) = match store.as_str() {
        "keyutils" => ("keyutils", "the Linux kernel keyring"),
        "keyring" => ("keyring", "the Linux kernel keyring"),
        "secret-service" => {
            assert!(
                std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
                "BENCH_STORE=secret-service needs a session bus: run the bench under \
                 `dbus-run-session -- cargo bench --bench credential_cache_hit`"
            );
            start_gnome_keyring(&home);
            ("keyring", "the Secret Service")
        }
        other => panic!("BENCH_STORE={other:?}: use keyutils, keyring or secret-service"),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pg = runtime
        .block_on(Playground::start(PlaygroundOptions {
            dir: dir.path().join("pg"),
            auto_approve: Some("alice".into()),
            plugin: PLUGIN.into(),
            idp: IdpConfig {
                id_token_ttl: Duration::from_secs(3600),
                ..IdpConfig::default()
            },
            cluster: ClusterKind::from_env().unwrap().0,
            api: ApiConfig::default(),
            install: true,
            authentication: Default::default(),
        }))
        .unwrap();
    let kubeconfig = pg.kubeconfig_path();
    let plugin = |args: &[&str]| {
        let mut cmd = Command::new(PLUGIN);
        cmd.env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("HOME", &home)
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_RUNTIME_DIR", dir.path())
            .env("KUBECONFIG", &kubeconfig)
            .env("BREAKGLASS_TOKEN_CACHE", cache_flag)
            .args(args);
        if store != "secret-service" {
            cmd.env_remove("DBUS_SESSION_BUS_ADDRESS");
        }
        cmd
    };
    let must = |cmd: &mut Command, what: &str| {
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{what} failed: {err}");
        err
    };

    // Log in (the playground approves the code as alice) and break the glass once.
    let login = must(
        &mut plugin(&["--context", "playground", "login", "--no-browser"]),
        "login",
    );
    assert!(
        login.contains(&format!("Tokens will be cached in {expect_in_login}")),
        "BENCH_STORE={store}: login chose another store: {login}"
    );
    must(
        &mut plugin(&[
            "--context",
            "playground",
            "request",
            "--reason",
            "benchmark of the cached credential",
            "--role",
            "incident-debug",
            "--duration",
            "30m",
        ]),
        "request",
    );

    // The exec entries exactly as kubectl would run them, from the kubeconfig.
    let identity = exec_entry(&kubeconfig, "playground", &plugin);
    let elevated = exec_entry(&kubeconfig, "playground-breakglass", &plugin);
    let before = runtime
        .block_on(pg.idp.stats())
        .unwrap()
        .total_token_requests();
    let api_calls_before = pg.api.audit_log().len();

    let mut modes = [
        ("identity", identity, Vec::with_capacity(runs)),
        ("elevated", elevated, Vec::with_capacity(runs)),
    ];
    let mut truecmd = Command::new("/bin/true");
    truecmd.stdout(Stdio::null());
    let mut true_times = Vec::with_capacity(runs);
    let time = |cmd: &mut Command| {
        let t = Instant::now();
        let status = cmd.status().unwrap();
        let elapsed = t.elapsed();
        if !status.success() {
            // Run it once more, capturing what it says (the timed runs discard it).
            let mut again = Command::new(cmd.get_program());
            again.args(cmd.get_args());
            for (k, v) in cmd.get_envs() {
                match v {
                    Some(v) => again.env(k, v),
                    None => again.env_remove(k),
                };
            }
            let out = again.output().unwrap();
            panic!(
                "{:?} failed ({status}); run again: {}, stderr: {}",
                cmd.get_program(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        elapsed
    };
    // Warm up, then interleave so drift hits every command equally.
    for _ in 0..10 {
        for (_, cmd, _) in modes.iter_mut() {
            time(cmd);
        }
        time(&mut truecmd);
    }
    for _ in 0..runs {
        for (_, cmd, times) in modes.iter_mut() {
            times.push(time(cmd));
        }
        true_times.push(time(&mut truecmd));
    }

    let after = runtime
        .block_on(pg.idp.stats())
        .unwrap()
        .total_token_requests();
    assert_eq!(before, after, "the identity cache hit made token requests");
    assert_eq!(
        api_calls_before,
        pg.api.audit_log().len(),
        "the cache hits called the API server"
    );

    let _ = plugin(&["--context", "playground", "revoke"]).output();
    let _ = plugin(&["--context", "playground", "logout"]).output();

    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let t = median(&mut true_times);
    println!(
        "credential cache hit (BENCH_STORE={store}: {expect_in_login}), {runs} interleaved runs each"
    );
    println!(
        "  /bin/true                        median {:>8.3} ms",
        ms(t)
    );
    for (name, _, times) in modes.iter_mut() {
        let p = median(times);
        println!(
            "  credential ({name})  median {:>8.3} ms   {:.2}x /bin/true  (target <= 3x)",
            ms(p),
            p.as_secs_f64() / t.as_secs_f64()
        );
    }
}

/// An unlocked gnome-keyring Secret Service on this process's session bus, keeping its
/// keyring under `home` (a throwaway directory).
fn start_gnome_keyring(home: &std::path::Path) {
    use std::io::Write as _;
    let mut child = Command::new("gnome-keyring-daemon")
        .args(["--daemonize", "--unlock", "--components=secrets"])
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon (apt-get install -y gnome-keyring)");
    child.stdin.take().unwrap().write_all(b"bench").unwrap();
    assert!(
        child.wait().unwrap().success(),
        "gnome-keyring-daemon failed"
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The `credential` command of `context`'s exec entry, with the exec info kubectl sends.
fn exec_entry(
    kubeconfig: &std::path::Path,
    context: &str,
    plugin: &dyn Fn(&[&str]) -> Command,
) -> Command {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(kubeconfig).unwrap()).unwrap();
    let find = |list: &str, name: &str| {
        doc[list]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no {list} entry {name}"))
            .clone()
    };
    let user = find("contexts", context)["context"]["user"]
        .as_str()
        .unwrap()
        .to_string();
    let args: Vec<String> = find("users", &user)["user"]["exec"]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = plugin(&args);
    cmd.env("KUBERNETES_EXEC_INFO", EXEC_INFO);
    let check = cmd.output().unwrap();
    assert!(
        check.status.success() && String::from_utf8_lossy(&check.stdout).contains("\"token\""),
        "{context}'s credential gave no ExecCredential: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}
