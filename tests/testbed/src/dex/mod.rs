//! Dex, the second real identity provider: built from the Go module proxy
//! (`tests/testbed/go/dex`), run over HTTPS on loopback with in-memory storage, a static
//! password database (users with groups), a public client for kubectl-breakglass and a
//! confidential peer client (`kubernetes`) that trusts it for cross-client ID tokens.
//! The person who approves device codes is [`browser`].

mod browser;

use crate::cluster::go_build;
use crate::cluster::process::{free_port, tail, Process};
use crate::tls::Ca;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// Every Dex user's password (its bcrypt hash, from Dex's own example configuration).
pub const PASSWORD: &str = "password";
const PASSWORD_HASH: &str = "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W";

/// The public client kubectl-breakglass logs in with.
pub const CLIENT_ID: &str = "kubectl-breakglass";
/// A peer client that trusts [`CLIENT_ID`]: `--scope audience:server:client_id:kubernetes`
/// gets an ID token addressed to it (`aud: kubernetes`, `azp: kubectl-breakglass`).
pub const PEER_CLIENT_ID: &str = "kubernetes";

/// Who may sign in.
#[derive(Debug, Clone)]
pub struct DexUser {
    pub name: String,
    pub email: String,
    pub groups: Vec<String>,
}

impl DexUser {
    /// `name@example.com` in `groups`.
    pub fn new(name: &str, groups: &[&str]) -> DexUser {
        DexUser {
            name: name.into(),
            email: format!("{name}@example.com"),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// What Dex is configured with.
#[derive(Debug, Clone)]
pub struct DexConfig {
    pub users: Vec<DexUser>,
    pub id_token_ttl: Duration,
}

impl Default for DexConfig {
    /// alice (`sre`) and bob (`dev`), like the other IdP.
    fn default() -> Self {
        DexConfig {
            users: vec![
                DexUser::new("alice", &["sre"]),
                DexUser::new("bob", &["dev"]),
            ],
            id_token_ttl: Duration::from_secs(300),
        }
    }
}

/// A running Dex; dropping it stops the process.
pub struct Dex {
    issuer: String,
    ca_pem: String,
    users: Vec<DexUser>,
    process: Process,
    _dir: tempfile::TempDir,
}

/// How long Dex may take to serve its discovery document.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

impl Dex {
    /// Builds Dex (once per machine) and starts it with a certificate from `ca`.
    pub async fn start(config: DexConfig, ca: &Ca) -> Result<Dex> {
        let bin = tokio::task::spawn_blocking(|| go_build::binary("dex", None)).await??;
        let dir = tempfile::Builder::new()
            .prefix("breakglass-dex-")
            .tempdir()
            .context("creating Dex's directory")?;
        let cert = ca.issue_loopback_server_cert()?;
        let d = dir.path();
        std::fs::write(d.join("tls.crt"), &cert.cert_pem)?;
        std::fs::write(d.join("tls.key"), &cert.key_pem)?;
        let port = free_port()?;
        let issuer = format!("https://127.0.0.1:{port}/dex");
        let file = d.join("config.yaml");
        // JSON is YAML.
        std::fs::write(&file, configuration(&config, &issuer, port, d).to_string())?;
        let mut process = Process::spawn(
            "dex",
            &bin,
            &["serve".to_string(), file.display().to_string()],
            &d.join("dex.log"),
        )?;
        wait_ready(&mut process, &issuer, ca).await?;
        Ok(Dex {
            issuer,
            ca_pem: ca.cert_pem().to_string(),
            users: config.users,
            process,
            _dir: dir,
        })
    }

    /// `https://127.0.0.1:PORT/dex`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Dex's log, for messages.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// Approves `user_code` as `user` through Dex's device and password pages.
    pub async fn approve(&self, user_code: &str, user: &str) -> Result<()> {
        let email = self
            .users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.email.clone())
            .with_context(|| format!("Dex has no user {user}"))?;
        browser::Browser::new(&self.issuer, &self.ca_pem)?
            .approve(user_code, &email)
            .await
            .with_context(|| {
                format!(
                    "approving {user_code} as {user} at Dex; its log ({}):\n{}",
                    self.log_path().display(),
                    tail(self.log_path(), 15)
                )
            })
    }
}

impl Drop for Dex {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- Dex log ({}) ---\n{}",
                self.log_path().display(),
                tail(self.log_path(), 40)
            );
        }
    }
}

/// Dex's configuration: HTTPS, memory storage, the password database, two clients.
fn configuration(config: &DexConfig, issuer: &str, port: u16, dir: &Path) -> serde_json::Value {
    let ttl = format!("{}s", config.id_token_ttl.as_secs().max(1));
    json!({
        "issuer": issuer,
        "storage": {"type": "memory"},
        "web": {
            "https": format!("127.0.0.1:{port}"),
            "tlsCert": dir.join("tls.crt"),
            "tlsKey": dir.join("tls.key"),
        },
        "logger": {"level": "debug", "format": "text"},
        "oauth2": {"skipApprovalScreen": true},
        "expiry": {"idTokens": ttl, "deviceRequests": "5m"},
        "enablePasswordDB": true,
        "staticPasswords": config.users.iter().enumerate().map(|(i, u)| json!({
            "email": u.email,
            "hash": PASSWORD_HASH,
            "username": u.name,
            "name": u.name,
            "preferredUsername": u.name,
            "emailVerified": true,
            "groups": u.groups,
            "userID": format!("00000000-0000-0000-0000-{i:012}"),
        })).collect::<Vec<_>>(),
        "staticClients": [
            {"id": CLIENT_ID, "name": "kubectl breakglass", "public": true},
            {
                "id": PEER_CLIENT_ID,
                "name": "Kubernetes",
                "secret": "a-peer-secret-nobody-uses",
                "trustedPeers": [CLIENT_ID],
                "redirectURIs": ["https://127.0.0.1/never"],
            },
        ],
    })
}

/// Waits until Dex serves its discovery document over TLS with `ca`'s certificate.
async fn wait_ready(process: &mut Process, issuer: &str, ca: &Ca) -> Result<()> {
    let http = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes())?)
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?;
    let url = format!("{issuer}/.well-known/openid-configuration");
    let start = Instant::now();
    let mut last = String::from("no answer");
    while start.elapsed() < READY_TIMEOUT {
        process.check_running()?;
        match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "Dex did not serve {url} within {}s ({last}); last lines of {}:\n{}",
        READY_TIMEOUT.as_secs(),
        process.log_path().display(),
        tail(process.log_path(), 15)
    )
}
