//! The refresh token grant.

use super::http::send_json;
use super::tokens::{self, TokenResponse};
use super::{OidcError, Provider, Registration};
use crate::secret::Secret;

/// Exchanges a refresh token for a new ID token (and maybe a new refresh token, which
/// replaces the old one: many IdPs rotate them). The answer may lack an ID token.
pub async fn refresh(
    http: &reqwest::Client,
    provider: &Provider,
    reg: &Registration,
    refresh_token: &Secret<String>,
) -> Result<TokenResponse, OidcError> {
    let url = provider.token_endpoint.as_str();
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose().as_str()),
    ];
    form.extend(reg.client_auth());
    let (status, body) = send_json(url, http.post(url).form(&form)).await?;
    match tokens::parse(url, status, body)? {
        Ok(tokens) => Ok(tokens),
        Err(oauth) if oauth.error == "invalid_grant" => Err(OidcError::RefreshRejected {
            reason: oauth
                .description
                .map(|d| reg.scrub(d))
                .unwrap_or_else(|| "expired or revoked".into()),
        }),
        Err(oauth) => Err(OidcError::refused(
            oauth.error,
            oauth.description.map(|d| reg.scrub(d)),
            &reg.client_id,
        )),
    }
}
