//! Reading claims of a token the API server just handed us over TLS (no verification needed:
//! we only learn its credential id and expiry; the cluster verifies it on every use).

use base64::Engine;

/// The claims of a service-account token that the protocol records.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Claims {
    pub jti: String,
    pub exp: i64,
    pub sub: String,
}

/// Decodes the payload of a compact JWS; errors never include the token.
pub fn claims(token: &str) -> anyhow::Result<Claims> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("the API server returned a token that is not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| {
            anyhow::anyhow!("the API server returned a token whose payload is not base64url")
        })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        anyhow::anyhow!("the API server returned a token without the jti/exp/sub claims ({e})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Whatever the API server returns as a token, its claims are read or refused.
        #[test]
        fn any_token_yields_claims_or_an_error(
            text in crate::test_support::arb_text(),
            payload in crate::test_support::arb_json(),
        ) {
            let _ = claims(&text);
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
            let _ = claims(&format!("x.{b64}.y"));
        }
    }

    #[test]
    fn reads_jti_and_exp_without_leaking_the_token() {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"jti":"abc-123","exp":1800000000,"sub":"system:serviceaccount:breakglass:x"}"#)
        );
        let c = claims(&token).unwrap();
        assert_eq!((c.jti.as_str(), c.exp), ("abc-123", 1_800_000_000));
        let bad = format!("{}.{}.secretsig", b64("{}"), b64(r#"{"exp":1}"#));
        let err = claims(&bad).unwrap_err().to_string();
        assert!(err.contains("jti") && !err.contains("secretsig"), "{err}");
    }
}
