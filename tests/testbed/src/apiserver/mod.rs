//! A faithful Kubernetes API server double. The test bed runs the *real* control plane
//! (`crate::cluster`) by default; the double stays for what a real server cannot serve —
//! tokens shorter than its 10-minute TokenRequest minimum (expiry tests in seconds) and a
//! token-check cache longer than its fixed 10 s — and as the playground's fallback where
//! Go is missing. Its fidelity is checked against real kubectl (`tests/kubectl_fidelity.rs`).
//!
//! What it serves: real wire format (k8s-openapi types, `Status`
//! errors, discovery, OpenAPI v3 for kubectl's validation), OIDC and service-account token
//! authentication, RBAC, TokenRequest with bound Secrets, garbage collection, CRDs and
//! fault injection. Driven by real kubectl in `tests/kubectl_fidelity.rs`.
//!
//! What a request goes through (`router.rs`): fault rules, bearer-token authentication
//! (`authn.rs`: static admin token, service-account JWTs from `sa_tokens.rs` re-checked against
//! their service account and bound Secret, OIDC ID tokens from `oidc.rs`, with the real server's
//! cache of successful authentications), RBAC (`rbac.rs`), then discovery/OpenAPI or the
//! resource handlers (`crud.rs`, `token_request.rs`, `reviews.rs`, `watch.rs`), and an audit
//! entry. Request bodies may be JSON, YAML or (for the kinds kubectl's typed clients send)
//! protobuf; answers are always JSON.
//!
//! Deliberately not emulated: RBAC escalation checks, CEL (ValidatingAdmissionPolicies are
//! stored; `admission.rs` is where evaluation would go), graceful/foreground deletion and
//! finalizers (objects and namespaces go at once, foreground acts as background), field
//! managers and conflicts of server-side apply, list paging (`limit`/`continue` return
//! everything), CRD version conversion (strategy None), `pattern` and CEL rules in CRD schemas.

mod admission;
mod audit;
mod authn;
mod bootstrap;
mod crud;
mod discovery;
mod events;
mod faults;
mod gc;
mod impersonation;
mod objects;
mod oidc;
mod openapi;
mod patch;
pub(crate) mod paths;
mod protobuf;
mod rbac;
mod resources;
mod reviews;
mod router;
mod sa_tokens;
mod schema;
mod selectors;
pub(crate) mod serve;
pub(crate) mod status;
mod table;
mod token_request;
mod validation;
mod vap;
mod watch;

pub use audit::AuditEntry;
pub use authn::UserInfo;
pub use faults::{FaultKind, FaultRule, Faults};
pub use status::ApiError;

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The API server's configuration, like its command-line flags.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// None = no OIDC authenticator.
    pub oidc: Option<OidcConfig>,
    /// Static token of user "kubernetes-admin" in group "system:masters".
    pub admin_token: String,
    /// Shortest `expirationSeconds` a TokenRequest may ask for (real server: 10 minutes).
    pub min_token_expiration: Duration,
    /// How long a successful token authentication is cached (real server: 10 s).
    pub token_auth_cache_ttl: Duration,
    /// How often the garbage collector runs.
    pub gc_interval: Duration,
}

/// Like `--oidc-issuer-url`, `--oidc-client-id`, `--oidc-username-claim=email`,
/// `--oidc-groups-claim=groups` and `--oidc-ca-file`.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer_url: String,
    pub client_id: String,
    pub ca_pem: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            oidc: None,
            admin_token: format!("admin-{}", uuid::Uuid::new_v4().simple()),
            min_token_expiration: Duration::from_secs(600),
            token_auth_cache_ttl: Duration::from_secs(10),
            gc_interval: Duration::from_secs(1),
        }
    }
}

/// Settings that tests may change while the server runs.
pub(crate) struct Settings {
    pub min_token_expiration: Duration,
    pub token_auth_cache_ttl: Duration,
}

/// Everything the request handlers share.
pub(crate) struct State {
    pub url: String,
    pub admin_token: String,
    pub settings: Mutex<Settings>,
    pub store: Mutex<store::Store>,
    pub faults: Faults,
    pub audit: Mutex<Vec<AuditEntry>>,
    pub signer: sa_tokens::Signer,
    pub oidc: Option<oidc::OidcAuthenticator>,
    pub auth_cache: Mutex<HashMap<[u8; 32], (UserInfo, Instant)>>,
}

mod store;

/// A running API server double; dropping it stops the server.
pub struct ApiServer {
    state: Arc<State>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl ApiServer {
    /// Starts the server on 127.0.0.1 (a free port), serving HTTPS with a certificate from `ca`.
    pub async fn start(config: ApiConfig, ca: &crate::tls::Ca) -> Result<ApiServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", crate::ports::unique_port()?))
            .await
            .context("binding the API server to 127.0.0.1")?;
        let port = listener.local_addr()?.port();
        let url = format!("https://127.0.0.1:{port}");
        let tls = ca
            .issue_loopback_server_cert()
            .context("issuing the API server certificate")?
            .rustls_server_config()?;
        let oidc = match &config.oidc {
            Some(o) => Some(oidc::OidcAuthenticator::new(o.clone())?),
            None => None,
        };
        let state = Arc::new(State {
            url: url.clone(),
            admin_token: config.admin_token.clone(),
            settings: Mutex::new(Settings {
                min_token_expiration: config.min_token_expiration,
                token_auth_cache_ttl: config.token_auth_cache_ttl,
            }),
            store: Mutex::new(store::Store::new()),
            faults: Faults::default(),
            audit: Mutex::new(Vec::new()),
            signer: sa_tokens::Signer::generate()?,
            oidc,
            auth_cache: Mutex::new(HashMap::new()),
        });
        bootstrap::install(&state);
        let (shutdown, stopped) = tokio::sync::watch::channel(false);
        let tasks = vec![
            tokio::spawn(serve::accept_loop(listener, tls, state.clone(), stopped)),
            tokio::spawn(gc::run(state.clone(), config.gc_interval)),
        ];
        Ok(ApiServer {
            state,
            tasks,
            shutdown,
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.state.url
    }

    /// The static admin token (user "kubernetes-admin", group "system:masters").
    pub fn admin_token(&self) -> &str {
        &self.state.admin_token
    }

    /// Fault injection rules.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Every request so far, in order.
    pub fn audit_log(&self) -> Vec<AuditEntry> {
        self.state.audit.lock().unwrap().clone()
    }

    pub fn set_min_token_expiration(&self, d: Duration) {
        self.state.settings.lock().unwrap().min_token_expiration = d;
    }

    pub fn set_token_auth_cache_ttl(&self, d: Duration) {
        self.state.settings.lock().unwrap().token_auth_cache_ttl = d;
        self.state.auth_cache.lock().unwrap().clear();
    }

    /// The issuer (`iss`) of the service-account tokens this server signs.
    pub fn service_account_issuer(&self) -> &'static str {
        sa_tokens::ISSUER
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
