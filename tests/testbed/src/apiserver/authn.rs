//! Bearer-token authentication: the static admin token, service-account JWTs and OIDC ID
//! tokens, with the real server's cache of successful token authentications.

use super::{oidc, sa_tokens, State};
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Instant;

/// The authenticated user, as `user.Info` in the real server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The `userInfo` JSON of reviews.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::json!({"username": self.username, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = Value::String(self.uid.clone());
        }
        if !self.extra.is_empty() {
            v["extra"] = serde_json::to_value(&self.extra).unwrap_or_default();
        }
        v
    }

    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

pub const ADMIN_USER: &str = "kubernetes-admin";

fn admin() -> UserInfo {
    UserInfo {
        username: ADMIN_USER.into(),
        groups: vec!["system:masters".into(), "system:authenticated".into()],
        ..Default::default()
    }
}

/// The bearer token of an `Authorization` header, if any.
pub fn bearer(headers: &hyper::HeaderMap) -> Option<String> {
    let h = headers.get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// The decoded JOSE header of a compact JWT.
pub fn jwt_header(token: &str) -> Option<Value> {
    let first = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Authenticates a token for API access (audiences = the API audiences).
pub async fn authenticate(state: &State, token: &str) -> Result<UserInfo, String> {
    authenticate_for(state, token, None).await
}

/// Authenticates a token; `audiences` (TokenReview `spec.audiences`) replaces the API audiences.
pub async fn authenticate_for(
    state: &State,
    token: &str,
    audiences: Option<&[String]>,
) -> Result<UserInfo, String> {
    // Compare digests so the comparison time does not depend on where the tokens differ.
    if Sha256::digest(token.as_bytes()) == Sha256::digest(state.admin_token.as_bytes()) {
        return Ok(admin());
    }
    let digest: [u8; 32] = {
        let mut h = Sha256::new();
        h.update(token.as_bytes());
        if let Some(a) = audiences {
            h.update(a.join("\n").as_bytes());
        }
        h.finalize().into()
    };
    let ttl = state.settings.lock().unwrap().token_auth_cache_ttl;
    if let Some((user, at)) = state.auth_cache.lock().unwrap().get(&digest) {
        if at.elapsed() < ttl {
            return Ok(user.clone());
        }
    }
    let header = jwt_header(token).ok_or("invalid bearer token")?;
    if header["kid"].as_str() == Some(state.signer.kid()) {
        let user = sa_tokens::authenticate(state, token, audiences)?;
        if !ttl.is_zero() {
            let mut cache = state.auth_cache.lock().unwrap();
            cache.retain(|_, (_, at)| at.elapsed() < ttl);
            cache.insert(digest, (user.clone(), Instant::now()));
        }
        return Ok(user);
    }
    match &state.oidc {
        Some(o) => oidc::OidcAuthenticator::authenticate(o, token, audiences).await,
        None => Err("invalid bearer token".into()),
    }
}
