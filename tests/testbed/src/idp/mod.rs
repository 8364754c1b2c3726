//! The real OpenID provider (`oidc-provider` under Node.js) and the person who approves device codes.
//!
//! [`Idp::start`] runs `tests/testbed/idp/idp.mjs` with a config this module
//! writes, over HTTPS with a certificate from the test bed's [`Ca`]; the
//! approval driver ([`browser`]) plays the person in a browser over HTTP.

mod browser;
mod client;
mod process;

pub use client::{DeviceAuthorization, IdpClient, IdpStats, OAuthError, Tokens};
pub use process::{check_node_install, IDP_DIR_ENV, NPM_INSTALL_HINT};

use crate::tls::Ca;
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::time::Duration;

/// What the identity provider knows: its users, its one client and its token lifetimes.
#[derive(Clone, Debug)]
pub struct IdpConfig {
    pub users: Vec<IdpUser>,
    pub client_id: String,
    pub id_token_ttl: Duration,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub device_code_ttl: Duration,
    /// The polling `interval` advertised in device authorization responses
    /// (oidc-provider sends none, which means 5 s; 1 s keeps tests quick).
    pub poll_interval: Duration,
    /// Where node's stderr goes; a file in a private temporary directory when `None`.
    pub log_file: Option<PathBuf>,
}

/// A person who can sign in at the provider (by name, no password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpUser {
    pub name: String,
    pub email: String,
    pub groups: Vec<String>,
}

impl IdpUser {
    /// A user `name` with email `name@example.com` in `groups`.
    pub fn new(name: &str, groups: &[&str]) -> IdpUser {
        IdpUser {
            name: name.to_string(),
            email: format!("{name}@example.com"),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

impl Default for IdpConfig {
    /// alice (group `sre`, may break glass) and bob (group `dev`, may not).
    fn default() -> Self {
        IdpConfig {
            users: vec![
                IdpUser::new("alice", &["sre"]),
                IdpUser::new("bob", &["dev"]),
            ],
            client_id: "kubectl-breakglass".to_string(),
            id_token_ttl: Duration::from_secs(300),
            access_token_ttl: Duration::from_secs(300),
            refresh_token_ttl: Duration::from_secs(24 * 3600),
            device_code_ttl: Duration::from_secs(600),
            poll_interval: Duration::from_secs(1),
            log_file: None,
        }
    }
}

/// A running provider; dropping it kills the node process.
pub struct Idp {
    process: process::NodeProcess,
    client: IdpClient,
}

impl Idp {
    /// Starts the provider on a free loopback port and waits until it serves.
    pub async fn start(config: IdpConfig, ca: &Ca) -> Result<Idp> {
        if config.users.is_empty() {
            bail!("IdpConfig has no users: nobody could sign in");
        }
        let cert = ca.issue_loopback_server_cert()?;
        let process = process::NodeProcess::start(&config, &cert).await?;
        let client = IdpClient::new(
            process.issuer().to_string(),
            config.client_id.clone(),
            ca.cert_pem(),
            config.users.clone(),
        )?;
        Ok(Idp { process, client })
    }

    /// The issuer URL, `https://127.0.0.1:PORT`.
    pub fn issuer(&self) -> &str {
        self.client.issuer()
    }

    /// The public client's id (`kubectl-breakglass` by default).
    pub fn client_id(&self) -> &str {
        self.client.client_id()
    }

    /// The file node's stderr goes to.
    pub fn log_path(&self) -> &std::path::Path {
        self.process.log_path()
    }

    /// A cheap, clonable handle for talking to this provider from other tasks.
    pub fn client(&self) -> &IdpClient {
        &self.client
    }

    /// Approves `user_code` as `user`, through the provider's own device and sign-in pages.
    pub async fn approve(&self, user_code: &str, user: &str) -> Result<()> {
        self.client.approve(user_code, user).await
    }

    /// Aborts `user_code` at the confirmation page: the polling client gets `access_denied`.
    pub async fn deny(&self, user_code: &str) -> Result<()> {
        self.client.deny(user_code).await
    }

    /// User codes handed out and neither approved, denied nor expired, oldest first.
    pub async fn pending_user_codes(&self) -> Result<Vec<String>> {
        self.client.pending_user_codes().await
    }

    /// Waits until some device code is pending and returns its user code.
    pub async fn wait_for_pending_user_code(&self, timeout: Duration) -> Result<String> {
        self.client.wait_for_pending_user_code(timeout).await
    }

    /// How often the device authorization and token endpoints were used.
    pub async fn stats(&self) -> Result<IdpStats> {
        self.client.stats().await
    }

    /// Revokes every grant of `user`, with its refresh and access tokens.
    pub async fn revoke_grants(&self, user: &str) -> Result<()> {
        self.client.revoke_grants(user).await
    }

    /// Runs a whole device flow as `user` and returns the tokens, for tests that just need a login.
    pub async fn login_tokens(&self, user: &str) -> Result<Tokens> {
        self.client.login_tokens(user).await
    }

    /// Approves every new pending code as `user` in the background, until the handle is aborted.
    pub fn auto_approve(&self, user: &str) -> tokio::task::JoinHandle<()> {
        self.client.clone().auto_approve(user.to_string())
    }
}
