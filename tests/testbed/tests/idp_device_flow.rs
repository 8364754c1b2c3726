//! The real provider under node: device flow, ID token claims and signature,
//! refresh, deny, expiry and revoked grants.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use breakglass_testbed::idp::{Idp, IdpConfig, IdpUser, Tokens};
use breakglass_testbed::tls::Ca;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SCOPE: &str = "openid offline_access email groups";

async fn start(config: IdpConfig) -> (Ca, Idp) {
    let ca = Ca::generate().unwrap();
    let idp = Idp::start(config, &ca).await.unwrap();
    (ca, idp)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(part).expect("base64url")
}

/// Verifies an RS256 JWT against the provider's JWKS and returns its claims.
async fn verified_claims(idp: &Idp, ca: &Ca, jwt: &str) -> Value {
    let http = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let discovery: Value = http
        .get(format!("{}/.well-known/openid-configuration", idp.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks: Value = http
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS has three parts");
    let header: Value = serde_json::from_slice(&b64(parts[0])).unwrap();
    assert_eq!(header["alg"], "RS256");
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is in the JWKS");
    let public = ring::signature::RsaPublicKeyComponents {
        n: b64(key["n"].as_str().unwrap()),
        e: b64(key["e"].as_str().unwrap()),
    };
    let signed = format!("{}.{}", parts[0], parts[1]);
    public
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &b64(parts[2]),
        )
        .expect("the ID token's signature verifies against the JWKS");

    // A tampered payload must not verify: the check above is a real one.
    let mut forged: Value = serde_json::from_slice(&b64(parts[1])).unwrap();
    forged["groups"] = serde_json::json!(["system:masters"]);
    let forged = format!(
        "{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap())
    );
    assert!(public
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            forged.as_bytes(),
            &b64(parts[2])
        )
        .is_err());

    serde_json::from_slice(&b64(parts[1])).unwrap()
}

#[tokio::test]
async fn approved_device_flow_yields_a_signed_id_token_with_email_and_groups() {
    let (ca, idp) = start(IdpConfig::default()).await;
    let client = idp.client();

    let authorization = client.device_authorization(SCOPE).await.unwrap();
    assert!(authorization
        .verification_uri
        .starts_with(&format!("{}/", idp.issuer())));
    assert_eq!(authorization.expires_in, 600);
    assert_eq!(authorization.interval, Some(1));
    assert_eq!(
        idp.pending_user_codes().await.unwrap(),
        vec![authorization.user_code.clone()]
    );
    let pending = client
        .poll_device_code(&authorization.device_code)
        .await
        .unwrap_err();
    assert_eq!(pending.error, "authorization_pending");

    idp.approve(&authorization.user_code, "alice")
        .await
        .unwrap();
    assert!(idp.pending_user_codes().await.unwrap().is_empty());
    let tokens = client.wait_for_device_tokens(&authorization).await.unwrap();
    assert!(
        tokens.refresh_token.is_some(),
        "device flow must issue a refresh token"
    );

    let claims = verified_claims(&idp, &ca, &tokens.id_token).await;
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["aud"], "kubectl-breakglass");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["groups"], serde_json::json!(["sre"]));
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 300, "ID token lifetime is the configured 300 s");
    assert!(iat.abs_diff(now()) < 30);

    let stats = idp.stats().await.unwrap();
    assert_eq!(stats.device_authorizations, 1);
    assert_eq!(
        stats
            .tokens_issued
            .get("urn:ietf:params:oauth:grant-type:device_code"),
        Some(&1)
    );
    assert_eq!(stats.refresh_requests(), 0);
}

#[tokio::test]
async fn claims_follow_the_configured_users_and_lifetimes() {
    let config = IdpConfig {
        users: vec![IdpUser {
            name: "carol".into(),
            email: "carol@corp.test".into(),
            groups: vec!["oncall".into(), "sre".into()],
        }],
        client_id: "another-client".into(),
        id_token_ttl: Duration::from_secs(42),
        ..IdpConfig::default()
    };
    let (ca, idp) = start(config).await;
    assert_eq!(idp.client_id(), "another-client");
    let tokens = idp.login_tokens("carol").await.unwrap();
    let claims = verified_claims(&idp, &ca, &tokens.id_token).await;
    assert_eq!(claims["aud"], "another-client");
    assert_eq!(claims["email"], "carol@corp.test");
    assert_eq!(claims["groups"], serde_json::json!(["oncall", "sre"]));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        42
    );

    let err = idp.login_tokens("alice").await.unwrap_err();
    assert!(
        format!("{err:#}").contains("no such user"),
        "unexpected: {err:#}"
    );
}

#[tokio::test]
async fn refresh_issues_a_new_id_token_and_is_counted() {
    let (ca, idp) = start(IdpConfig::default()).await;
    let tokens: Tokens = idp.login_tokens("bob").await.unwrap();
    let before = idp.stats().await.unwrap();
    assert_eq!(before.refresh_requests(), 0);

    let refreshed = idp
        .client()
        .refresh(tokens.refresh_token.as_deref().unwrap())
        .await
        .unwrap();
    let claims = verified_claims(&idp, &ca, &refreshed.id_token).await;
    assert_eq!(claims["email"], "bob@example.com");
    assert_eq!(claims["groups"], serde_json::json!(["dev"]));
    // Public clients get rotating refresh tokens: keep the new one.
    assert!(refreshed.refresh_token.is_some());
    assert_ne!(refreshed.refresh_token, tokens.refresh_token);

    let after = idp.stats().await.unwrap();
    assert_eq!(after.refresh_requests(), 1);
    assert_eq!(after.tokens_issued.get("refresh_token"), Some(&1));
    assert_eq!(after.device_authorizations, before.device_authorizations);
    assert_eq!(
        after.total_token_requests(),
        before.total_token_requests() + 1
    );
}

#[tokio::test]
async fn denied_code_gives_access_denied() {
    let (_ca, idp) = start(IdpConfig::default()).await;
    let client = idp.client();
    let authorization = client.device_authorization(SCOPE).await.unwrap();
    let code = idp
        .wait_for_pending_user_code(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(code, authorization.user_code);

    idp.deny(&code).await.unwrap();
    let err = client
        .wait_for_device_tokens(&authorization)
        .await
        .unwrap_err();
    assert_eq!(err.error, "access_denied", "{err}");
    assert!(idp.pending_user_codes().await.unwrap().is_empty());
    // A denied code cannot be approved afterwards.
    assert!(idp.approve(&code, "alice").await.is_err());
}

#[tokio::test]
async fn unapproved_code_expires() {
    let config = IdpConfig {
        device_code_ttl: Duration::from_secs(2),
        ..IdpConfig::default()
    };
    let (_ca, idp) = start(config).await;
    let client = idp.client();
    let authorization = client.device_authorization(SCOPE).await.unwrap();
    assert_eq!(authorization.expires_in, 2);
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let err = client
        .poll_device_code(&authorization.device_code)
        .await
        .unwrap_err();
    assert_eq!(err.error, "expired_token", "{err}");
    assert!(idp.pending_user_codes().await.unwrap().is_empty());
    let err = idp
        .approve(&authorization.user_code, "alice")
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("expired"), "{err:#}");
}

#[tokio::test]
async fn revoked_grants_make_refresh_fail_with_invalid_grant() {
    let (_ca, idp) = start(IdpConfig::default()).await;
    let alice = idp.login_tokens("alice").await.unwrap();
    let bob = idp.login_tokens("bob").await.unwrap();

    idp.revoke_grants("alice").await.unwrap();
    let err = idp
        .client()
        .refresh(alice.refresh_token.as_deref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.error, "invalid_grant", "{err}");
    // Only alice's grants went.
    idp.client()
        .refresh(bob.refresh_token.as_deref().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn auto_approve_signs_in_every_new_code() {
    let (ca, idp) = start(IdpConfig::default()).await;
    let approver = idp.auto_approve("alice");
    for _ in 0..2 {
        let authorization = idp.client().device_authorization(SCOPE).await.unwrap();
        let tokens = tokio::time::timeout(
            Duration::from_secs(20),
            idp.client().wait_for_device_tokens(&authorization),
        )
        .await
        .expect("auto-approve approves within 20 s")
        .unwrap();
        let claims = verified_claims(&idp, &ca, &tokens.id_token).await;
        assert_eq!(claims["email"], "alice@example.com");
    }
    approver.abort();
}

#[tokio::test]
async fn approving_an_unknown_code_fails_clearly() {
    let (_ca, idp) = start(IdpConfig::default()).await;
    let err = idp.approve("BCDF-GHJK", "alice").await.unwrap_err();
    assert!(format!("{err:#}").contains("not found"), "{err:#}");
}

#[tokio::test]
async fn the_provider_refuses_to_sign_in_an_unknown_user() {
    let (ca, idp) = start(IdpConfig::default()).await;
    // A client that does not know the user list, like `breakglass-testbed approve`.
    let outside =
        breakglass_testbed::idp::IdpClient::connect(idp.issuer(), idp.client_id(), ca.cert_pem())
            .unwrap();
    let authorization = outside.device_authorization(SCOPE).await.unwrap();
    let err = outside
        .approve(&authorization.user_code, "mallory")
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("Unknown user"),
        "unexpected: {err:#}"
    );
    let pending = outside
        .poll_device_code(&authorization.device_code)
        .await
        .unwrap_err();
    assert_eq!(pending.error, "authorization_pending");
}

#[tokio::test]
async fn the_revocation_endpoint_revokes_a_refresh_token() {
    let (ca, idp) = start(IdpConfig::default()).await;
    let tokens = idp.login_tokens("alice").await.unwrap();
    let refresh_token = tokens.refresh_token.unwrap();
    let http = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let discovery: Value = http
        .get(format!("{}/.well-known/openid-configuration", idp.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let endpoint = discovery["revocation_endpoint"]
        .as_str()
        .expect("discovery names a revocation endpoint");
    let response = http
        .post(endpoint)
        .form(&[
            ("client_id", idp.client_id()),
            ("token", refresh_token.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let err = idp.client().refresh(&refresh_token).await.unwrap_err();
    assert_eq!(err.error, "invalid_grant", "{err}");
}

#[tokio::test]
async fn a_refresh_token_past_its_lifetime_is_refused() {
    let config = IdpConfig {
        refresh_token_ttl: Duration::from_secs(2),
        ..IdpConfig::default()
    };
    let (_ca, idp) = start(config).await;
    let tokens = idp.login_tokens("alice").await.unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let err = idp
        .client()
        .refresh(tokens.refresh_token.as_deref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.error, "invalid_grant", "{err}");
}
