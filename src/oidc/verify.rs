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

#[cfg(test)]
mod tests {
    //! Forged, mis-addressed and expired tokens, signed with test-only keys.
    use super::*;
    use openidconnect::core::{CoreJsonWebKeySet, CoreRsaPrivateSigningKey};
    use openidconnect::{
        Audience, EndUserEmail, IdTokenClaims, JsonWebKeyId, PrivateSigningKey, StandardClaims,
        SubjectIdentifier,
    };

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any token the IdP hands over — text, or three base64url parts of any JSON — is
        /// verified or refused, and the refusal never shows the token.
        #[test]
        fn any_id_token_is_verified_or_refused(
            text in crate::test_support::arb_text(),
            header in crate::test_support::arb_json(),
            claims in crate::test_support::arb_json(),
            signature in crate::test_support::arb_text(),
        ) {
            use base64::Engine as _;
            let b64 = |v: &serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            let shaped = format!(
                "{}.{}.{}",
                b64(&header),
                b64(&claims),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&signature)
            );
            for t in [text, shaped] {
                if let Err(e) = verify_id_token(&provider(), CLIENT, &t, Utc::now()) {
                    proptest::prop_assert!(t.len() < 16 || !e.to_string().contains(&t));
                }
            }
        }
    }

    const KEY1: &str = include_str!("testdata/test-signing-key-1.pem");
    const KEY2: &str = include_str!("testdata/test-signing-key-2.pem");
    const ISSUER: &str = "https://idp.example";
    const CLIENT: &str = "kubectl-breakglass";

    fn key(pem: &str) -> CoreRsaPrivateSigningKey {
        CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("k1".into()))).unwrap()
    }

    fn provider() -> Provider {
        Provider {
            issuer: ISSUER.into(),
            device_authorization_endpoint: None,
            token_endpoint: format!("{ISSUER}/token"),
            jwks: CoreJsonWebKeySet::new(vec![key(KEY1).as_verification_key()]),
        }
    }

    fn token(
        signer: &str,
        issuer: &str,
        aud: &str,
        iat: DateTime<Utc>,
        exp: DateTime<Utc>,
    ) -> String {
        let claims = IdTokenClaims::new(
            IssuerUrl::new(issuer.into()).unwrap(),
            vec![Audience::new(aud.into())],
            exp,
            iat,
            StandardClaims::new(SubjectIdentifier::new("alice".into()))
                .set_email(Some(EndUserEmail::new("alice@example.com".into()))),
            GroupsClaim {
                groups: Some(serde_json::json!(["sre", "oncall"])),
            },
        );
        IdTokenWithGroups::new(
            claims,
            &key(signer),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap()
        .to_string()
    }

    fn check(t: &str, now: DateTime<Utc>) -> Result<VerifiedIdToken, String> {
        verify_id_token(&provider(), CLIENT, t, now).map_err(|e| e.to_string())
    }

    #[test]
    fn a_good_token_yields_email_groups_and_times() {
        let now = Utc::now();
        let v = check(
            &token(KEY1, ISSUER, CLIENT, now, now + Duration::minutes(5)),
            now,
        )
        .unwrap();
        assert_eq!(v.email.as_deref(), Some("alice@example.com"));
        assert_eq!(v.subject, "alice");
        assert_eq!(v.groups, ["sre", "oncall"]);
        assert_eq!(
            v.expires_at.timestamp(),
            (now + Duration::minutes(5)).timestamp()
        );
    }

    #[test]
    fn bad_signature_audience_issuer_and_times_are_refused_without_the_token() {
        let now = Utc::now();
        let exp = now + Duration::minutes(5);
        let cases = [
            (token(KEY2, ISSUER, CLIENT, now, exp), "signature"),
            (token(KEY1, ISSUER, "someone-else", now, exp), "audience"),
            (
                token(KEY1, "https://evil.example", CLIENT, now, exp),
                "issuer",
            ),
            (
                token(
                    KEY1,
                    ISSUER,
                    CLIENT,
                    now - Duration::minutes(10),
                    now - Duration::minutes(1),
                ),
                "expired",
            ),
            (
                token(
                    KEY1,
                    ISSUER,
                    CLIENT,
                    now + Duration::hours(1),
                    now + Duration::hours(2),
                ),
                "issued in the future",
            ),
        ];
        for (t, why) in cases {
            let err = check(&t, now).expect_err(why);
            assert!(err.to_lowercase().contains(why), "{why}: {err}");
            assert!(err.contains("nothing was cached"), "{err}");
            assert!(!err.contains("eyJ"), "no token in the message: {err}");
        }
        let err = check("not-a-jwt", now).unwrap_err();
        assert!(err.contains("not a JWT"), "{err}");
    }
}
