//! Keycloak, a third real identity provider: its server distribution from Maven Central
//! (`tests/testbed/keycloak/fetch`, once per machine), started per test from a hard-linked
//! copy over HTTPS with a realm imported at start: a public client with the device grant
//! and a group membership mapper, users with groups and (unless said otherwise) the
//! realm's default roles, which include `offline_access`.

mod browser;

use crate::cluster::process::{free_port, tail, Process};
use crate::tls::Ca;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The realm, and the client kubectl-breakglass logs in with.
pub const REALM: &str = "breakglass";
pub const CLIENT_ID: &str = "kubectl-breakglass";
/// Every user's password.
pub const PASSWORD: &str = "password";

/// The script that fetches and builds the distribution.
const FETCH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/keycloak/fetch");

/// Keycloak starts in about 40 s on a quiet 2-core machine; give a loaded one room.
const READY_TIMEOUT: Duration = Duration::from_secs(240);

/// Who may sign in.
#[derive(Debug, Clone)]
pub struct KeycloakUser {
    pub name: String,
    pub email: String,
    pub groups: Vec<String>,
    /// Whether the user has the realm's default roles (among them `offline_access`).
    pub offline_access: bool,
}

impl KeycloakUser {
    /// `name@example.com` in `groups`, with the default roles.
    pub fn new(name: &str, groups: &[&str]) -> KeycloakUser {
        KeycloakUser {
            name: name.into(),
            email: format!("{name}@example.com"),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            offline_access: true,
        }
    }
}

/// Why Keycloak cannot be had here (no Java, no Maven), or None.
pub fn missing() -> Option<String> {
    for (tool, why) in [
        ("java", "Java 17 or newer runs Keycloak"),
        ("mvn", "Maven fetches Keycloak from Maven Central"),
        ("unzip", "unzip unpacks its distribution"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!("`{tool}` is not installed ({why})"));
        }
    }
    None
}

/// The distribution's home, fetched and built on first use.
fn home() -> Result<PathBuf> {
    let out = Command::new(FETCH)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {FETCH}"))?;
    if !out.status.success() {
        bail!("fetching Keycloak failed (see above); rerun: {FETCH}");
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// A running Keycloak; dropping it stops Java and removes its copy.
pub struct Keycloak {
    issuer: String,
    ca_pem: String,
    process: Process,
    _dir: tempfile::TempDir,
}

impl Keycloak {
    /// Starts Keycloak with `users`, serving TLS with a certificate from `ca`.
    pub async fn start(users: &[KeycloakUser], ca: &Ca) -> Result<Keycloak> {
        let home = tokio::task::spawn_blocking(home).await??;
        let dir = tempfile::Builder::new()
            .prefix("breakglass-keycloak-")
            .tempdir()
            .context("creating Keycloak's directory")?;
        let copy = dir.path().join("keycloak");
        // Hard links: a copy in a moment; Keycloak writes only new files (its database).
        let status = Command::new("cp")
            .arg("-al")
            .arg(&home)
            .arg(&copy)
            .status()
            .context("copying Keycloak")?;
        if !status.success() {
            bail!("cp -al {} {} failed", home.display(), copy.display());
        }
        let import = copy.join("data/import");
        std::fs::create_dir_all(&import)?;
        std::fs::write(import.join("realm.json"), realm(users).to_string())?;
        let cert = ca.issue_loopback_server_cert()?;
        std::fs::write(dir.path().join("tls.crt"), &cert.cert_pem)?;
        std::fs::write(dir.path().join("tls.key"), &cert.key_pem)?;
        let port = free_port()?;
        let origin = format!("https://127.0.0.1:{port}");
        let p = |f: &str| dir.path().join(f).display().to_string();
        let mut process = Process::spawn_group(
            "keycloak",
            &copy.join("bin/kc.sh"),
            &[
                "start".to_string(),
                "--optimized".into(),
                "--import-realm".into(),
                "--http-enabled=false".into(),
                "--http-host=127.0.0.1".into(),
                format!("--https-port={port}"),
                format!("--https-certificate-file={}", p("tls.crt")),
                format!("--https-certificate-key-file={}", p("tls.key")),
                format!("--hostname={origin}"),
            ],
            &dir.path().join("keycloak.log"),
        )?;
        let issuer = format!("{origin}/realms/{REALM}");
        wait_ready(&mut process, &issuer, ca).await?;
        Ok(Keycloak {
            issuer,
            ca_pem: ca.cert_pem().to_string(),
            process,
            _dir: dir,
        })
    }

    /// `https://127.0.0.1:PORT/realms/breakglass`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// Approves `user_code` as `user`: Keycloak's device page, sign-in and consent.
    pub async fn approve(&self, user_code: &str, user: &str) -> Result<()> {
        browser::Browser::new(&self.issuer, &self.ca_pem)?
            .approve(user_code, user)
            .await
            .with_context(|| {
                format!(
                    "approving {user_code} as {user} at Keycloak; its log ({}):\n{}",
                    self.log_path().display(),
                    tail(self.log_path(), 15)
                )
            })
    }
}

impl Drop for Keycloak {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- Keycloak log ({}) ---\n{}",
                self.log_path().display(),
                tail(self.log_path(), 30)
            );
        }
    }
}

/// The realm: groups, users, and the public device-flow client with a groups mapper.
fn realm(users: &[KeycloakUser]) -> serde_json::Value {
    let mut groups: Vec<&String> = users.iter().flat_map(|u| &u.groups).collect();
    groups.sort();
    groups.dedup();
    json!({
        "realm": REALM,
        "enabled": true,
        "groups": groups.iter().map(|g| json!({"name": g})).collect::<Vec<_>>(),
        "users": users.iter().map(|u| {
            let mut user = json!({
                "username": u.name,
                "email": u.email,
                "emailVerified": true,
                "enabled": true,
                "firstName": u.name,
                "lastName": "Example",
                "credentials": [{"type": "password", "value": PASSWORD, "temporary": false}],
                "groups": u.groups.iter().map(|g| format!("/{g}")).collect::<Vec<_>>(),
            });
            if u.offline_access {
                user["realmRoles"] = json!([format!("default-roles-{REALM}")]);
            }
            user
        }).collect::<Vec<_>>(),
        "clients": [{
            "clientId": CLIENT_ID,
            "name": "kubectl breakglass",
            "enabled": true,
            "publicClient": true,
            "standardFlowEnabled": false,
            "directAccessGrantsEnabled": false,
            "attributes": {"oauth2.device.authorization.grant.enabled": "true"},
            "protocolMappers": [{
                "name": "groups",
                "protocol": "openid-connect",
                "protocolMapper": "oidc-group-membership-mapper",
                "config": {
                    "claim.name": "groups",
                    "full.path": "false",
                    "id.token.claim": "true",
                    "access.token.claim": "true",
                    "userinfo.token.claim": "true",
                },
            }],
        }],
    })
}

/// Waits until the realm's discovery document is served.
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
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!(
        "Keycloak did not serve {url} within {}s ({last}); last lines of {}:\n{}",
        READY_TIMEOUT.as_secs(),
        process.log_path().display(),
        tail(process.log_path(), 15)
    )
}
