//! `breakglass-testbed up` and `approve`, driven as a person would: the built
//! binary, real kubectl against the kubeconfig it writes, signals to stop it.

use breakglass_testbed::idp::IdpClient;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TESTBED: &str = env!("CARGO_BIN_EXE_breakglass-testbed");
const SCOPE: &str = "openid offline_access email groups";

/// A running `breakglass-testbed up`; killed if the test fails half-way.
struct Up {
    child: Child,
    dir: PathBuf,
}

impl Up {
    fn start(dir: &Path, extra: &[&str]) -> Up {
        let log = std::fs::File::create(dir.with_extension("up.log")).unwrap();
        let child = Command::new(TESTBED)
            .args(["up", "--dir"])
            .arg(dir)
            .args(["--plugin", "/usr/local/bin/kubectl-breakglass"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut up = Up {
            child,
            dir: dir.to_path_buf(),
        };
        up.wait_ready();
        up
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.with_extension("up.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        // A real control plane on a loaded 2-core machine takes a while to start.
        let deadline = Instant::now() + Duration::from_secs(240);
        while !self.dir.join("ready").exists() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("up exited ({status}) before ready:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "not ready in 240 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn interrupt(mut self) -> std::process::ExitStatus {
        signal(self.child.id(), "INT");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "up did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn kubectl(dir: &Path, args: &[&str]) -> Output {
    Command::new("/usr/bin/kubectl")
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn testbed(args: &[&str]) -> Output {
    Command::new(TESTBED)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn idp_client(dir: &Path) -> IdpClient {
    let info: Value =
        serde_json::from_slice(&std::fs::read(dir.join("idp.json")).unwrap()).unwrap();
    let ca = std::fs::read_to_string(dir.join("ca.crt")).unwrap();
    IdpClient::connect(
        info["issuer"].as_str().unwrap(),
        info["client_id"].as_str().unwrap(),
        &ca,
    )
    .unwrap()
}

#[test]
fn up_writes_a_kubeconfig_that_real_kubectl_uses_and_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pg");
    let up = Up::start(&dir, &["--no-install"]);

    for file in ["kubeconfig", "ca.crt", "idp.json", "ready"] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("kubeconfig"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the kubeconfig holds the admin token");

    let info: Value =
        serde_json::from_slice(&std::fs::read(dir.join("idp.json")).unwrap()).unwrap();
    let issuer = info["issuer"].as_str().unwrap();
    assert!(issuer.starts_with("https://127.0.0.1:"));
    assert_eq!(info["client_id"], "kubectl-breakglass");

    // The person's context runs the plugin's credential command with the playground's IdP.
    let config: serde_norway::Value =
        serde_norway::from_slice(&std::fs::read(dir.join("kubeconfig")).unwrap()).unwrap();
    assert_eq!(config["current-context"], "playground");
    let exec = &config["users"][0]["user"]["exec"];
    assert_eq!(exec["command"], "/usr/local/bin/kubectl-breakglass");
    assert_eq!(exec["args"][0], "credential");
    assert_eq!(exec["args"][2], issuer);
    assert_eq!(
        exec["args"][6].as_str().unwrap(),
        dir.join("ca.crt").to_str().unwrap()
    );

    // Real kubectl as admin.
    let out = kubectl(
        &dir,
        &[
            "--context",
            "playground-admin",
            "get",
            "namespaces",
            "-o",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|ns| ns["metadata"]["name"] == "default"));
    let out = kubectl(
        &dir,
        &[
            "--context",
            "playground-admin",
            "auth",
            "whoami",
            "-o",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The API double trusts the playground's IdP: an ID token from it is alice.
    let tokens = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = idp_client(&dir);
        let authorization = client.device_authorization(SCOPE).await.unwrap();
        let approve = testbed(&[
            "approve",
            "--dir",
            dir.to_str().unwrap(),
            "--user",
            "alice",
            &authorization.user_code,
        ]);
        assert!(
            approve.status.success(),
            "{}",
            String::from_utf8_lossy(&approve.stderr)
        );
        client.wait_for_device_tokens(&authorization).await.unwrap()
    });
    let out = kubectl(
        &dir,
        &[
            "--context",
            "playground-admin",
            "--token",
            &tokens.id_token,
            "auth",
            "whoami",
            "-o",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let review: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        review["status"]["userInfo"]["username"],
        "alice@example.com"
    );

    let cluster: Value =
        serde_json::from_slice(&std::fs::read(dir.join("cluster.json")).unwrap()).unwrap();
    let server = config["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap()
        .to_string();

    let status = up.interrupt();
    assert!(status.success(), "up exited with {status}");
    assert!(!dir.join("ready").exists(), "ready is removed on shutdown");
    assert!(!dir.join("playground.pid").exists());
    // Its identity provider went with it.
    let gone = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(idp_client(&dir).stats());
    assert!(gone.is_err(), "the IdP still answers after shutdown");
    // And so did its API server (and, for the real one, etcd and the controller manager).
    let port = server.rsplit(':').next().unwrap();
    assert!(
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
        "the API server still listens after shutdown"
    );
    if cluster["kind"] == "real" {
        assert!(
            dir.join("audit.log").is_file(),
            "the real server's audit log"
        );
        let pids = Command::new("pgrep")
            .args([
                "-f",
                &format!("--audit-log-path={}", dir.join("audit.log").display()),
            ])
            .output()
            .unwrap();
        assert!(
            pids.stdout.is_empty(),
            "a kube-apiserver of this playground is still running: {}",
            String::from_utf8_lossy(&pids.stdout)
        );
    }
}

/// A `go` on PATH that is too old for the pinned Kubernetes modules.
fn old_go(dir: &Path) -> std::ffi::OsString {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let go = bin.join("go");
    std::fs::write(&go, "#!/bin/sh\necho 'go version go1.19.8 linux/amd64'\n").unwrap();
    std::fs::set_permissions(&go, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(&path));
    std::env::join_paths(dirs).unwrap()
}

#[test]
fn up_without_a_usable_go_falls_back_to_the_double_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pg");
    let log = std::fs::File::create(dir.with_extension("up.log")).unwrap();
    let child = Command::new(TESTBED)
        .args(["up", "--no-install", "--dir"])
        .arg(&dir)
        .env("PATH", old_go(tmp.path()))
        .env_remove("CI")
        .env_remove("BREAKGLASS_TESTBED_CLUSTER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut up = Up {
        child,
        dir: dir.clone(),
    };
    up.wait_ready();
    let log = up.log();
    assert!(
        log.contains("note: go version go1.19.8 linux/amd64 is too old; the pinned Kubernetes modules need Go 1.26 or newer: using the Kubernetes API double instead"),
        "{log}"
    );
    assert!(log.contains("(the Kubernetes API double)"), "{log}");
    let cluster: Value =
        serde_json::from_slice(&std::fs::read(dir.join("cluster.json")).unwrap()).unwrap();
    assert_eq!(cluster["kind"], "double");
    assert!(up.interrupt().success());
}

#[test]
fn under_ci_a_missing_go_is_an_error_not_a_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(TESTBED)
        .args(["up", "--no-install", "--dir"])
        .arg(tmp.path().join("pg"))
        .env("PATH", old_go(tmp.path()))
        .env("CI", "true")
        .env_remove("BREAKGLASS_TESTBED_CLUSTER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: go version go1.19.8 linux/amd64 is too old")
            && stderr.contains("CI runs the tests on the real control plane"),
        "{stderr}"
    );
    assert!(!tmp.path().join("pg/ready").exists());
}

#[test]
fn up_installs_the_manifests_refuses_a_second_up_and_denies_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pg");
    let up = Up::start(&dir, &[]);

    // `up` applied the project's install manifests: every object in them exists.
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    assert!(
        deploy.is_dir(),
        "the project's deploy/ manifests are missing"
    );
    let out = kubectl(
        &dir,
        &[
            "--context",
            "playground-admin",
            "get",
            "-f",
            deploy.to_str().unwrap(),
            "-o",
            "name",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty());

    let second = testbed(&["up", "--dir", dir.to_str().unwrap(), "--no-install"]);
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("holds a running playground"),
        "unexpected: {stderr}"
    );
    assert!(
        dir.join("ready").exists(),
        "the refused up left ready alone"
    );

    // `approve --deny` aborts the code: the waiting client gets access_denied.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = idp_client(&dir);
        let authorization = client.device_authorization(SCOPE).await.unwrap();
        let deny = testbed(&[
            "approve",
            "--dir",
            dir.to_str().unwrap(),
            "--deny",
            &authorization.user_code,
        ]);
        assert!(
            deny.status.success(),
            "{}",
            String::from_utf8_lossy(&deny.stderr)
        );
        let err = client
            .wait_for_device_tokens(&authorization)
            .await
            .unwrap_err();
        assert_eq!(err.error, "access_denied");
    });

    // SIGTERM stops it as well; afterwards the directory can be used again.
    signal(up.child.id(), "TERM");
    let mut up = up;
    let status = up.child.wait().unwrap();
    assert!(status.success(), "{status}");
    drop(up);
    let again = Up::start(&dir, &["--no-install", "--auto-approve", "bob"]);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = idp_client(&dir);
        let authorization = client.device_authorization(SCOPE).await.unwrap();
        let tokens = client.wait_for_device_tokens(&authorization).await.unwrap();
        assert!(!tokens.id_token.is_empty());
    });
    assert!(again.interrupt().success());
}

#[test]
fn up_without_node_says_how_to_install_it() {
    let tmp = tempfile::tempdir().unwrap();
    // The double needs no Go, so Node.js is the one thing missing here,
    // under CI (where a missing Go is an error of its own) as elsewhere.
    let out = Command::new(TESTBED)
        .args(["up", "--cluster", "double", "--dir"])
        .arg(tmp.path())
        .env("PATH", tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Node.js is not installed"), "{stderr}");
    assert!(
        stderr.contains("npm ci --prefix tests/testbed/idp"),
        "{stderr}"
    );
    assert!(!tmp.path().join("ready").exists());
}

#[test]
fn approve_outside_a_playground_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = testbed(&[
        "approve",
        "--dir",
        tmp.path().to_str().unwrap(),
        "--user",
        "alice",
        "BCDF-GHJK",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is a playground running there"), "{stderr}");
}

#[test]
fn up_without_the_npm_packages_says_to_run_npm_ci() {
    let tmp = tempfile::tempdir().unwrap();
    let empty_idp = tmp.path().join("idp");
    std::fs::create_dir(&empty_idp).unwrap();
    let out = Command::new(TESTBED)
        .args(["up", "--dir"])
        .arg(tmp.path().join("pg"))
        .env(breakglass_testbed::idp::IDP_DIR_ENV, &empty_idp)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("npm packages are not installed"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("npm ci --prefix {}", empty_idp.display())),
        "{stderr}"
    );
}
