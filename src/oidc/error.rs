//! What can go wrong talking to the IdP; every message says what to do next.

/// An error from the identity provider or on the way to it. Never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The CA file given with --ca-file is unusable.
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    /// No answer (connection refused, DNS, TLS, timeout).
    #[error("cannot reach the identity provider at {url}: {reason} (check the issuer URL, your network, and --ca-file for a private CA)")]
    Unreachable { url: String, reason: String },
    /// An answer that is not what the protocol says (HTML, garbage, 5xx).
    #[error("the identity provider at {url} gave an unusable answer: {what} (is the issuer URL right? it must be the OIDC issuer, not a login page)")]
    BadResponse { url: String, what: String },
    /// The discovery document names a different issuer.
    #[error("wrong issuer: {configured} publishes issuer {published}; use exactly --issuer {published} if you trust it")]
    IssuerMismatch {
        configured: String,
        published: String,
    },
    /// The configured issuer is a multi-tenant endpoint whose discovery names a template.
    #[error("{configured} is a multi-tenant endpoint: its discovery names the issuer template {published}, not an issuer; use your tenant's issuer (the template with your tenant id filled in, e.g. --issuer https://login.microsoftonline.com/TENANT-ID/v2.0 for Entra ID), the same one the API server trusts")]
    IssuerTemplate {
        configured: String,
        published: String,
    },
    /// The IdP does not offer the device flow.
    #[error("the identity provider {issuer} does not offer the device authorization grant (its discovery has no device_authorization_endpoint), the only way kubectl-breakglass logs in; ask its admins to enable it for client {client_id} (Keycloak: the client's \"OAuth 2.0 Device Authorization Grant\"; Okta: the Device Authorization grant on the app and the authorization server's policy; Entra ID: \"Allow public client flows\")")]
    NoDeviceFlow { issuer: String, client_id: String },
    /// The IdP refused a scope we asked for.
    #[error("the identity provider refused {} (invalid_scope{}); drop it from --scope (in the command or the context's exec entry: kubectl breakglass setup rewrites it), or ask the IdP's admins to allow it for client {client_id}", refused_scopes(refused, added), description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    InvalidScope {
        /// The scopes the IdP's answer names, of those we asked for.
        refused: Vec<String>,
        /// The scopes added with --scope (the likely culprits when none is named).
        added: Vec<String>,
        description: Option<String>,
        client_id: String,
    },
    /// The person (or the IdP) refused the login.
    #[error("the login was denied at the identity provider (access_denied); nothing was cached — run `kubectl breakglass login` to try again")]
    AccessDenied,
    /// The code was not approved in time.
    #[error("the code {user_code} expired before it was approved; run `kubectl breakglass login` again and approve the new code within {minutes} min")]
    CodeExpired { user_code: String, minutes: u64 },
    /// The refresh token is no longer accepted.
    #[error("the refresh token was rejected ({reason})")]
    RefreshRejected { reason: String },
    /// The IdP does not know the client id (or wants a secret we do not send).
    #[error("the identity provider does not accept client id {client_id:?} (invalid_client{}); check --client-id (or the --client-id in the context's exec entry) against the client registered for kubectl-breakglass, and whether the IdP wants a client secret from it (--client-secret: Google's \"TVs and Limited Input devices\" clients) or must allow it as a public client (Entra ID: \"Allow public client flows\")", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    InvalidClient {
        client_id: String,
        description: Option<String>,
    },
    /// The IdP refuses the offline access (a refresh token) we ask for (Keycloak's
    /// `not_allowed`, after the person approved).
    #[error("the identity provider refused offline access (not_allowed{}); kubectl-breakglass asks for offline_access so that a refresh token keeps you logged in: ask its admins to allow it for you and client {client_id} (Keycloak: the user's offline_access role, one of the realm's default roles)", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    OfflineNotAllowed {
        client_id: String,
        description: Option<String>,
    },
    /// Any other OAuth error from the token or device endpoint.
    #[error("the identity provider refused: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        error: String,
        description: Option<String>,
    },
    /// The ID token failed verification and was not stored.
    #[error("the ID token from {issuer} failed verification ({reason}); nothing was cached — check --issuer and --client-id (and --audience, when the IdP issues ID tokens for another audience) and the clocks, then run `kubectl breakglass login`")]
    InvalidIdToken { issuer: String, reason: String },
    /// The token answer lacks something we need.
    #[error("the identity provider's token answer has no {what}; nothing was cached — check that client {client_id} may use the `openid` scope")]
    Missing {
        what: &'static str,
        client_id: String,
    },
}

/// "the scope `groups`", or the suspects when the IdP did not say which.
fn refused_scopes(refused: &[String], added: &[String]) -> String {
    let list = |s: &[String]| {
        s.iter()
            .map(|x| format!("`{x}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (refused, added) {
        ([one], _) => format!("the scope {}", list(std::slice::from_ref(one))),
        ([_, ..], _) => format!("the scopes {}", list(refused)),
        ([], []) => "one of the default scopes `openid email offline_access`".into(),
        ([], [one]) => format!(
            "a scope without saying which; the one added with --scope is {}",
            list(std::slice::from_ref(one))
        ),
        ([], _) => format!(
            "a scope without saying which; those added with --scope are {}",
            list(added)
        ),
    }
}

impl OidcError {
    /// An OAuth error answer from the device or token endpoint for `client_id`.
    pub fn refused(error: String, description: Option<String>, client_id: &str) -> OidcError {
        match error.as_str() {
            "invalid_client" => OidcError::InvalidClient {
                client_id: client_id.to_string(),
                description,
            },
            "not_allowed" => OidcError::OfflineNotAllowed {
                client_id: client_id.to_string(),
                description,
            },
            _ => OidcError::Refused { error, description },
        }
    }

    /// True for failures that may pass if tried again (network, 5xx).
    pub fn is_transient(&self) -> bool {
        matches!(self, OidcError::Unreachable { .. })
            || matches!(self, OidcError::BadResponse { what, .. } if what.starts_with("HTTP 5"))
    }
}
