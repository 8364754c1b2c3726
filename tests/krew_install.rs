//! The release archive, installed by the real krew (built from the Go module proxy) from
//! the rendered manifest, is what an engineer then uses: `kubectl breakglass` through
//! krew's link, setup, login, a grant used with kubectl, revoke, tab completion as the
//! krew caveats say, and uninstall. Only krew's copy of the plugin is on PATH.
//!
//! The archive packs this test build (scripts/release --binary): the same packaging
//! and manifest path as a release, without a release build that takes minutes here.

mod common;

use common::grants::Bed;
use common::prerequisites::go_peer;
use common::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const COMPLETER: &str = env!("CARGO_BIN_EXE_kubectl_complete-breakglass");
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where krew lives for this test, and the environment every command gets.
struct Krew<'a> {
    bed: &'a Bed,
    root: PathBuf,
    path: OsString,
    index: PathBuf,
}

impl Krew<'_> {
    fn command(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        self.bed.sb.env(&mut cmd);
        cmd.env("PATH", &self.path)
            .env("KUBECONFIG", self.bed.pg.kubeconfig_path())
            .env("BREAKGLASS_TOKEN_CACHE", &self.bed.sb.cache)
            .env("KREW_ROOT", &self.root)
            .env("KREW_NO_UPGRADE_CHECK", "1")
            .env("KREW_DEFAULT_INDEX_URI", &self.index)
            .args(args);
        cmd
    }

    /// `kubectl ARGS` (the real kubectl, which runs plugins from PATH).
    fn kubectl(&self, args: &[&str]) -> Output {
        self.command("kubectl", args).output().unwrap()
    }
}

/// PATH without any directory that holds another `kubectl-breakglass`.
fn path_without_other_plugins(first: &[&Path]) -> OsString {
    let rest = std::env::var_os("PATH").unwrap_or_default();
    let dirs = first
        .iter()
        .map(|p| p.to_path_buf())
        .chain(std::env::split_paths(&rest).filter(|d| !d.join("kubectl-breakglass").exists()));
    std::env::join_paths(dirs).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_archive_installs_through_krew_and_works_against_the_playground() {
    let (Some(krew), Some(validate)) = (go_peer("krew"), go_peer("validate-krew-manifest")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/release"))
        .args([
            VERSION,
            "--binary",
            PLUGIN,
            "--completer",
            COMPLETER,
            "--allow-dirty",
            "--out",
        ])
        .arg(&dist)
        .output()
        .unwrap();
    assert_ok(&out, "scripts/release");
    let manifest = dist.join("breakglass.yaml");
    let archive = dist.join(format!(
        "kubectl-breakglass-v{VERSION}-x86_64-unknown-linux-gnu.tar.gz"
    ));

    // krew-index's own check of the rendered manifest (structure, platforms, overlaps);
    // the install it would also try downloads from GitHub, so the real install is below.
    let check = |path: &Path| {
        Command::new(&validate)
            .arg("-manifest")
            .arg(path)
            .arg("-skip-install")
            .output()
            .unwrap()
    };
    assert_ok(&check(&manifest), "validate-krew-manifest");
    // …and it does reject what krew would refuse: an archive digest that is not one.
    let broken_dir = tmp.path().join("broken");
    std::fs::create_dir(&broken_dir).unwrap();
    let text = std::fs::read_to_string(&manifest).unwrap();
    let broken = text
        .lines()
        .map(|l| match l.find("sha256: ") {
            Some(at) => format!("{}sha256: not-a-digest", &l[..at]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(broken_dir.join("breakglass.yaml"), broken).unwrap();
    assert!(!check(&broken_dir.join("breakglass.yaml")).status.success());

    let bed = Bed::start().await;
    let tools = tmp.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    std::os::unix::fs::symlink(&krew, tools.join("kubectl-krew")).unwrap();
    let root = tmp.path().join("krew");
    let k = Krew {
        bed: &bed,
        path: path_without_other_plugins(&[&tools, &root.join("bin")]),
        root: root.clone(),
        index: tmp.path().join("index"),
    };

    // Install, as the krew docs say for a manifest and its archive.
    let out = k.kubectl(&[
        "krew",
        "install",
        &format!("--manifest={}", manifest.display()),
        &format!("--archive={}", archive.display()),
    ]);
    assert_ok(&out, "kubectl krew install");
    assert!(
        stderr(&out).contains("Installed plugin: breakglass"),
        "{}",
        stderr(&out)
    );
    let installed = root.join("bin/kubectl-breakglass");
    assert!(installed.exists());
    assert_eq!(
        std::env::split_paths(&k.path)
            .map(|d| d.join("kubectl-breakglass"))
            .find(|p| p.exists()),
        Some(installed.clone()),
        "krew's link must be the only kubectl-breakglass on PATH"
    );

    let out = k.kubectl(&["breakglass", "--version"]);
    assert_ok(&out, "kubectl breakglass --version");
    assert_eq!(stdout(&out), format!("kubectl-breakglass {VERSION}\n"));
    let out = k.kubectl(&["breakglass", "version", "-o", "json"]);
    assert_ok(&out, "kubectl breakglass version -o json");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], VERSION);
    assert_eq!(v["target"], "x86_64-unknown-linux-gnu");

    // A person's first minutes: setup (the exec entry runs `kubectl-breakglass` from
    // PATH, i.e. krew's), login, kubectl as themselves, break the glass, use it, revoke.
    let sb = &bed.sb;
    let out = k.kubectl(&[
        "breakglass",
        "setup",
        "--context",
        "playground",
        "--issuer",
        &sb.issuer,
        "--client-id",
        &sb.client_id,
        "--ca-file",
        sb.ca_file.to_str().unwrap(),
    ]);
    assert_ok(&out, "kubectl breakglass setup");
    assert!(
        !stderr(&out).contains("not on your PATH"),
        "{}",
        stderr(&out)
    );

    let login = k
        .command(
            "kubectl",
            &[
                "breakglass",
                "login",
                "--context",
                "playground",
                "--no-browser",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = bed
        .pg
        .idp
        .wait_for_pending_user_code(Duration::from_secs(20))
        .await
        .unwrap();
    bed.pg.idp.approve(&code, "alice").await.unwrap();
    assert_ok(&wait(login).await, "kubectl breakglass login");

    let whoami = |context: &str| {
        let out = k.kubectl(&["--context", context, "auth", "whoami", "-o", "json"]);
        assert_ok(&out, &format!("kubectl --context {context} auth whoami"));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["status"]["userInfo"]["username"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(whoami("playground"), "alice@example.com");
    let out = k.kubectl(&[
        "breakglass",
        "request",
        "--context",
        "playground",
        "--reason",
        "checkout is down, need to look",
        "--role",
        "incident-debug",
    ]);
    assert_ok(&out, "kubectl breakglass request");
    assert_eq!(
        whoami("playground-breakglass"),
        "system:serviceaccount:breakglass:incident-debug"
    );
    // Both exec entries run the plugin by name, so krew's link (and its upgrades) serve them.
    let config: serde_json::Value = serde_norway::from_str(&bed.kubeconfig_text()).unwrap();
    for context in ["playground", "playground-breakglass"] {
        let user = config["contexts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == context)
            .unwrap()["context"]["user"]
            .clone();
        let entry = config["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == user)
            .unwrap();
        assert_eq!(
            entry["user"]["exec"]["command"], "kubectl-breakglass",
            "{context}"
        );
    }

    // Tab completion, set up as the krew caveats say: kubectl's plugin completion finds
    // the completer in krew's bin directory; it follows krew's link to the plugin.
    let caveat = format!(
        "{}/store/breakglass/v{VERSION}/kubectl_complete-breakglass",
        root.display()
    );
    std::fs::copy(&caveat, root.join("bin/kubectl_complete-breakglass")).unwrap();
    let out = k.kubectl(&[
        "__complete",
        "breakglass",
        "revoke",
        "--context",
        "playground",
        "",
    ]);
    assert_ok(&out, "kubectl __complete");
    let grant = bed.records().last().unwrap()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let offered: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    assert_eq!(offered, [grant.as_str(), ":4"]);

    let out = k.kubectl(&["breakglass", "revoke", "--context", "playground"]);
    assert_ok(&out, "kubectl breakglass revoke");
    let out = k.kubectl(&["--context", "playground-breakglass", "get", "pods"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no active break-glass grant for playground"),
        "{}",
        stderr(&out)
    );

    // Uninstall (krew wants an index for that: a local one, as krew-index publishes it).
    let index = &k.index;
    std::fs::create_dir_all(index.join("plugins")).unwrap();
    std::fs::copy(&manifest, index.join("plugins/breakglass.yaml")).unwrap();
    for args in [
        vec!["init", "-q"],
        vec!["add", "."],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "index",
        ],
    ] {
        let out = Command::new("git")
            .args(&args)
            .current_dir(index)
            .output()
            .unwrap();
        assert_ok(&out, &format!("git {args:?}"));
    }
    assert_ok(&k.kubectl(&["krew", "update"]), "kubectl krew update");
    let out = k.kubectl(&["krew", "list"]);
    assert_ok(&out, "kubectl krew list");
    assert!(stdout(&out).contains("breakglass"), "{}", stdout(&out));
    let out = k.kubectl(&["krew", "uninstall", "breakglass"]);
    assert_ok(&out, "kubectl krew uninstall breakglass");
    assert!(!installed.exists() && !root.join("store/breakglass").exists());
}
