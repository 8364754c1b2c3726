//! Service-account JWTs: issued by TokenRequest (ES256, with `jti` and an optional bound
//! Secret) and verified on every request like the real server's service-account authenticator.

use super::authn::UserInfo;
use super::State;
use anyhow::{anyhow, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The `iss` of every token and the API audience (the real default `--service-account-issuer`).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// go-jose's default leeway, which the real server uses for `exp`/`nbf`.
const LEEWAY_SECS: i64 = 60;

pub struct Signer {
    key: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
}

/// A Secret the token is bound to.
pub struct BoundSecret {
    pub name: String,
    pub uid: String,
}

impl Signer {
    pub fn generate() -> Result<Signer> {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng)
            .map_err(|_| anyhow!("generating the service-account signing key"))?;
        let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
            .map_err(|_| anyhow!("loading the service-account signing key"))?;
        let kid = B64.encode(Sha256::digest(key.public_key().as_ref()));
        Ok(Signer { key, kid, rng })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWKS, as served at `/openid/v1/jwks`.
    pub fn jwks(&self) -> Value {
        // An uncompressed P-256 point: 0x04 || x (32 bytes) || y (32 bytes).
        let point = self.key.public_key().as_ref();
        json!({"keys": [{
            "use": "sig",
            "kty": "EC",
            "kid": self.kid,
            "crv": "P-256",
            "alg": "ES256",
            "x": B64.encode(&point[1..33]),
            "y": B64.encode(&point[33..65]),
        }]})
    }

    fn sign(&self, claims: &Value) -> Result<String> {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header)?),
            B64.encode(serde_json::to_vec(claims)?)
        );
        let sig = self
            .key
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| anyhow!("signing a service-account token"))?;
        Ok(format!("{input}.{}", B64.encode(sig.as_ref())))
    }

    /// The claims of a token whose signature is ours.
    fn verified_claims(&self, token: &str) -> Result<Value, String> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("invalid bearer token".into());
        };
        let sig = B64.decode(s).map_err(|_| "invalid bearer token")?;
        signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.key.public_key().as_ref(),
        )
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| "invalid bearer token: square/go-jose: error in cryptographic primitive")?;
        let bytes = B64.decode(c).map_err(|_| "invalid bearer token")?;
        serde_json::from_slice(&bytes).map_err(|_| "invalid bearer token".to_string())
    }
}

/// The service-account issuer discovery document (`/.well-known/openid-configuration`).
pub fn discovery(server_url: &str) -> Value {
    json!({
        "issuer": ISSUER,
        "jwks_uri": format!("{server_url}/openid/v1/jwks"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    })
}

/// Signs a token for `namespace/name`; returns the token and its `exp` (unix seconds).
pub fn issue(
    state: &State,
    namespace: &str,
    sa_name: &str,
    sa_uid: &str,
    audiences: &[String],
    expiration_seconds: i64,
    secret: Option<&BoundSecret>,
) -> Result<(String, i64)> {
    let now = chrono::Utc::now().timestamp();
    let exp = now + expiration_seconds;
    let mut k8s = json!({
        "namespace": namespace,
        "serviceaccount": {"name": sa_name, "uid": sa_uid},
    });
    if let Some(s) = secret {
        k8s["secret"] = json!({"name": s.name, "uid": s.uid});
    }
    let claims = json!({
        "aud": audiences,
        "exp": exp,
        "iat": now,
        "iss": ISSUER,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": k8s,
        "nbf": now,
        "sub": format!("system:serviceaccount:{namespace}:{sa_name}"),
    });
    Ok((state.signer.sign(&claims)?, exp))
}

/// Verifies a service-account token: signature, issuer, audience, time, and that the
/// service account and bound Secret still exist with the uids in the token.
pub fn authenticate(
    state: &State,
    token: &str,
    audiences: Option<&[String]>,
) -> Result<UserInfo, String> {
    let claims = state.signer.verified_claims(token)?;
    if claims["iss"].as_str() != Some(ISSUER) {
        return Err("invalid bearer token".into());
    }
    let api_audiences = [ISSUER.to_string()];
    let wanted = audiences.unwrap_or(&api_audiences);
    let token_aud: Vec<&str> = match &claims["aud"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !wanted.iter().any(|w| token_aud.contains(&w.as_str())) {
        return Err("token audiences is invalid for the target audiences".into());
    }
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"].as_i64().ok_or("invalid bearer token")?;
    if now > exp + LEEWAY_SECS {
        return Err("square/go-jose/jwt: validation failed, token is expired (exp)".into());
    }
    if claims["nbf"]
        .as_i64()
        .is_some_and(|nbf| now + LEEWAY_SECS < nbf)
    {
        return Err("square/go-jose/jwt: validation failed, token not valid yet (nbf)".into());
    }
    let k8s = &claims["kubernetes.io"];
    let namespace = k8s["namespace"].as_str().ok_or("invalid bearer token")?;
    let sa_name = k8s["serviceaccount"]["name"]
        .as_str()
        .ok_or("invalid bearer token")?;
    let sa_uid = k8s["serviceaccount"]["uid"].as_str().unwrap_or_default();
    let store = state.store.lock().unwrap();
    let sa = store
        .get("", "serviceaccounts", namespace, sa_name)
        .ok_or_else(|| format!("serviceaccounts {sa_name:?} not found"))?;
    let uid = sa["metadata"]["uid"].as_str().unwrap_or_default();
    if uid != sa_uid {
        return Err(format!(
            "service account UID ({uid}) does not match claim ({sa_uid})"
        ));
    }
    if let Some(secret) = k8s.get("secret").filter(|s| s.is_object()) {
        let name = secret["name"].as_str().unwrap_or_default();
        let claim_uid = secret["uid"].as_str().unwrap_or_default();
        let Some(obj) = store.get("", "secrets", namespace, name) else {
            return Err("service account token has been invalidated".into());
        };
        let uid = obj["metadata"]["uid"].as_str().unwrap_or_default();
        if uid != claim_uid {
            return Err(format!(
                "secret UID ({uid}) does not match service account secret ref claim ({claim_uid})"
            ));
        }
    }
    let mut user = UserInfo {
        username: format!("system:serviceaccount:{namespace}:{sa_name}"),
        uid: sa_uid.to_string(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".into(),
        ],
        ..Default::default()
    };
    if let Some(jti) = claims["jti"].as_str() {
        user.extra.insert(
            "authentication.kubernetes.io/credential-id".into(),
            vec![format!("JTI={jti}")],
        );
    }
    Ok(user)
}
