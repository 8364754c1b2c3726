//! ID-token verification before anything is cached: signature (JWKS), iss, aud, exp, iat
//! — with a leeway for this machine's clock — and the claims the plugin reads.

use super::{ClaimNames, OidcError, Provider, Registration};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreIdTokenVerifier, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{ClientId, EmptyAdditionalClaims, IdToken, IssuerUrl, Nonce};
use serde_json::Value;
use std::str::FromStr;

type CoreIdToken = IdToken<
    EmptyAdditionalClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What a verified ID token says about the person; its times are on this machine's clock.
#[derive(Debug, Clone)]
pub struct VerifiedIdToken {
    /// `sub`.
    pub subject: String,
    /// `email`, when present.
    pub email: Option<String>,
    /// The username and groups, by the claims the registration names.
    pub person: PersonClaims,
    /// `iat`, on this machine's clock.
    pub issued_at: DateTime<Utc>,
    /// `exp`, on this machine's clock.
    pub expires_at: DateTime<Utc>,
    /// How far the IdP's clock was ahead of this machine's (negative: behind), as `iat`
    /// showed it; the times above are corrected by it.
    pub clock_skew: Duration,
}

/// Who an ID token says the person is, by the claims the plugin is told to read (as the
/// API server's `claimMappings` read them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonClaims {
    /// The username claim's value, when present.
    pub username: Option<String>,
    /// The groups claim's values.
    pub groups: Vec<String>,
    /// Whether the token has the groups claim at all.
    pub has_groups_claim: bool,
    /// The IdP left the groups out because there are too many (Entra ID's overage claim).
    pub groups_overage: bool,
}

impl PersonClaims {
    /// Reads `names` from a token's claims.
    fn read(claims: &serde_json::Map<String, Value>, names: &ClaimNames) -> PersonClaims {
        let groups_value = claims.get(&names.groups);
        PersonClaims {
            username: claims.get(&names.username).and_then(claim_text),
            groups: match groups_value {
                Some(Value::Array(items)) => items.iter().filter_map(claim_text).collect(),
                Some(one) => claim_text(one).into_iter().collect(),
                None => Vec::new(),
            },
            has_groups_claim: groups_value.is_some(),
            groups_overage: claims
                .get("_claim_names")
                .and_then(|n| n.get(&names.groups))
                .is_some()
                || claims.get("hasgroups") == Some(&Value::Bool(true)),
        }
    }

    /// What an ID token verified before (a cached one) says; None when it is no JWT.
    pub fn of_cached(id_token: &str, names: &ClaimNames) -> Option<PersonClaims> {
        payload(id_token).map(|claims| PersonClaims::read(&claims, names))
    }
}

/// How far this machine's clock may be from the identity provider's, either way: a token
/// issued up to 5 minutes "in the future", or about to expire by our clock, is taken as
/// the IdP meant it, and its lifetime is counted on our clock.
pub const CLOCK_LEEWAY: Duration = Duration::minutes(5);

/// Verifies `id_token` against the provider's keys, the issuer and our client id (or the
/// configured audience), and reads the claims `reg` names.
pub fn verify_id_token(
    provider: &Provider,
    reg: &Registration,
    id_token: &str,
    now: DateTime<Utc>,
) -> Result<VerifiedIdToken, OidcError> {
    let invalid = |reason: String| OidcError::InvalidIdToken {
        issuer: provider.issuer.clone(),
        reason,
    };
    let token = CoreIdToken::from_str(id_token).map_err(|_| invalid("not a JWT".into()))?;
    let unverified = payload(id_token).ok_or_else(|| invalid("not a JWT".into()))?;
    // The IdP's clock, as its `iat` shows it: an ID token is minted for this answer.
    let skew = unverified
        .get("iat")
        .and_then(Value::as_i64)
        .map(|iat| Duration::seconds(iat.saturating_sub(now.timestamp())))
        .filter(|skew| skew.num_seconds().abs() <= CLOCK_LEEWAY.num_seconds())
        .unwrap_or_default();
    let idp_now = now + skew;
    let issuer = IssuerUrl::new(provider.issuer.clone())
        .map_err(|e| invalid(format!("issuer is not a URL: {e}")))?;
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(reg.client_id.clone()),
        issuer,
        provider.jwks.clone(),
    )
    // With --audience, the audience is checked below instead.
    .require_audience_match(reg.audience.is_none())
    .set_time_fn(move || idp_now)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + CLOCK_LEEWAY {
            Err(format!(
                "issued in the future ({iat}): this machine's clock is more than {} minutes \
                 behind the identity provider's; correct it",
                CLOCK_LEEWAY.num_minutes()
            ))
        } else {
            Ok(())
        }
    });
    // The device flow has no nonce; any nonce in the token is accepted.
    let claims = token
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .map_err(|e| invalid(explain_expiry(e.to_string(), now)))?;
    // Verified: the payload is the IdP's word now.
    if let Some(audience) = &reg.audience {
        check_audience(&unverified, &reg.client_id, audience).map_err(invalid)?;
    }
    let local = |t: DateTime<Utc>| t - skew;
    Ok(VerifiedIdToken {
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        person: PersonClaims::read(&unverified, &reg.claims),
        issued_at: local(claims.issue_time()),
        expires_at: local(claims.expiration()),
        clock_skew: skew,
    })
}

/// The JSON payload of a JWT, unverified.
fn payload(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A claim value as text: a string, or a number or boolean written out.
fn claim_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// With --audience: the token is for our client or for that audience and nobody else, and
/// when it is not addressed to our client, it was issued to it (`azp`, as Dex's
/// cross-client tokens are).
fn check_audience(
    claims: &serde_json::Map<String, Value>,
    client_id: &str,
    audience: &str,
) -> Result<(), String> {
    let auds: Vec<String> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(claim_text).collect(),
        _ => return Err("it has no audience (aud)".into()),
    };
    if let Some(other) = auds.iter().find(|a| *a != client_id && *a != audience) {
        return Err(format!(
            "its audience {other:?} is neither the client id {client_id:?} nor --audience {audience:?}"
        ));
    }
    if auds.is_empty() {
        return Err("it has no audience (aud)".into());
    }
    if !auds.iter().any(|a| a == client_id) {
        let azp = claims.get("azp").and_then(Value::as_str);
        if azp != Some(client_id) {
            return Err(format!(
                "it is for audience {audience:?} but was issued to {} (azp), not to client {client_id:?}",
                azp.map_or_else(|| "nobody named".to_string(), |a| format!("{a:?}"))
            ));
        }
    }
    Ok(())
}

/// openidconnect's "expired" names both times; say which clock to look at.
fn explain_expiry(reason: String, now: DateTime<Utc>) -> String {
    if reason.to_lowercase().contains("expired") {
        format!(
            "{reason}; this machine's clock says {}: if that is more than {} minutes off, correct it",
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            CLOCK_LEEWAY.num_minutes()
        )
    } else {
        reason
    }
}

#[cfg(test)]
mod tests {
    //! Forged, mis-addressed, expired and skewed tokens, signed with test-only keys.
    use super::*;
    use crate::oidc::ClaimNames;
    use openidconnect::core::{CoreJsonWebKeySet, CoreRsaPrivateSigningKey};
    use openidconnect::{
        AdditionalClaims, Audience, EndUserEmail, IdTokenClaims, JsonWebKeyId, PrivateSigningKey,
        StandardClaims, SubjectIdentifier,
    };
    use serde::{Deserialize, Serialize};

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
                if let Err(e) = verify_id_token(&provider(), &Registration::public(CLIENT), &t, Utc::now()) {
                    proptest::prop_assert!(t.len() < 16 || !e.to_string().contains(&t));
                }
            }
        }
    }

    const KEY1: &str = include_str!("testdata/test-signing-key-1.pem");
    const KEY2: &str = include_str!("testdata/test-signing-key-2.pem");
    const ISSUER: &str = "https://idp.example";
    const CLIENT: &str = "kubectl-breakglass";

    /// Any further claims, as an IdP adds them.
    #[derive(Debug, Clone, Default, Deserialize, Serialize)]
    struct Extra {
        #[serde(flatten)]
        claims: serde_json::Map<String, Value>,
    }
    impl AdditionalClaims for Extra {}

    fn key(pem: &str) -> CoreRsaPrivateSigningKey {
        CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("k1".into()))).unwrap()
    }

    fn provider() -> Provider {
        Provider {
            issuer: ISSUER.into(),
            device_authorization_endpoint: None,
            token_endpoint: format!("{ISSUER}/token"),
            jwks: CoreJsonWebKeySet::new(vec![key(KEY1).as_verification_key()]),
            scopes_supported: None,
        }
    }

    struct Spec<'a> {
        signer: &'a str,
        issuer: &'a str,
        aud: Vec<&'a str>,
        iat: DateTime<Utc>,
        exp: DateTime<Utc>,
        extra: Value,
    }

    fn spec<'a>(now: DateTime<Utc>) -> Spec<'a> {
        Spec {
            signer: KEY1,
            issuer: ISSUER,
            aud: vec![CLIENT],
            iat: now,
            exp: now + Duration::minutes(5),
            extra: serde_json::json!({"groups": ["sre", "oncall"]}),
        }
    }

    fn token(s: Spec<'_>) -> String {
        let Value::Object(extra) = s.extra else {
            panic!("extra claims are an object")
        };
        let claims = IdTokenClaims::new(
            IssuerUrl::new(s.issuer.into()).unwrap(),
            s.aud.iter().map(|a| Audience::new(a.to_string())).collect(),
            s.exp,
            s.iat,
            StandardClaims::new(SubjectIdentifier::new("alice".into()))
                .set_email(Some(EndUserEmail::new("alice@example.com".into()))),
            Extra { claims: extra },
        );
        IdToken::<Extra, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>::new(
            claims,
            &key(s.signer),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap()
        .to_string()
    }

    fn check_with(
        reg: &Registration,
        t: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedIdToken, String> {
        verify_id_token(&provider(), reg, t, now).map_err(|e| e.to_string())
    }

    fn check(t: &str, now: DateTime<Utc>) -> Result<VerifiedIdToken, String> {
        check_with(&Registration::public(CLIENT), t, now)
    }

    #[test]
    fn a_good_token_yields_email_groups_and_times() {
        let now = Utc::now();
        let v = check(&token(spec(now)), now).unwrap();
        assert_eq!(v.email.as_deref(), Some("alice@example.com"));
        assert_eq!(v.person.username.as_deref(), Some("alice@example.com"));
        assert_eq!(v.subject, "alice");
        assert_eq!(v.person.groups, ["sre", "oncall"]);
        assert!(v.person.has_groups_claim && !v.person.groups_overage);
        assert_eq!(
            v.expires_at.timestamp(),
            (now + Duration::minutes(5)).timestamp()
        );
    }

    #[test]
    fn bad_signature_audience_issuer_and_times_are_refused_without_the_token() {
        let now = Utc::now();
        let cases = [
            (
                Spec {
                    signer: KEY2,
                    ..spec(now)
                },
                "signature",
            ),
            (
                Spec {
                    aud: vec!["someone-else"],
                    ..spec(now)
                },
                "audience",
            ),
            (
                Spec {
                    issuer: "https://evil.example",
                    ..spec(now)
                },
                "issuer",
            ),
            (
                Spec {
                    iat: now - Duration::minutes(10),
                    exp: now - Duration::minutes(1),
                    ..spec(now)
                },
                "expired",
            ),
            (
                Spec {
                    iat: now + Duration::hours(1),
                    exp: now + Duration::hours(2),
                    ..spec(now)
                },
                "issued in the future",
            ),
        ];
        for (s, why) in cases {
            let err = check(&token(s), now).expect_err(why);
            assert!(err.to_lowercase().contains(why), "{why}: {err}");
            assert!(err.contains("nothing was cached"), "{err}");
            assert!(!err.contains("eyJ"), "no token in the message: {err}");
        }
        let err = check("not-a-jwt", now).unwrap_err();
        assert!(err.contains("not a JWT"), "{err}");
    }

    #[test]
    fn an_idp_clock_five_minutes_ahead_or_behind_is_taken_as_the_idp_meant_it() {
        let now = Utc::now();
        // The IdP's clock 4 minutes ahead: `iat` is in our future; the token lives 5 minutes
        // from now on our clock, not 9.
        let ahead = Duration::minutes(4);
        let v = check(
            &token(Spec {
                iat: now + ahead,
                exp: now + ahead + Duration::minutes(5),
                ..spec(now)
            }),
            now,
        )
        .unwrap();
        assert_eq!(v.clock_skew, ahead);
        assert_eq!(v.issued_at.timestamp(), now.timestamp());
        assert_eq!(
            v.expires_at.timestamp(),
            (now + Duration::minutes(5)).timestamp()
        );
        // 4 minutes behind: a 3-minute token is already past `exp` by our clock, yet fresh.
        let behind = Duration::minutes(-4);
        let v = check(
            &token(Spec {
                iat: now + behind,
                exp: now + behind + Duration::minutes(3),
                ..spec(now)
            }),
            now,
        )
        .unwrap();
        assert_eq!(v.clock_skew, behind);
        assert_eq!(
            v.expires_at.timestamp(),
            (now + Duration::minutes(3)).timestamp()
        );
        // Beyond the leeway: refused, naming the clock.
        let err = check(
            &token(Spec {
                iat: now + Duration::minutes(6),
                exp: now + Duration::minutes(11),
                ..spec(now)
            }),
            now,
        )
        .unwrap_err();
        assert!(err.contains("clock is more than 5 minutes behind"), "{err}");
        let err = check(
            &token(Spec {
                iat: now - Duration::minutes(7),
                exp: now - Duration::minutes(2),
                ..spec(now)
            }),
            now,
        )
        .unwrap_err();
        assert!(
            err.contains("expired") && err.contains("this machine's clock says"),
            "{err}"
        );
    }

    #[test]
    fn other_claims_name_the_person_and_the_groups() {
        let now = Utc::now();
        let mut reg = Registration::public(CLIENT);
        reg.claims = ClaimNames {
            username: "preferred_username".into(),
            groups: "https://breakglass.example/groups".into(),
        };
        let v = check_with(
            &reg,
            &token(Spec {
                extra: serde_json::json!({
                    "preferred_username": "alice",
                    "https://breakglass.example/groups": "sre"
                }),
                ..spec(now)
            }),
            now,
        )
        .unwrap();
        assert_eq!(v.person.username.as_deref(), Some("alice"));
        assert_eq!(v.person.groups, ["sre"], "a single group as a string");
        // No such claims: absent, not an error (whoami --check explains it).
        let t = token(spec(now));
        let v = check_with(&reg, &t, now).unwrap();
        assert_eq!(v.person.username, None);
        assert!(v.person.groups.is_empty() && !v.person.has_groups_claim);
        // A cached token reads the same, by whatever claims are named now.
        assert_eq!(
            PersonClaims::of_cached(&t, &ClaimNames::default())
                .unwrap()
                .groups,
            ["sre", "oncall"]
        );
    }

    #[test]
    fn a_groups_overage_claim_is_recognised() {
        let now = Utc::now();
        let v = check(
            &token(Spec {
                extra: serde_json::json!({
                    "_claim_names": {"groups": "src1"},
                    "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}
                }),
                ..spec(now)
            }),
            now,
        )
        .unwrap();
        assert!(v.person.groups_overage && v.person.groups.is_empty());
    }

    #[test]
    fn with_an_audience_the_token_may_be_for_it_when_issued_to_us() {
        let now = Utc::now();
        let mut reg = Registration::public(CLIENT);
        reg.audience = Some("kubernetes".into());
        // Dex's cross-client token: aud = the peer, azp = us.
        let dex = |azp: Option<&str>| {
            let mut extra = serde_json::json!({"groups": ["sre"]});
            if let Some(azp) = azp {
                extra["azp"] = azp.into();
            }
            token(Spec {
                aud: vec!["kubernetes"],
                extra,
                ..spec(now)
            })
        };
        assert!(check_with(&reg, &dex(Some(CLIENT)), now).is_ok());
        let err = check_with(&reg, &dex(Some("someone-else")), now).unwrap_err();
        assert!(err.contains("was issued to \"someone-else\""), "{err}");
        assert!(check_with(&reg, &dex(None), now).is_err());
        // Auth0: the ID token stays addressed to the client.
        assert!(check_with(&reg, &token(spec(now)), now).is_ok());
        // A third audience is never trusted.
        let err = check_with(
            &reg,
            &token(Spec {
                aud: vec![CLIENT, "kubernetes", "evil"],
                ..spec(now)
            }),
            now,
        )
        .unwrap_err();
        assert!(err.contains("\"evil\""), "{err}");
        // Without --audience, a token for another audience is refused as before.
        assert!(check(&dex(Some(CLIENT)), now).is_err());
    }
}
