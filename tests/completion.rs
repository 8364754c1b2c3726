//! Tab completion, driven through real shells: `kubectl breakglass <TAB>` through kubectl's
//! plugin completion and `kubectl_complete-breakglass`, `kubectl-breakglass <TAB>` through
//! the plugin's own scripts; values from the kubeconfig and the playground's cluster; and
//! completion that offers nothing, fast and silently, instead of prompting or hanging.

mod common;

use breakglass_testbed::kubeconfig::USER;
use common::grants::Bed;
use common::prerequisites::{bash_completion, shell};
use common::shells::{self, Loaded};
use common::*;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const COMPLETER: &str = env!("CARGO_BIN_EXE_kubectl_complete-breakglass");

/// A directory with both executables under their installed names, as an unpacked release
/// archive or `cargo install` leaves them.
fn installed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(PLUGIN, dir.path().join("kubectl-breakglass")).unwrap();
    std::os::unix::fs::symlink(COMPLETER, dir.path().join("kubectl_complete-breakglass")).unwrap();
    dir
}

/// PATH with `bin` first.
fn path_with(bin: &Path) -> std::ffi::OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&rest)))
        .unwrap()
}

/// The person's environment in the playground, with the installed executables on PATH.
fn bed_env<'a>(bed: &'a Bed, bin: &'a Path) -> impl Fn(&mut Command) + 'a {
    move |cmd: &mut Command| {
        bed.sb.env(cmd);
        cmd.env("PATH", path_with(bin))
            .env("KUBECONFIG", bed.pg.kubeconfig_path())
            .env("BREAKGLASS_TOKEN_CACHE", &bed.sb.cache);
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn commands_and_flags_complete_in_bash_zsh_and_fish() {
    let (Some(framework), Some(zsh), Some(fish)) = (bash_completion(), shell("zsh"), shell("fish"))
    else {
        return;
    };
    let bin = installed();
    let home = tempfile::tempdir().unwrap();
    let env = |cmd: &mut Command| {
        cmd.env_clear()
            .env("PATH", path_with(bin.path()))
            .env("HOME", home.path())
            .env("KUBECONFIG", home.path().join("no-kubeconfig"));
    };

    // kubectl breakglass <TAB>: kubectl's completion → kubectl_complete-breakglass → the plugin.
    assert_eq!(
        shells::bash(&framework, env, Loaded::Kubectl, "kubectl breakglass re"),
        ["request", "revoke", "review"]
    );
    assert_eq!(
        sorted(shells::bash(
            &framework,
            env,
            Loaded::Kubectl,
            "kubectl breakglass completion "
        )),
        ["bash", "fish", "powershell", "zsh"]
    );
    assert_eq!(
        shells::bash(
            &framework,
            env,
            Loaded::Kubectl,
            "kubectl breakglass request --dur"
        ),
        ["--duration"]
    );
    assert_eq!(
        shells::fish(&fish, env, Loaded::Kubectl, "kubectl breakglass re"),
        ["request", "review", "revoke"]
    );
    assert_eq!(
        shells::zsh(
            &zsh,
            home.path(),
            env,
            Loaded::Kubectl,
            &["kubectl breakglass comp", "kubectl breakglass completion f"]
        ),
        [
            "kubectl breakglass completion ",
            "kubectl breakglass completion fish "
        ]
    );

    // kubectl-breakglass <TAB>: the script `completion SHELL` prints.
    assert_eq!(
        shells::bash(&framework, env, Loaded::Plugin, "kubectl-breakglass re"),
        ["request", "revoke", "review"]
    );
    assert_eq!(
        shells::fish(&fish, env, Loaded::Plugin, "kubectl-breakglass au"),
        ["audit"]
    );
    assert_eq!(
        shells::zsh(
            &zsh,
            home.path(),
            env,
            Loaded::Plugin,
            &["kubectl-breakglass logo"]
        ),
        ["kubectl-breakglass logout "]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_roles_and_grants_complete_from_the_kubeconfig_and_the_cluster() {
    let (Some(framework), Some(zsh), Some(fish)) = (bash_completion(), shell("zsh"), shell("fish"))
    else {
        return;
    };
    let bed = Bed::start().await;
    bed.login("alice").await;
    let bin = installed();
    let env = bed_env(&bed, bin.path());

    // --context: from the kubeconfig.
    assert_eq!(
        shells::bash(
            &framework,
            &env,
            Loaded::Kubectl,
            "kubectl breakglass status --context playground-a"
        ),
        ["playground-admin"]
    );
    // --role: from the cluster's policy, as the logged-in person.
    let roles = ["cluster-admin", "incident-debug"];
    assert_eq!(
        sorted(shells::bash(
            &framework,
            &env,
            Loaded::Kubectl,
            "kubectl breakglass request --context playground --role "
        )),
        roles
    );
    assert_eq!(
        sorted(shells::fish(
            &fish,
            &env,
            Loaded::Kubectl,
            "kubectl breakglass drill --role "
        )),
        roles
    );
    assert_eq!(
        sorted(shells::bash(
            &framework,
            &env,
            Loaded::Plugin,
            "kubectl-breakglass request --role "
        )),
        roles
    );
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        shells::zsh(
            &zsh,
            dir.path(),
            &env,
            Loaded::Kubectl,
            &["kubectl breakglass request --context playground --role incident-d"]
        ),
        ["kubectl breakglass request --context playground --role incident-debug "]
    );

    // revoke GRANT: the live grants (with none, only the flags are left to offer).
    let offered = shells::bash(
        &framework,
        &env,
        Loaded::Kubectl,
        "kubectl breakglass revoke ",
    );
    assert!(offered.iter().all(|w| w.starts_with("--")), "{offered:?}");
    assert_ok(&bed.request(&["--role", "incident-debug"]), "request");
    let records = bed.records();
    let live = records.last().unwrap()["metadata"]["name"]
        .as_str()
        .unwrap();
    assert_eq!(
        shells::bash(
            &framework,
            &env,
            Loaded::Kubectl,
            "kubectl breakglass revoke "
        ),
        [live]
    );
    assert_eq!(
        shells::fish(&fish, &env, Loaded::Plugin, "kubectl-breakglass revoke g"),
        [live]
    );
    assert_ok(&bed.run(&["revoke"]), "revoke");
}

/// `kubectl_complete-breakglass ARGS` exactly as kubectl runs it: (candidates, time taken).
fn complete(env: &dyn Fn(&mut Command), bin: &Path, args: &[&str]) -> (Vec<String>, Duration) {
    let mut cmd = Command::new(bin.join("kubectl_complete-breakglass"));
    env(&mut cmd);
    cmd.args(args);
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let took = started.elapsed();
    assert_ok(&out, "kubectl_complete-breakglass");
    assert_eq!(
        stderr(&out),
        "",
        "completion printed on the person's terminal"
    );
    let text = stdout(&out);
    assert_no_jwt(&text);
    // `value<TAB>description` lines, then the directive.
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    assert_eq!(lines.last().map(String::as_str), Some(":4"), "{text}");
    (lines[..lines.len() - 1].to_vec(), took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_login_or_a_cluster_completion_offers_nothing_at_once() {
    let bed = Bed::start().await;
    let bin = installed();
    let env = bed_env(&bed, bin.path());
    let budget = Duration::from_millis(1500);
    // (A real API server's readiness check logged someone in already.)
    let flows_before = bed.pg.idp.stats().await.unwrap().device_authorizations;

    // Not logged in: no device flow, no prompt, no browser — nothing.
    let (offered, took) = complete(&env, bin.path(), &["request", "--role", ""]);
    assert_eq!(offered, Vec::<String>::new());
    assert!(took < budget, "took {took:?}");
    let stats = bed.pg.idp.stats().await.unwrap();
    assert_eq!(
        stats.device_authorizations, flows_before,
        "completion started a login"
    );
    assert!(bed.pg.idp.pending_user_codes().await.unwrap().is_empty());
    // The kubeconfig still completes.
    let (offered, _) = complete(&env, bin.path(), &["--context", "playground-ad"]);
    assert_eq!(offered, ["playground-admin"]);

    bed.login("alice").await;
    // A cluster that accepts the connection and never answers.
    let stuck = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("https://{}", stuck.local_addr().unwrap());
    // A context whose user runs someone else's credential plugin: it could prompt, so
    // completion must not run it (it would leave a mark).
    let mark = bed.sb.path("foreign-plugin-ran");
    let foreign = bed.sb.path("foreign-plugin");
    std::fs::write(
        &foreign,
        format!("#!/bin/sh\ntouch {}\nsleep 5\n", mark.display()),
    )
    .unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o755)).unwrap();
    add_to_kubeconfig(
        &bed.pg.kubeconfig_path(),
        serde_json::json!({
            "clusters": [{ "name": "stuck", "cluster": { "server": server } }],
            "users": [{ "name": "foreign", "user": { "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": foreign,
                "interactiveMode": "IfAvailable",
            } } }],
            "contexts": [
                { "name": "stuck", "context": { "cluster": "stuck", "user": USER } },
                { "name": "foreign", "context": { "cluster": "playground", "user": "foreign" } },
            ],
        }),
    );
    let (offered, took) = complete(
        &env,
        bin.path(),
        &["--context", "stuck", "request", "--role", ""],
    );
    assert_eq!(offered, Vec::<String>::new());
    assert!(
        took < budget,
        "a cluster that never answers held completion for {took:?}"
    );
    let (offered, took) = complete(
        &env,
        bin.path(),
        &["--context", "foreign", "request", "--role", ""],
    );
    assert_eq!(offered, Vec::<String>::new());
    assert!(took < budget, "took {took:?}");
    assert!(!mark.exists(), "completion ran another credential plugin");
    // The same line on the person's own context does complete.
    let (offered, _) = complete(
        &env,
        bin.path(),
        &["--context", "playground", "request", "--role", "cl"],
    );
    assert_eq!(offered, ["cluster-admin"]);
    drop(stuck);
}

/// Appends the `clusters`, `users` and `contexts` entries of `more` to a kubeconfig.
fn add_to_kubeconfig(path: &Path, more: serde_json::Value) {
    let mut config: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for list in ["clusters", "users", "contexts"] {
        let entries = config[list].as_array_mut().unwrap();
        entries.extend(more[list].as_array().unwrap().iter().cloned());
    }
    std::fs::write(path, serde_norway::to_string(&config).unwrap()).unwrap();
}
