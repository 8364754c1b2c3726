//! OIDC ID-token authentication like `--oidc-issuer-url`: discovery and JWKS from the issuer,
//! RS256 signature, `iss`, `aud`, `exp`/`nbf`, username from `email`, groups from `groups`.

use super::authn::UserInfo;
use super::OidcConfig;
use anyhow::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::Value;
use std::sync::Mutex;

/// Clock skew the real authenticator tolerates on `nbf`/`iat`.
const SKEW_SECS: i64 = 300;

pub struct OidcAuthenticator {
    config: OidcConfig,
    http: reqwest::Client,
    keys: Mutex<Vec<Value>>,
}

impl OidcAuthenticator {
    pub fn new(config: OidcConfig) -> Result<OidcAuthenticator> {
        let ca = reqwest::Certificate::from_pem(config.ca_pem.as_bytes())
            .context("parsing the OIDC issuer CA")?;
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .no_proxy()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(OidcAuthenticator {
            config,
            http,
            keys: Mutex::new(vec![]),
        })
    }

    async fn fetch_keys(&self) -> Result<Vec<Value>, String> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer_url.trim_end_matches('/')
        );
        let get = |url: String| async move {
            let resp = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("oidc: fetching {url}: {e}"))?;
            resp.json::<Value>()
                .await
                .map_err(|e| format!("oidc: decoding {url}: {e}"))
        };
        let discovery = get(discovery_url).await?;
        if discovery["issuer"].as_str() != Some(self.config.issuer_url.as_str()) {
            return Err(format!(
                "oidc: issuer did not match the issuer returned by provider, expected {:?} got {}",
                self.config.issuer_url, discovery["issuer"]
            ));
        }
        let jwks_uri = discovery["jwks_uri"]
            .as_str()
            .ok_or("oidc: discovery has no jwks_uri")?
            .to_string();
        let jwks = get(jwks_uri).await?;
        let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
        *self.keys.lock().unwrap() = keys.clone();
        Ok(keys)
    }

    fn key_for(&self, kid: Option<&str>) -> Option<Value> {
        let keys = self.keys.lock().unwrap();
        keys.iter()
            .find(|k| k["kty"] == "RSA" && (kid.is_none() || k["kid"].as_str() == kid))
            .cloned()
    }

    pub async fn authenticate(
        &self,
        token: &str,
        audiences: Option<&[String]>,
    ) -> Result<UserInfo, String> {
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return Err("invalid bearer token".into());
        }
        let header: Value = B64
            .decode(parts[0])
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("invalid bearer token")?;
        if header["alg"] != "RS256" {
            return Err(format!(
                "oidc: verify token: unsupported signing algorithm {}",
                header["alg"]
            ));
        }
        let kid = header["kid"].as_str();
        let key = match self.key_for(kid) {
            Some(k) => k,
            None => {
                self.fetch_keys().await?;
                self.key_for(kid)
                    .ok_or("oidc: verify token: failed to verify signature: no matching key")?
            }
        };
        let n = B64
            .decode(key["n"].as_str().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        let e = B64
            .decode(key["e"].as_str().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        let sig = B64.decode(parts[2]).map_err(|_| "invalid bearer token")?;
        ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &sig,
            )
            .map_err(|_| "oidc: verify token: failed to verify signature")?;
        let claims: Value = B64
            .decode(parts[1])
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("invalid bearer token")?;
        self.check_claims(&claims, audiences)
    }

    fn check_claims(
        &self,
        claims: &Value,
        audiences: Option<&[String]>,
    ) -> Result<UserInfo, String> {
        if claims["iss"].as_str() != Some(self.config.issuer_url.as_str()) {
            return Err(format!(
                "oidc: verify token: oidc: id token issued by a different provider, expected {:?} got {}",
                self.config.issuer_url, claims["iss"]
            ));
        }
        let aud: Vec<&str> = match &claims["aud"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !aud.contains(&self.config.client_id.as_str()) {
            return Err(format!(
                "oidc: verify token: oidc: expected audience {:?} got {aud:?}",
                self.config.client_id
            ));
        }
        // TokenReview audiences other than the API audience never match an OIDC token.
        if let Some(wanted) = audiences {
            if !wanted.iter().any(|w| w == super::sa_tokens::ISSUER) {
                return Err("token audiences is invalid for the target audiences".into());
            }
        }
        let now = chrono::Utc::now().timestamp();
        let exp = claims["exp"]
            .as_i64()
            .ok_or("oidc: verify token: missing exp")?;
        if now >= exp {
            return Err(format!(
                "oidc: verify token: oidc: token is expired (Token Expiry: {})",
                chrono::DateTime::from_timestamp(exp, 0)
                    .unwrap_or_default()
                    .to_rfc3339()
            ));
        }
        for claim in ["nbf", "iat"] {
            if claims[claim].as_i64().is_some_and(|t| t > now + SKEW_SECS) {
                return Err(format!(
                    "oidc: verify token: oidc: current time before the {claim} claim"
                ));
            }
        }
        let email = claims["email"]
            .as_str()
            .ok_or("oidc: parse username claims \"email\": claim not present")?;
        if let Some(verified) = claims.get("email_verified") {
            if verified != &Value::Bool(true) {
                return Err("oidc: email not verified".into());
            }
        }
        let mut groups: Vec<String> = match &claims["groups"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|g| g.as_str().map(String::from))
                .collect(),
            _ => vec![],
        };
        groups.push("system:authenticated".into());
        Ok(UserInfo {
            username: email.to_string(),
            groups,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn authenticator() -> OidcAuthenticator {
        let ca = crate::tls::Ca::generate().unwrap();
        OidcAuthenticator::new(OidcConfig {
            issuer_url: "https://127.0.0.1:1".into(),
            client_id: "kubectl-breakglass".into(),
            ca_pem: ca.cert_pem().to_string(),
        })
        .unwrap()
    }

    fn claims() -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({"iss": "https://127.0.0.1:1", "aud": "kubectl-breakglass", "exp": now + 60, "iat": now,
               "email": "alice@example.com", "email_verified": true, "groups": ["sre"]})
    }

    #[test]
    fn claims_map_to_user_and_groups() {
        let user = authenticator().check_claims(&claims(), None).unwrap();
        assert_eq!(user.username, "alice@example.com");
        assert_eq!(user.groups, ["sre", "system:authenticated"]);
    }

    #[test]
    fn bad_claims_are_refused() {
        let a = authenticator();
        let with = |k: &str, v: Value| {
            let mut c = claims();
            c[k] = v;
            c
        };
        let now = chrono::Utc::now().timestamp();
        for (c, why) in [
            (
                with("iss", json!("https://elsewhere")),
                "different provider",
            ),
            (with("aud", json!(["someone-else"])), "expected audience"),
            (with("exp", json!(now - 1)), "expired"),
            (with("nbf", json!(now + 3600)), "nbf"),
            (with("email_verified", json!(false)), "email not verified"),
        ] {
            let err = a.check_claims(&c, None).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
        let mut no_email = claims();
        no_email.as_object_mut().unwrap().remove("email");
        assert!(a.check_claims(&no_email, None).is_err());
    }
}
