//! Token endpoint answers.

use super::OidcError;
use crate::secret::Secret;

/// A successful token answer (device code or refresh grant).
#[derive(Debug)]
pub struct TokenResponse {
    /// The ID token (verified by the caller before use). Some IdPs answer a refresh with an
    /// access token only; the device flow demands one.
    pub id_token: Option<Secret<String>>,
    /// A refresh token, when the IdP issued one.
    pub refresh_token: Option<Secret<String>>,
}

/// An OAuth error answer: `error` and `error_description`.
pub(crate) struct OAuthError {
    pub error: String,
    pub description: Option<String>,
}

/// Reads a token endpoint answer: tokens on 200, an OAuth error on 4xx (Auth0 answers
/// `authorization_pending` with 403 and `slow_down` with 429).
pub(crate) fn parse(
    url: &str,
    status: u16,
    body: serde_json::Value,
) -> Result<Result<TokenResponse, OAuthError>, OidcError> {
    let field = |name: &str| {
        body.get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    if status == 200 {
        return Ok(Ok(TokenResponse {
            id_token: field("id_token").map(Secret::new),
            refresh_token: field("refresh_token").map(Secret::new),
        }));
    }
    match field("error") {
        Some(error) if (400..500).contains(&status) => {
            // error_description is free text from the IdP; keep it short.
            let description = field("error_description").map(|d| d.chars().take(200).collect());
            Ok(Err(OAuthError { error, description }))
        }
        _ => Err(OidcError::BadResponse {
            url: url.to_string(),
            what: format!("HTTP {status}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any token endpoint answer (status and body) is tokens, an OAuth error, or an
        /// error of ours; a description is kept short.
        #[test]
        fn any_token_answer_is_a_value_or_an_error(
            status in proptest::prelude::any::<u16>(),
            body in crate::test_support::arb_json(),
            description in crate::test_support::arb_text(),
        ) {
            let _ = parse("https://idp/token", status, body.clone());
            let oauth = serde_json::json!({"error": body, "error_description": description});
            if let Ok(Err(e)) = parse("https://idp/token", 400, oauth) {
                proptest::prop_assert!(e.description.map_or(0, |d| d.chars().count()) <= 200);
            }
        }
    }
}
