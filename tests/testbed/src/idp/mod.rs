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
    /// Which IdP's documented behaviour to emulate.
    pub profile: IdpProfile,
    /// A client secret the client must send (Google's device clients must).
    pub client_secret: Option<String>,
    /// Groups only when the `groups` scope is asked for (as Dex and Okta do).
    pub groups_need_scope: bool,
    /// Answer refresh grants without an ID token (access token only).
    pub refresh_without_id_token: bool,
    /// Leave `device_authorization_endpoint` out of discovery.
    pub no_device_flow: bool,
    /// How far the IdP's clock is ahead of the real one (negative: behind), in seconds.
    pub clock_skew_secs: i64,
}

/// The hosted IdPs the test bed emulates from their documentation (see
/// `tests/testbed/idp/README.md` for what each does).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum IdpProfile {
    /// oidc-provider as configured for the other tests.
    #[default]
    Generic,
    /// Google: `verification_url`, a client secret, only openid/email/profile, no groups.
    Google,
    /// Microsoft Entra ID: tenant issuer `/{tenant}/v2.0`, a `{tenantid}` template at
    /// `/common/v2.0`, groups overage beyond `overage_limit` groups.
    Entra {
        tenant: String,
        overage_limit: usize,
    },
    /// Okta custom authorization server `/oauth2/default`; `groups_scope`: whether its
    /// admins created the `groups` scope.
    Okta { groups_scope: bool },
    /// Auth0: refresh tokens only for `api_audience` (sent as `audience`), namespaced groups
    /// claim, 403/429 while polling.
    Auth0 { api_audience: String },
}

impl IdpProfile {
    /// Entra ID with a fixed tenant id and its documented 200-group overage limit.
    pub fn entra() -> IdpProfile {
        IdpProfile::Entra {
            tenant: ENTRA_TENANT.to_string(),
            overage_limit: 200,
        }
    }

    /// The scopes a plain client asks for to get an ID token with the person's groups.
    pub fn login_scope(&self) -> &'static str {
        match self {
            IdpProfile::Generic | IdpProfile::Okta { groups_scope: true } => {
                "openid offline_access email groups"
            }
            IdpProfile::Google => "openid email",
            _ => "openid offline_access email",
        }
    }

    fn name(&self) -> &'static str {
        match self {
            IdpProfile::Generic => "generic",
            IdpProfile::Google => "google",
            IdpProfile::Entra { .. } => "entra",
            IdpProfile::Okta { .. } => "okta",
            IdpProfile::Auth0 { .. } => "auth0",
        }
    }
}

/// The tenant id of the emulated Entra ID.
pub const ENTRA_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Auth0's namespaced groups claim in the emulation.
pub const AUTH0_GROUPS_CLAIM: &str = "https://breakglass.example/groups";

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
            profile: IdpProfile::Generic,
            client_secret: None,
            groups_need_scope: false,
            refresh_without_id_token: false,
            no_device_flow: false,
            clock_skew_secs: 0,
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
        )?
        .with_login(&config);
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

    /// Stops the provider process (an IdP outage): every request to the issuer fails from
    /// now on. It is not restarted.
    pub async fn stop(&mut self) {
        self.process.stop().await;
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
