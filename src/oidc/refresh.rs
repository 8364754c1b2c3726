//! The refresh token grant.

use super::http::send_json;
use super::tokens::{self, TokenResponse};
use super::{OidcError, Provider};
use crate::secret::Secret;

/// Exchanges a refresh token for a new ID token (and maybe a new refresh token).
pub async fn refresh(
    http: &reqwest::Client,
    provider: &Provider,
    client_id: &str,
    refresh_token: &Secret<String>,
) -> Result<TokenResponse, OidcError> {
    let url = provider.token_endpoint.as_str();
    let request = http.post(url).form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose().as_str()),
        ("client_id", client_id),
    ]);
    let (status, body) = send_json(url, request).await?;
    match tokens::parse(url, client_id, status, body)? {
        Ok(tokens) => Ok(tokens),
        Err(oauth) if oauth.error == "invalid_grant" => Err(OidcError::RefreshRejected {
            reason: oauth
                .description
                .unwrap_or_else(|| "expired or revoked".into()),
        }),
        Err(oauth) => Err(OidcError::refused(
            oauth.error,
            oauth.description,
            client_id,
        )),
    }
}
