//! Talking to the running provider: its OAuth endpoints as a plain device-flow
//! client would, and its test-only `/testbed/...` endpoints.

use super::browser::Browser;
use super::IdpUser;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A clonable handle on a running provider (what [`super::Idp`] delegates to).
#[derive(Clone)]
pub struct IdpClient {
    issuer: String,
    client_id: String,
    ca_pem: String,
    users: Vec<IdpUser>,
    http: reqwest::Client,
    /// What a plain client sends to log in: scopes, client secret, audience.
    login_scope: String,
    client_secret: Option<String>,
    audience: Option<String>,
}

/// Counts kept by the provider since it started.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct IdpStats {
    /// Successful device authorization requests.
    pub device_authorizations: u64,
    /// Token endpoint requests by `grant_type` as sent (pending polls included).
    pub token_requests: BTreeMap<String, u64>,
    /// Token endpoint requests that were answered with tokens, by `grant_type`.
    pub tokens_issued: BTreeMap<String, u64>,
    /// Token answers that carried a refresh token.
    #[serde(default)]
    pub refresh_tokens_issued: u64,
}

impl IdpStats {
    /// Token requests with `grant_type=refresh_token`.
    pub fn refresh_requests(&self) -> u64 {
        self.token_requests
            .get("refresh_token")
            .copied()
            .unwrap_or(0)
    }

    /// Token requests of any grant type.
    pub fn total_token_requests(&self) -> u64 {
        self.token_requests.values().sum()
    }
}

/// A token endpoint answer with tokens. Debug never shows them.
#[derive(Clone, Deserialize)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
    pub scope: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("id_token", &"REDACTED")
            .field("access_token", &"REDACTED")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "REDACTED"),
            )
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// A device authorization response (RFC 8628 section 3.2).
#[derive(Clone, Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    /// Google calls it `verification_url`.
    #[serde(alias = "verification_url")]
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    pub interval: Option<u64>,
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("device_code", &"REDACTED")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish()
    }
}

/// An OAuth error answer (`{"error": ..., "error_description": ...}`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the identity provider answered {status} {error}: {description}")]
pub struct OAuthError {
    pub status: u16,
    pub error: String,
    pub description: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

impl IdpClient {
    pub(super) fn new(
        issuer: String,
        client_id: String,
        ca_pem: &str,
        users: Vec<IdpUser>,
    ) -> Result<IdpClient> {
        let http = http_client(ca_pem, false)?;
        Ok(IdpClient {
            issuer,
            client_id,
            ca_pem: ca_pem.to_string(),
            users,
            http,
            login_scope: super::IdpProfile::Generic.login_scope().to_string(),
            client_secret: None,
            audience: None,
        })
    }

    /// Logs in as a client of `config`'s provider must: its profile's scopes, its secret,
    /// Auth0's audience.
    pub(super) fn with_login(mut self, config: &super::IdpConfig) -> IdpClient {
        self.login_scope = config.profile.login_scope().to_string();
        self.client_secret = config.client_secret.clone();
        if let super::IdpProfile::Auth0 { api_audience } = &config.profile {
            self.audience = Some(api_audience.clone());
        }
        self
    }

    /// `client_id`, and `client_secret` when the provider demands one.
    fn client_auth(&self) -> Vec<(&'static str, &str)> {
        let mut form = vec![("client_id", self.client_id.as_str())];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret));
        }
        form
    }

    /// Connects to a provider started elsewhere (e.g. by `breakglass-testbed up`).
    pub fn connect(issuer: &str, client_id: &str, ca_pem: &str) -> Result<IdpClient> {
        IdpClient::new(
            issuer.to_string(),
            client_id.to_string(),
            ca_pem,
            Vec::new(),
        )
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .with_context(|| format!("GET {path} at the identity provider"))?;
        let status = response.status();
        if !status.is_success() {
            bail!(
                "GET {path} at the identity provider answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
        response
            .json()
            .await
            .with_context(|| format!("decoding GET {path}"))
    }

    /// How often the device authorization and token endpoints were used.
    pub async fn stats(&self) -> Result<IdpStats> {
        self.get_json("/testbed/stats").await
    }

    /// User codes handed out and neither approved, denied nor expired, oldest first.
    pub async fn pending_user_codes(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Pending {
            user_codes: Vec<String>,
        }
        Ok(self
            .get_json::<Pending>("/testbed/pending")
            .await?
            .user_codes)
    }

    /// Waits until some device code is pending and returns its user code.
    pub async fn wait_for_pending_user_code(&self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.pending_user_codes().await?.into_iter().next() {
                return Ok(code);
            }
            if Instant::now() >= deadline {
                bail!("no device code became pending at the identity provider within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Revokes every grant of `user`, with its refresh and access tokens.
    pub async fn revoke_grants(&self, user: &str) -> Result<()> {
        let response = self
            .http
            .post(self.url("/testbed/revoke-grants"))
            .json(&serde_json::json!({ "user": user }))
            .send()
            .await
            .context("POST /testbed/revoke-grants")?;
        let status = response.status();
        if !status.is_success() {
            bail!(
                "revoking {user}'s grants failed with {status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Asks for a device code, as the plugin's `login` does.
    pub async fn device_authorization(&self, scope: &str) -> Result<DeviceAuthorization> {
        let mut form = self.client_auth();
        form.push(("scope", scope));
        if let Some(audience) = &self.audience {
            form.push(("audience", audience));
        }
        let response = self
            .http
            .post(self.url("/device/auth"))
            .form(&form)
            .send()
            .await
            .context("POST /device/auth")?;
        Ok(oauth_answer(response).await?)
    }

    /// One token request for a device code: tokens, or the OAuth error
    /// (`authorization_pending`, `access_denied`, `expired_token`, ...).
    pub async fn poll_device_code(&self, device_code: &str) -> Result<Tokens, OAuthError> {
        let mut form = self.client_auth();
        form.extend([
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", device_code),
        ]);
        let request = self.http.post(self.url("/token")).form(&form);
        oauth_answer(send(request).await?).await
    }

    /// Polls until the device code yields tokens or a final error; gives up
    /// (`client_timeout`) a little after the code's `expires_in`.
    pub async fn wait_for_device_tokens(
        &self,
        authorization: &DeviceAuthorization,
    ) -> Result<Tokens, OAuthError> {
        let interval = Duration::from_secs(authorization.interval.unwrap_or(5));
        let deadline = Instant::now() + Duration::from_secs(authorization.expires_in + 30);
        loop {
            match self.poll_device_code(&authorization.device_code).await {
                Err(e) if e.error == "authorization_pending" => {}
                Err(e) if e.error == "slow_down" => tokio::time::sleep(interval).await,
                other => return other,
            }
            if Instant::now() >= deadline {
                return Err(OAuthError {
                    status: 0,
                    error: "client_timeout".to_string(),
                    description: "still pending 30 s after the code should have expired"
                        .to_string(),
                });
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// A refresh token grant.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, OAuthError> {
        let mut form = self.client_auth();
        form.extend([
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ]);
        let request = self.http.post(self.url("/token")).form(&form);
        oauth_answer(send(request).await?).await
    }

    /// Runs a whole device flow as `user` and returns the tokens.
    pub async fn login_tokens(&self, user: &str) -> Result<Tokens> {
        let scope = self.login_scope.clone();
        let authorization = self.device_authorization(&scope).await?;
        self.approve(&authorization.user_code, user).await?;
        Ok(self.wait_for_device_tokens(&authorization).await?)
    }

    /// Approves `user_code` as `user` through the provider's pages.
    pub async fn approve(&self, user_code: &str, user: &str) -> Result<()> {
        if !self.users.is_empty() && !self.users.iter().any(|u| u.name == user) {
            bail!(
                "cannot approve as {user}: the identity provider has no such user (it has {})",
                self.users
                    .iter()
                    .map(|u| u.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Browser::new(&self.issuer, &self.ca_pem)?
            .approve(user_code, user)
            .await
            .with_context(|| format!("approving user code {user_code} as {user}"))
    }

    /// Aborts `user_code` at the confirmation page.
    pub async fn deny(&self, user_code: &str) -> Result<()> {
        Browser::new(&self.issuer, &self.ca_pem)?
            .deny(user_code)
            .await
            .with_context(|| format!("denying user code {user_code}"))
    }

    /// Approves every new pending code as `user` until the task is aborted.
    pub fn auto_approve(self, user: String) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tried = HashSet::new();
            loop {
                match self.pending_user_codes().await {
                    Ok(codes) => {
                        for code in codes {
                            if tried.insert(code.clone()) {
                                match self.approve(&code, &user).await {
                                    Ok(()) => eprintln!("auto-approved {code} as {user}"),
                                    Err(e) => eprintln!("auto-approve of {code} failed: {e:#}"),
                                }
                            }
                        }
                    }
                    Err(e) => eprintln!("auto-approve: {e:#}"),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }
}

/// A reqwest client that trusts only the test bed's CA.
pub(super) fn http_client(ca_pem: &str, cookies: bool) -> Result<reqwest::Client> {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).context("parsing the CA PEM")?;
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .cookie_store(cookies)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building an HTTPS client")
}

async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, OAuthError> {
    request.send().await.map_err(|e| OAuthError {
        status: 0,
        error: "transport_error".to_string(),
        description: format!("{e}"),
    })
}

async fn oauth_answer<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, OAuthError> {
    let status = response.status();
    let body = response.bytes().await.map_err(|e| OAuthError {
        status: status.as_u16(),
        error: "transport_error".to_string(),
        description: format!("reading the body: {e}"),
    })?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| OAuthError {
            status: status.as_u16(),
            error: "invalid_response".to_string(),
            description: format!("{e}"),
        });
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(e) => Err(OAuthError {
            status: status.as_u16(),
            error: e.error,
            description: e.error_description,
        }),
        Err(_) => Err(OAuthError {
            status: status.as_u16(),
            error: "invalid_response".to_string(),
            description: String::from_utf8_lossy(&body).into_owned(),
        }),
    }
}
