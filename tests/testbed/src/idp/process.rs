//! Starting and stopping `node idp.mjs`.

use super::IdpConfig;
use crate::tls::ServerCert;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Where idp.mjs and its package.json live.
const IDP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/idp");

/// Overrides [`IDP_DIR`] (for a copy of the provider elsewhere, and to test the install checks).
pub const IDP_DIR_ENV: &str = "BREAKGLASS_TESTBED_IDP_DIR";

fn idp_dir() -> PathBuf {
    std::env::var_os(IDP_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(IDP_DIR))
}

fn npm_install_hint() -> String {
    match std::env::var_os(IDP_DIR_ENV) {
        Some(dir) => format!("npm ci --prefix {}", Path::new(&dir).display()),
        None => NPM_INSTALL_HINT.to_string(),
    }
}

/// The command that installs the provider's npm packages.
pub const NPM_INSTALL_HINT: &str = "npm ci --prefix tests/testbed/idp";

// Generous: on a loaded 2-core machine node's start (module loading, an RSA
// key) has been seen to take many seconds.
const START_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Deserialize)]
struct Ready {
    issuer: String,
}

pub(super) struct NodeProcess {
    child: Child,
    // Kept open so that node never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
    // Node exits when this closes, so it never outlives us, even after a SIGKILL.
    _stdin: ChildStdin,
    issuer: String,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// Checks that Node.js and the provider's npm packages are installed, with the command to fix it if not.
pub fn check_node_install() -> Result<()> {
    match std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "Node.js is not installed (no `node` on PATH); the test bed's identity provider runs \
             under it. Install Node.js 20 or later with npm (e.g. `apt-get install nodejs npm`), \
             then run `{}` (scripts/test does both)",
            npm_install_hint()
        ),
        Err(e) => return Err(e).context("running `node --version`"),
        Ok(status) if !status.success() => bail!("`node --version` failed ({status})"),
        Ok(_) => {}
    }
    let package = idp_dir().join("node_modules/oidc-provider/package.json");
    if !package.exists() {
        bail!(
            "the identity provider's npm packages are not installed ({} is missing): run \
             `{}` from the repository root (scripts/test does it for you)",
            package.display(),
            npm_install_hint()
        );
    }
    Ok(())
}

impl NodeProcess {
    /// Kills the provider and waits until it is gone: an outage, for tests.
    pub(super) async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    pub(super) async fn start(config: &IdpConfig, cert: &ServerCert) -> Result<NodeProcess> {
        check_node_install()?;
        let dir = tempfile::Builder::new()
            .prefix("breakglass-idp-")
            .tempdir()
            .context("creating a directory for the identity provider's config")?;
        let config_path = dir.path().join("idp-config.json");
        let json = serde_json::json!({
            "port": crate::ports::unique_port()?,
            "tls_cert_pem": cert.cert_pem,
            "tls_key_pem": cert.key_pem,
            "client_id": config.client_id,
            "users": config.users.iter().map(|u| serde_json::json!({
                "name": u.name, "email": u.email, "groups": u.groups,
            })).collect::<Vec<_>>(),
            "ttl": {
                "id_token": config.id_token_ttl.as_secs().max(1),
                "access_token": config.access_token_ttl.as_secs().max(1),
                "refresh_token": config.refresh_token_ttl.as_secs().max(1),
                "device_code": config.device_code_ttl.as_secs().max(1),
            },
            "poll_interval": config.poll_interval.as_secs().max(1),
            "profile": config.profile.name(),
            "client_secret": config.client_secret,
            "groups_need_scope": config.groups_need_scope,
            "refresh_without_id_token": config.refresh_without_id_token,
            "no_device_flow": config.no_device_flow,
            "clock_skew": config.clock_skew_secs,
        });
        let mut json = json;
        match &config.profile {
            super::IdpProfile::Entra {
                tenant,
                overage_limit,
            } => {
                json["tenant"] = tenant.clone().into();
                json["overage_limit"] = (*overage_limit).into();
            }
            super::IdpProfile::Okta { groups_scope } => {
                json["groups_scope"] = (*groups_scope).into()
            }
            super::IdpProfile::Auth0 { api_audience } => {
                json["api_audience"] = api_audience.clone().into()
            }
            _ => {}
        }
        write_private(&config_path, &serde_json::to_vec_pretty(&json)?)?;

        let log_path = config
            .log_file
            .clone()
            .unwrap_or_else(|| dir.path().join("idp.log"));
        let log = std::fs::File::create(&log_path).with_context(|| {
            format!(
                "creating the identity provider's log {}",
                log_path.display()
            )
        })?;

        let mut child = Command::new("node")
            .arg(idp_dir().join("idp.mjs"))
            .arg("--config")
            .arg(&config_path)
            .arg("--exit-with-stdin")
            .current_dir(idp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting `node idp.mjs`")?;
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let stdin = child.stdin.take().expect("stdin is piped");

        let mut line = String::new();
        let read = tokio::time::timeout(START_TIMEOUT, stdout.read_line(&mut line)).await;
        let failure = match read {
            Ok(Ok(n)) if n > 0 => match serde_json::from_str::<Ready>(&line) {
                Ok(ready) => {
                    return Ok(NodeProcess {
                        child,
                        _stdout: stdout,
                        _stdin: stdin,
                        issuer: ready.issuer,
                        log_path,
                        _dir: dir,
                    })
                }
                Err(e) => format!("it printed something other than its JSON ready line ({e})"),
            },
            Ok(Ok(_)) => "it exited before it was ready".to_string(),
            Ok(Err(e)) => format!("reading its stdout failed: {e}"),
            Err(_) => format!("it was not ready within {START_TIMEOUT:?}"),
        };
        let _ = child.start_kill();
        let _ = child.wait().await;
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        bail!(
            "the identity provider (node idp.mjs) did not start: {failure}; its stderr:\n{}",
            tail(&log, 40)
        )
    }

    pub(super) fn issuer(&self) -> &str {
        &self.issuer
    }

    pub(super) fn log_path(&self) -> &Path {
        &self.log_path
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // A failing test shows what the provider said (the harness captures stderr).
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
            eprintln!(
                "--- identity provider log ({}) ---\n{}",
                self.log_path.display(),
                tail(&log, 40)
            );
        }
    }
}

/// Writes a file only the owner can read (it holds a TLS key).
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
