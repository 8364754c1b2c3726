//! Shared helpers for the plugin's integration tests: run the built binary
//! in an isolated environment, log in through the real IdP, read answers.

#![allow(dead_code)] // each test file uses its own subset

pub mod grants;
pub mod prerequisites;
pub mod shells;
pub mod snapshot;

use breakglass_testbed::idp::Idp;
use breakglass_testbed::tls::Ca;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The plugin binary cargo built for these tests.
pub const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-breakglass");

pub const V1: &str = "client.authentication.k8s.io/v1";
pub const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// A private home for one test: its own cache, runtime and home directories,
/// so tests never share locks, files or kubeconfigs.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub issuer: String,
    pub client_id: String,
    pub ca_file: PathBuf,
    /// `--token-cache` for every call.
    pub cache: String,
}

impl Sandbox {
    /// A sandbox for the IdP `issuer` / `client_id` whose CA is `ca`.
    pub fn new(issuer: &str, client_id: &str, ca: &Ca) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "cache", "run"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let ca_file = dir.path().join("ca.crt");
        ca.write_cert(&ca_file).unwrap();
        Sandbox {
            dir,
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            ca_file,
            cache: "keyutils".to_string(),
        }
    }

    /// A sandbox for a running test-bed IdP.
    pub fn for_idp(idp: &Idp, ca: &Ca) -> Sandbox {
        Sandbox::new(idp.issuer(), idp.client_id(), ca)
    }

    pub fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// `--issuer I --client-id C --ca-file F`.
    pub fn idp_args(&self) -> Vec<String> {
        vec![
            "--issuer".into(),
            self.issuer.clone(),
            "--client-id".into(),
            self.client_id.clone(),
            "--ca-file".into(),
            self.ca_file.display().to_string(),
        ]
    }

    /// The environment every call gets: no display, no kubeconfig, private dirs.
    pub fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env("KUBECONFIG", self.path("home/no-kubeconfig"))
            .stdin(Stdio::null());
    }

    /// `kubectl-breakglass --token-cache CACHE ARGS...`.
    pub fn plugin(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(PLUGIN);
        self.env(&mut cmd);
        cmd.arg("--token-cache").arg(&self.cache).args(args);
        cmd
    }

    /// Starts `login --no-browser` with the IdP flags.
    pub fn spawn_login(&self, extra: &[&str]) -> Child {
        let mut cmd = self.plugin(&["login", "--no-browser"]);
        cmd.args(self.idp_args()).args(extra);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Logs in as `user`, approving the code at the IdP like a person would.
    pub async fn login(&self, idp: &Idp, user: &str) -> Output {
        let child = self.spawn_login(&[]);
        let code = idp
            .wait_for_pending_user_code(Duration::from_secs(20))
            .await
            .unwrap();
        idp.approve(&code, user).await.unwrap();
        let out = wait(child).await;
        assert_ok(&out, "login");
        out
    }

    /// Runs `credential` as kubectl would, with KUBERNETES_EXEC_INFO.
    pub fn credential(&self, api_version: &str, interactive: bool) -> Output {
        self.credential_cmd(api_version, interactive)
            .output()
            .unwrap()
    }

    pub fn credential_cmd(&self, api_version: &str, interactive: bool) -> Command {
        let mut cmd = self.plugin(&["credential"]);
        cmd.args(self.idp_args())
            .env("KUBERNETES_EXEC_INFO", exec_info(api_version, interactive));
        cmd
    }
}

impl Drop for Sandbox {
    /// The kernel keyring outlives the test: log out so keys do not pile up
    /// (non-root users have a 20 KB key quota).
    fn drop(&mut self) {
        if self.cache == "keyutils" {
            let _ = self.plugin(&["logout"]).args(self.idp_args()).output();
        }
    }
}

/// The KUBERNETES_EXEC_INFO kubectl sends.
pub fn exec_info(api_version: &str, interactive: bool) -> String {
    serde_json::json!({
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": { "interactive": interactive },
    })
    .to_string()
}

/// Waits for a child without blocking the async runtime.
pub async fn wait(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstderr:\n{}",
        out.status,
        stderr(out)
    );
}

/// Asserts a failure: non-zero exit, nothing on stdout, one `error:` line
/// containing each of `needles`, and no JWT anywhere.
#[track_caller]
pub fn assert_fails_with(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr:\n{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty on failure, got: {}",
        stdout(out)
    );
    assert!(err.contains("error: "), "no `error:` line in:\n{err}");
    for needle in needles {
        assert!(
            err.contains(needle),
            "expected {needle:?} in stderr:\n{err}"
        );
    }
    assert_no_jwt(&err);
}

/// Fails if `text` contains something that looks like a JWT (`eyJ...`).
#[track_caller]
pub fn assert_no_jwt(text: &str) {
    assert!(!text.contains("eyJ"), "a token leaked into output:\n{text}");
}

/// The ExecCredential on stdout: (apiVersion, token, expirationTimestamp).
#[track_caller]
pub fn exec_credential(out: &Output) -> (String, String, chrono::DateTime<chrono::Utc>) {
    assert_ok(out, "credential");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not an ExecCredential ({e}): {}", stdout(out)));
    assert_eq!(v["kind"], "ExecCredential");
    let expires = v["status"]["expirationTimestamp"]
        .as_str()
        .expect("expirationTimestamp");
    (
        v["apiVersion"].as_str().unwrap().to_string(),
        v["status"]["token"]
            .as_str()
            .expect("status.token")
            .to_string(),
        chrono::DateTime::parse_from_rfc3339(expires)
            .unwrap()
            .into(),
    )
}

/// The (unverified) claims of a JWT, for assertions.
pub fn jwt_claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// Starts a CA and a test-bed IdP with `config`.
pub async fn start_idp(config: breakglass_testbed::idp::IdpConfig) -> (Ca, Idp) {
    let ca = Ca::generate().unwrap();
    let idp = Idp::start(config, &ca).await.unwrap();
    (ca, idp)
}

/// A loopback port nothing listens on.
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// PATH with the built plugin's directory first, as an installed plugin would be (an exec
/// entry written by `setup` names the bare command).
pub fn path_with_plugin() -> std::ffi::OsString {
    let dir = Path::new(PLUGIN).parent().unwrap().to_path_buf();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&rest))).unwrap()
}

/// Path helper for messages.
pub fn show(p: &Path) -> String {
    p.display().to_string()
}

/// Says loudly that a test was skipped, and counts it for scripts/test's closing line
/// (`BREAKGLASS_SKIP_LOG`). Under CI nothing may skip: it panics instead.
#[allow(clippy::print_stderr)] // the loud line is the point
pub fn skip(why: &str) {
    assert!(
        !breakglass_testbed::ci(),
        "under CI nothing may skip: {why}"
    );
    eprintln!("\n*** SKIPPED: {why} ***\n");
    if let Some(log) = std::env::var_os("BREAKGLASS_SKIP_LOG") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{why}");
        }
    }
}

/// The cluster kind for tests that run on either: the real control plane where Go is
/// (required under CI), else the double with a loud note, printed once per test binary.
#[allow(clippy::print_stderr)] // the loud note is the point
pub fn cluster_kind() -> breakglass_testbed::cluster::ClusterKind {
    static NOTE: std::sync::Once = std::sync::Once::new();
    let (kind, note) =
        breakglass_testbed::cluster::ClusterKind::from_env().unwrap_or_else(|e| panic!("{e:#}"));
    if let Some(note) = note {
        NOTE.call_once(|| eprintln!("\n*** NOTE: {note} ***\n"));
    }
    kind
}

/// A `login` (or interactive `credential`) running in the background: its user code, read
/// from its stderr as a person would, and the process to wait for.
pub struct PendingLogin {
    pub user_code: String,
    child: Child,
    stderr: std::thread::JoinHandle<String>,
}

impl PendingLogin {
    /// Reads `child`'s stderr (piped) until it shows the code to enter.
    pub fn read(child: Child) -> PendingLogin {
        match PendingLogin::try_read(child) {
            Ok(pending) => pending,
            Err(out) => panic!(
                "it ended without a user code ({}):\n{}",
                out.status,
                stderr(&out)
            ),
        }
    }

    /// Like [`read`](Self::read), or the finished process when it ends without a code.
    pub fn try_read(mut child: Child) -> Result<PendingLogin, Output> {
        use std::io::BufRead as _;
        let err = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            let mut next_is_code = false;
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if next_is_code && !line.trim().is_empty() {
                    let _ = tx.send(line.trim().to_string());
                    next_is_code = false;
                }
                if line.contains("and enter the code") {
                    next_is_code = true;
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(user_code) => Ok(PendingLogin {
                user_code,
                child,
                stderr,
            }),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let mut out = child.wait_with_output().unwrap();
                out.stderr = stderr.join().unwrap_or_default().into_bytes();
                Err(out)
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "no user code within 60 s; stderr:\n{}",
                    stderr.join().unwrap_or_default()
                );
            }
        }
    }

    /// Waits for the process: its output, with the whole of its stderr.
    pub async fn finish(self) -> Output {
        let PendingLogin { child, stderr, .. } = self;
        let mut out = wait(child).await;
        out.stderr = tokio::task::spawn_blocking(move || stderr.join().unwrap_or_default())
            .await
            .unwrap()
            .into_bytes();
        out
    }
}
