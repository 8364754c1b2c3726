//! The device authorization grant (RFC 8628): ask for a code, then poll.

use super::http::{describe, json_body};
use super::tokens::{self, TokenResponse};
use super::{OidcError, Provider, SCOPES};
use crate::secret::Secret;
use std::time::{Duration, Instant};

/// What the person must do: open a URL and enter a code.
#[derive(Debug)]
pub struct DeviceAuthorization {
    device_code: Secret<String>,
    /// The code the person types in.
    pub user_code: String,
    /// Where to type it (`verification_uri`, or Google's `verification_url`).
    pub verification_uri: String,
    /// The URL with the code filled in, when the IdP offers one.
    pub verification_uri_complete: Option<String>,
    /// How long the code is valid.
    pub expires_in: Duration,
    /// How often we may poll.
    pub interval: Duration,
}

/// Progress while polling, for the person watching.
#[derive(Debug)]
pub enum PollEvent {
    /// Still waiting; `elapsed` since the code was issued.
    Pending {
        elapsed: Duration,
        remaining: Duration,
    },
    /// The IdP asked us to poll less often.
    SlowDown { interval: Duration },
    /// A network or server hiccup; retrying.
    Retrying { attempt: u32, reason: String },
}

/// Most consecutive transient failures we sit out while polling.
const MAX_TRANSIENT_FAILURES: u32 = 5;

/// Asks the IdP for a device code.
pub async fn start_device_flow(
    http: &reqwest::Client,
    provider: &Provider,
    client_id: &str,
) -> Result<DeviceAuthorization, OidcError> {
    let url = provider
        .device_authorization_endpoint
        .as_deref()
        .ok_or_else(|| OidcError::NoDeviceFlow {
            issuer: provider.issuer.clone(),
            client_id: client_id.to_string(),
        })?;
    let resp = http
        .post(url)
        .header("accept", "application/json")
        .form(&[("client_id", client_id), ("scope", SCOPES)])
        .send()
        .await
        .map_err(|e| OidcError::Unreachable {
            url: url.to_string(),
            reason: describe(&e),
        })?;
    let (status, body) = json_body(url, resp).await?;
    if status != 200 {
        let error = body
            .get("error")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown_error")
            .to_string();
        let description = body
            .get("error_description")
            .and_then(|v| v.as_str())
            .map(|d| d.chars().take(200).collect());
        return Err(OidcError::Refused { error, description });
    }
    parse_authorization(url, &body)
}

/// Reads a device authorization answer, accepting what real IdPs send:
/// Google's `verification_url`, no `verification_uri_complete`, no `interval`.
fn parse_authorization(
    url: &str,
    body: &serde_json::Value,
) -> Result<DeviceAuthorization, OidcError> {
    let field = |name: &str| body.get(name).and_then(|v| v.as_str()).map(str::to_string);
    let bad = |what: &str| OidcError::BadResponse {
        url: url.to_string(),
        what: format!("device authorization answer has no {what}"),
    };
    let device_code = field("device_code").ok_or_else(|| bad("device_code"))?;
    let user_code = field("user_code").ok_or_else(|| bad("user_code"))?;
    let verification_uri = field("verification_uri")
        .or_else(|| field("verification_url"))
        .ok_or_else(|| bad("verification_uri"))?;
    let verification_uri_complete =
        field("verification_uri_complete").or_else(|| field("verification_url_complete"));
    let secs = |name: &str| {
        body.get(name)
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
    };
    Ok(DeviceAuthorization {
        device_code: Secret::new(device_code),
        user_code,
        verification_uri,
        verification_uri_complete,
        expires_in: Duration::from_secs(secs("expires_in").unwrap_or(600)),
        // RFC 8628 §3.2: 5 s when the IdP does not say.
        interval: Duration::from_secs(secs("interval").unwrap_or(5).max(1)),
    })
}

/// Polls the token endpoint until the code is approved, denied or expired.
pub async fn poll_device_token(
    http: &reqwest::Client,
    provider: &Provider,
    client_id: &str,
    auth: &DeviceAuthorization,
    progress: &mut dyn FnMut(PollEvent),
) -> Result<TokenResponse, OidcError> {
    let url = provider.token_endpoint.as_str();
    let started = Instant::now();
    let mut interval = auth.interval;
    let mut failures = 0u32;
    let expired = || OidcError::CodeExpired {
        user_code: auth.user_code.clone(),
        minutes: auth.expires_in.as_secs().div_ceil(60),
    };
    loop {
        tokio::time::sleep(interval).await;
        if started.elapsed() > auth.expires_in + Duration::from_secs(5) {
            return Err(expired());
        }
        let sent = http
            .post(url)
            .header("accept", "application/json")
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", auth.device_code.expose().as_str()),
                ("client_id", client_id),
            ])
            .send()
            .await
            .map_err(|e| OidcError::Unreachable {
                url: url.to_string(),
                reason: describe(&e),
            });
        let answer = match sent {
            Ok(resp) => json_body(url, resp)
                .await
                .and_then(|(status, body)| tokens::parse(url, client_id, status, body)),
            Err(e) => Err(e),
        };
        match answer {
            Ok(Ok(tokens)) => return Ok(tokens),
            Ok(Err(oauth)) => {
                failures = 0;
                match oauth.error.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => {
                        // RFC 8628 §3.5: add 5 seconds to the interval.
                        interval += Duration::from_secs(5);
                        progress(PollEvent::SlowDown { interval });
                    }
                    "access_denied" => return Err(OidcError::AccessDenied),
                    "expired_token" => return Err(expired()),
                    _ => {
                        return Err(OidcError::Refused {
                            error: oauth.error,
                            description: oauth.description,
                        })
                    }
                }
            }
            Err(e) if e.is_transient() && failures < MAX_TRANSIENT_FAILURES => {
                failures += 1;
                progress(PollEvent::Retrying {
                    attempt: failures,
                    reason: e.to_string(),
                });
                // RFC 8628 §3.5: back off on connection trouble.
                interval = (interval * 2).min(Duration::from_secs(30).max(auth.interval));
                continue;
            }
            Err(e) => return Err(e),
        }
        let elapsed = started.elapsed();
        progress(PollEvent::Pending {
            elapsed,
            remaining: auth.expires_in.saturating_sub(elapsed),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_googles_verification_url_and_fills_in_defaults() {
        let a = parse_authorization(
            "https://idp/device",
            &json!({"device_code": "dc", "user_code": "ABCD-EFGH", "verification_url": "https://www.google.com/device", "expires_in": "1800"}),
        )
        .unwrap();
        assert_eq!(a.verification_uri, "https://www.google.com/device");
        assert_eq!(a.verification_uri_complete, None);
        assert_eq!(a.expires_in, Duration::from_secs(1800));
        assert_eq!(a.interval, Duration::from_secs(5), "RFC 8628 default");
        assert!(
            !format!("{a:?}").contains("\"dc\""),
            "the device code is redacted"
        );

        let b = parse_authorization(
            "https://idp/device",
            &json!({"device_code": "dc", "user_code": "X", "verification_uri": "https://idp/device",
                    "verification_uri_complete": "https://idp/device?user_code=X", "interval": 2}),
        )
        .unwrap();
        assert_eq!(
            b.verification_uri_complete.as_deref(),
            Some("https://idp/device?user_code=X")
        );
        assert_eq!(b.interval, Duration::from_secs(2));

        let err = parse_authorization(
            "https://idp/device",
            &json!({"device_code": "dc", "user_code": "X"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("has no verification_uri"), "{err}");
    }
}
