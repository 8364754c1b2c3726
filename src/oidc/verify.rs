//! ID-token verification before anything is cached: signature (JWKS), iss,
//! aud, exp, iat.

use super::{OidcError, Provider};
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreIdTokenVerifier, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{AdditionalClaims, ClientId, IdToken, IssuerUrl, Nonce};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The `groups` claim Kubernetes reads (`--oidc-groups-claim groups`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct GroupsClaim {
    #[serde(default)]
    groups: Option<serde_json::Value>,
}

impl AdditionalClaims for GroupsClaim {}

type IdTokenWithGroups = IdToken<
    GroupsClaim,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What a verified ID token says about the person.
#[derive(Debug, Clone)]
pub struct VerifiedIdToken {
    /// `sub`.
    pub subject: String,
    /// `email`, when present.
    pub email: Option<String>,
    /// `groups`, when present.
    pub groups: Vec<String>,
    /// `iat`.
    pub issued_at: DateTime<Utc>,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
}

/// Clock skew we tolerate on `iat`.
const IAT_SKEW: i64 = 300;

/// Verifies `id_token` against the provider's keys, the issuer and our client id.
pub fn verify_id_token(
    provider: &Provider,
    client_id: &str,
    id_token: &str,
    now: DateTime<Utc>,
) -> Result<VerifiedIdToken, OidcError> {
    let invalid = |reason: String| OidcError::InvalidIdToken {
        issuer: provider.issuer.clone(),
        reason,
    };
    let token = IdTokenWithGroups::from_str(id_token).map_err(|_| invalid("not a JWT".into()))?;
    let issuer = IssuerUrl::new(provider.issuer.clone())
        .map_err(|e| invalid(format!("issuer is not a URL: {e}")))?;
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(client_id.to_string()),
        issuer,
        provider.jwks.clone(),
    )
    .set_time_fn(move || now)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + Duration::seconds(IAT_SKEW) {
            Err(format!(
                "issued in the future ({iat}); check this machine's clock"
            ))
        } else {
            Ok(())
        }
    });
    // The device flow has no nonce; any nonce in the token is accepted.
    let claims = token
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .map_err(|e| invalid(e.to_string()))?;
    let groups = match &claims.additional_claims().groups {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|g| g.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    Ok(VerifiedIdToken {
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        groups,
        issued_at: claims.issue_time(),
        expires_at: claims.expiration(),
    })
}
