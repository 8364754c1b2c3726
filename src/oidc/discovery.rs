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
    let found = endpoints(&url, issuer, &doc)?;
    let jwks_doc = get_json(http, &found.jwks_uri).await?;
    Ok(Provider {
        issuer: found.issuer,
        device_authorization_endpoint: found.device_authorization_endpoint,
        token_endpoint: found.token_endpoint,
        jwks: key_set(&found.jwks_uri, jwks_doc)?,
        scopes_supported: found.scopes_supported,
    })
}

/// What the discovery document says, checked.
struct Endpoints {
    issuer: String,
    device_authorization_endpoint: Option<String>,
    token_endpoint: String,
    scopes_supported: Option<Vec<String>>,
    jwks_uri: String,
}

/// Reads the discovery document fetched from `url` for the configured `issuer`.
fn endpoints(url: &str, issuer: &str, doc: &serde_json::Value) -> Result<Endpoints, OidcError> {
    let field = |name: &str| doc.get(name).and_then(|v| v.as_str()).map(str::to_string);
    let bad = |what: String| OidcError::BadResponse {
        url: url.to_string(),
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
    Ok(Endpoints {
        token_endpoint: field("token_endpoint")
            .ok_or_else(|| bad("no `token_endpoint` in the discovery document".into()))?,
        jwks_uri: field("jwks_uri")
            .ok_or_else(|| bad("no `jwks_uri` in the discovery document".into()))?,
        device_authorization_endpoint: field("device_authorization_endpoint"),
        scopes_supported: doc
            .get("scopes_supported")
            .and_then(|v| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            }),
        issuer: published,
    })
}

/// Reads the JSON Web Key Set fetched from `url`.
fn key_set(url: &str, doc: serde_json::Value) -> Result<CoreJsonWebKeySet, OidcError> {
    serde_json::from_value(doc).map_err(|e| OidcError::BadResponse {
        url: url.to_string(),
        what: format!("not a JSON Web Key Set ({e})"),
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

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any discovery document and key set is read or refused with a message.
        #[test]
        fn any_discovery_answer_is_a_value_or_an_error(
            doc in crate::test_support::arb_json(),
            keys in crate::test_support::arb_json(),
            issuer in crate::test_support::arb_text(),
        ) {
            let _ = endpoints("https://idp/.well-known/openid-configuration", &issuer, &doc);
            let mut shaped = serde_json::json!({
                "issuer": issuer, "token_endpoint": doc.clone(), "jwks_uri": "https://idp/keys",
                "device_authorization_endpoint": doc
            });
            let _ = endpoints("https://idp/x", &issuer, &shaped);
            shaped["keys"] = keys.clone();
            let _ = key_set("https://idp/keys", keys);
            let _ = key_set("https://idp/keys", serde_json::json!({ "keys": [shaped] }));
        }
    }
}
