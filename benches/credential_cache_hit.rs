//! The exec credential's hot path as a whole process, in both modes, against
//! `/bin/true` and kubelogin's cached `get-token` in the same run:
//!
//! - identity: `credential --issuer … --client-id …` with a valid ID token cached;
//! - elevated: `credential --elevated …` with a live break-glass token cached;
//! - kubelogin: int128/kubelogin `get-token` (Go, pinned in
//!   `tests/testbed/go/kubelogin/go.mod`, built from the Go module proxy) with a valid ID
//!   token from the same IdP in its token cache.
//!
//! `cargo bench --bench credential_cache_hit` builds the plugin as it ships
//! (`support::shipped`: `cargo build --release --target HOST`), starts the playground
//! (the test bed's real IdP and the real control plane with `deploy/` applied), logs
//! alice in and breaks the glass once, so the kernel keyring holds genuine tokens, logs
//! kubelogin in through the same device flow, then runs each command N times, interleaved, and prints medians and ratios to
//! `/bin/true` (target: at most 1.5×), the instructions one call retires (callgrind;
//! deterministic, so a regression shows on a busy machine) and its page faults.
//! `BENCH_RUNS` overrides N (default 1000). Every command runs with the environment of a
//! person's shell (PATH, HOME and what the exec entry needs), not cargo's.
//! `BENCH_PLUGIN=PATH` measures another build of the plugin (to compare build settings
//! side by side with the same bench).
//!
//! Needs the test bed's IdP (`npm ci --prefix tests/testbed/idp`, Node) and a cluster:
//! the real control plane when Go can build it (`tests/testbed/go/build`), else the API
//! double; kubelogin's figure needs Go too (skipped, saying so, without it); the
//! instruction counts need valgrind. A bench, never run by `cargo test`.
//!
//! `BENCH_STORE` picks where the tokens are cached:
//! - `keyutils` (default): `--token-cache keyutils`, the kernel keyring;
//! - `keyring`: the default `--token-cache keyring` on a machine without a session bus
//!   (it remembers the kernel keyring in its state file);
//! - `secret-service`: the default `keyring` on a desktop: run the bench inside
//!   `dbus-run-session -- cargo bench --bench credential_cache_hit`; it starts an
//!   unlocked gnome-keyring (in a throwaway HOME) on that bus, and login chooses it.

#![allow(clippy::print_stdout, clippy::print_stderr)] // the report is this program's output

mod support;

use breakglass_testbed::apiserver::ApiConfig;
use breakglass_testbed::cluster::ClusterKind;
use breakglass_testbed::idp::IdpConfig;
use breakglass_testbed::playground::{Playground, PlaygroundOptions};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::kubelogin;
use support::process::{instructions, interleaved, load_average, median, minor_faults, ms};

const EXEC_INFO: &str = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let store = std::env::var("BENCH_STORE").unwrap_or_else(|_| "keyutils".into());

    let dir = tempfile::tempdir().unwrap();
    // Installed copies: see `support::shipped`.
    let plugin_path = support::shipped::plugin(&dir.path().join("bin"));
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
            plugin: plugin_path.clone(),
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
        let mut cmd = Command::new(&plugin_path);
        person_env(&mut cmd, &home)
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_RUNTIME_DIR", dir.path())
            .env("KUBECONFIG", &kubeconfig)
            .env("BREAKGLASS_TOKEN_CACHE", cache_flag)
            .args(args);
        if store == "secret-service" {
            if let Some(bus) = std::env::var_os("DBUS_SESSION_BUS_ADDRESS") {
                cmd.env("DBUS_SESSION_BUS_ADDRESS", bus);
            }
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

    // kubelogin, logged in once through the same IdP's device flow (auto-approved).
    let kubelogin = match kubelogin::build() {
        Ok(built) => {
            let bin = support::shipped::install(&built, &dir.path().join("bin"), "kubelogin");
            let mut cmd = kubelogin::get_token(
                &bin,
                pg.idp.issuer(),
                pg.idp.client_id(),
                &pg.dir().join(breakglass_testbed::playground::CA_FILE),
                &dir.path().join("kubelogin-cache"),
            );
            person_env(&mut cmd, &home).env("KUBERNETES_EXEC_INFO", EXEC_INFO);
            kubelogin::log_in(&cmd);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            Some(cmd)
        }
        Err(why) => {
            eprintln!("SKIPPED kubelogin's figure: {why}");
            None
        }
    };

    let before = runtime
        .block_on(pg.idp.stats())
        .unwrap()
        .total_token_requests();
    // The real API server logs its own controllers' calls too: count only the person's
    // and the break-glass ServiceAccount's.
    let ours = |pg: &Playground| {
        pg.api
            .audit_log()
            .iter()
            .filter(|e| e.user == "alice@example.com" || e.user.contains(":breakglass:"))
            .count()
    };
    let api_calls_before = ours(&pg);

    let mut truecmd = Command::new("/bin/true");
    person_env(&mut truecmd, &home).stdout(Stdio::null());
    let mut names = vec![
        "/bin/true".to_string(),
        "credential (identity)".into(),
        "credential (elevated)".into(),
    ];
    let mut cmds = vec![truecmd, identity, elevated];
    if let Some(cmd) = kubelogin {
        names.push(format!("kubelogin {} get-token", kubelogin::version()));
        cmds.push(cmd);
    }
    let load_before = load_average();
    let times = interleaved(&mut cmds.iter_mut().collect::<Vec<_>>(), runs);
    let load_after = load_average();
    let faults: Vec<f64> = cmds.iter_mut().map(|c| minor_faults(c, 20)).collect();
    let counted: Vec<Option<u64>> = cmds.iter().map(instructions).collect();

    let after = runtime
        .block_on(pg.idp.stats())
        .unwrap()
        .total_token_requests();
    assert_eq!(before, after, "a cache hit made token requests");
    assert_eq!(
        api_calls_before,
        ours(&pg),
        "the cache hits called the API server"
    );

    let _ = plugin(&["--context", "playground", "revoke"]).output();
    let _ = plugin(&["--context", "playground", "logout"]).output();

    println!(
        "credential cache hit (BENCH_STORE={store}: {expect_in_login}), {runs} interleaved runs each, \
         load average {load_before} before, {load_after} after"
    );
    println!(
        "  plugin: {}, installed (copied) like every measured program",
        std::env::var("BENCH_PLUGIN").unwrap_or_else(|_| "the release build".into())
    );
    let t = median(&times[0]);
    println!(
        "  {:<34} {:>9} {:>12} {:>14} {:>12}",
        "", "median", "vs /bin/true", "instructions", "page faults"
    );
    for (i, name) in names.iter().enumerate() {
        let m = median(&times[i]);
        let target = if name.starts_with("credential") {
            "  (target <= 1.5x)"
        } else {
            ""
        };
        println!(
            "  {name:<34} {:>6.3} ms {:>11.2}x {:>14} {:>12.0}{target}",
            ms(m),
            m.as_secs_f64() / t.as_secs_f64(),
            counted[i].map_or_else(|| "(no valgrind)".to_string(), thousands),
            faults[i],
        );
    }
}

/// The environment of a person's shell rather than cargo's (a hundred variables more,
/// which every process start scans): PATH and HOME, applied to every measured command
/// alike, `/bin/true` included.
fn person_env<'a>(cmd: &'a mut Command, home: &std::path::Path) -> &'a mut Command {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
}

/// 448713 as "448,713".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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

/// The `credential` command of `context`'s exec entry, with the exec info kubectl sends
/// (the cluster and its CA too when the entry asks kubectl to provide them).
fn exec_entry(
    kubeconfig: &std::path::Path,
    context: &str,
    plugin: &dyn Fn(&[&str]) -> Command,
) -> Command {
    let doc: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(kubeconfig).unwrap()).unwrap();
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
    // With `provideClusterInfo: true` (the elevated entry) kubectl adds the cluster, its CA
    // included, and the plugin checks the cached token was issued under that CA.
    let exec_info = if find("users", &user)["user"]["exec"]["provideClusterInfo"] == true {
        let cluster_name = find("contexts", context)["context"]["cluster"].clone();
        let cluster = &find("clusters", cluster_name.as_str().unwrap())["cluster"];
        serde_json::json!({
            "kind": "ExecCredential",
            "apiVersion": "client.authentication.k8s.io/v1",
            "spec": {
                "cluster": {
                    "server": cluster["server"].as_str().unwrap(),
                    "certificate-authority-data": cluster["certificate-authority-data"].as_str().unwrap(),
                },
                "interactive": false,
            },
        })
        .to_string()
    } else {
        EXEC_INFO.to_string()
    };
    cmd.env("KUBERNETES_EXEC_INFO", exec_info);
    let check = cmd.output().unwrap();
    assert!(
        check.status.success() && String::from_utf8_lossy(&check.stdout).contains("\"token\""),
        "{context}'s credential gave no ExecCredential: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}
