//! OIDC discovery: the provider's endpoints and signing keys.

use super::http::send_json;
use super::OidcError;
use openidconnect::core::CoreJsonWebKeySet;

/// What we need to know about the provider.
pub struct Provider {
    /// The issuer, exactly as configured and as published.
    pub issuer: String,
    /// RFC 8628 device authorization endpoint, if offered.
    pub device_authorization_endpoint: Option<String>,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The keys ID tokens are signed with.
    pub jwks: CoreJsonWebKeySet,
    /// `scopes_supported`, when published.
    pub scopes_supported: Option<Vec<String>>,
}

/// Fetches `ISSUER/.well-known/openid-configuration` and the JWKS it names.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Provider, OidcError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc = get_json(http, &url).await?;
    let field = |name: &str| doc.get(name).and_then(|v| v.as_str()).map(str::to_string);
    let bad = |what: String| OidcError::BadResponse {
        url: url.clone(),
        what,
    };
    let published =
        field("issuer").ok_or_else(|| bad("no `issuer` in the discovery document".into()))?;
    // A multi-tenant endpoint (Entra ID's `common`) publishes a template, not an issuer.
    if published.contains('{') && published != issuer {
        return Err(OidcError::IssuerTemplate {
            configured: issuer.to_string(),
            published,
        });
    }
    if published != issuer {
        return Err(OidcError::IssuerMismatch {
            configured: issuer.to_string(),
            published,
        });
    }
    let token_endpoint = field("token_endpoint")
        .ok_or_else(|| bad("no `token_endpoint` in the discovery document".into()))?;
    let jwks_uri =
        field("jwks_uri").ok_or_else(|| bad("no `jwks_uri` in the discovery document".into()))?;
    let jwks_doc = get_json(http, &jwks_uri).await?;
    let jwks: CoreJsonWebKeySet =
        serde_json::from_value(jwks_doc).map_err(|e| OidcError::BadResponse {
            url: jwks_uri.clone(),
            what: format!("not a JSON Web Key Set ({e})"),
        })?;
    let scopes_supported = doc
        .get("scopes_supported")
        .and_then(|v| v.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        });
    Ok(Provider {
        issuer: published,
        device_authorization_endpoint: field("device_authorization_endpoint"),
        token_endpoint,
        jwks,
        scopes_supported,
    })
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<serde_json::Value, OidcError> {
    let (status, body) = send_json(url, http.get(url)).await?;
    if status != 200 {
        return Err(OidcError::BadResponse {
            url: url.to_string(),
            what: format!("HTTP {status}"),
        });
    }
    Ok(body)
}
