//! The device authorization grant (RFC 8628): ask for a code, then poll.

use super::http::send_json;
use super::tokens::{self, TokenResponse};
use super::{OidcError, Provider, Registration};
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
    /// How much `slow_down` adds to the interval (RFC 8628 §3.5: 5 s).
    slow_down_step: Duration,
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

/// The longest a code may be valid and the slowest polling we accept from an IdP's answer:
/// its numbers are not ours, and a huge one must neither overflow the polling arithmetic
/// nor sleep for ever.
const MAX_CODE_LIFETIME: u64 = 24 * 3600;
const MAX_INTERVAL: u64 = 300;

/// Asks the IdP for a device code.
pub async fn start_device_flow(
    http: &reqwest::Client,
    provider: &Provider,
    reg: &Registration,
) -> Result<DeviceAuthorization, OidcError> {
    let url = provider
        .device_authorization_endpoint
        .as_deref()
        .ok_or_else(|| OidcError::NoDeviceFlow {
            issuer: provider.issuer.clone(),
            client_id: reg.client_id.clone(),
        })?;
    let scopes = reg.scopes(provider);
    let scope = scopes.join(" ");
    let mut form = reg.client_auth();
    form.push(("scope", &scope));
    if let Some(audience) = &reg.audience {
        form.push(("audience", audience));
    }
    let (status, body) = send_json(url, http.post(url).form(&form)).await?;
    if status != 200 {
        let error = body
            .get("error")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown_error")
            .to_string();
        let description = body
            .get("error_description")
            .and_then(|v| v.as_str())
            .map(|d| reg.scrub(d.chars().take(200).collect()));
        if error == "invalid_scope" {
            return Err(OidcError::InvalidScope {
                refused: named_scopes(description.as_deref().unwrap_or_default(), &scopes),
                added: reg.extra_scopes.clone(),
                description,
                client_id: reg.client_id.clone(),
            });
        }
        return Err(OidcError::refused(error, description, &reg.client_id));
    }
    parse_authorization(url, &body)
}

/// The scopes of `asked` that an IdP's error text names (Google: "Invalid device flow
/// scope: offline_access"); many IdPs name none (Okta: "One or more scopes are not
/// configured for the authorization server resource.").
fn named_scopes(description: &str, asked: &[String]) -> Vec<String> {
    let words: Vec<&str> = description
        .split(|c: char| c.is_whitespace() || "\"'`,;()[]{}=".contains(c))
        .map(|w| w.trim_end_matches(['.', ':']))
        .collect();
    asked
        .iter()
        .filter(|s| words.contains(&s.as_str()))
        .cloned()
        .collect()
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
        expires_in: Duration::from_secs(secs("expires_in").unwrap_or(600).min(MAX_CODE_LIFETIME)),
        // RFC 8628 §3.2: 5 s when the IdP does not say.
        interval: Duration::from_secs(secs("interval").unwrap_or(5).clamp(1, MAX_INTERVAL)),
        slow_down_step: Duration::from_secs(5),
    })
}

/// Polls the token endpoint until the code is approved, denied or expired.
pub async fn poll_device_token(
    http: &reqwest::Client,
    provider: &Provider,
    reg: &Registration,
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
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", auth.device_code.expose().as_str()),
        ];
        form.extend(reg.client_auth());
        let answer = send_json(url, http.post(url).form(&form))
            .await
            .and_then(|(status, body)| tokens::parse(url, status, body));
        match answer {
            Ok(Ok(tokens)) if tokens.id_token.is_none() => {
                return Err(OidcError::Missing {
                    what: "id_token",
                    client_id: reg.client_id.clone(),
                })
            }
            Ok(Ok(tokens)) => return Ok(tokens),
            Ok(Err(oauth)) => {
                failures = 0;
                match oauth.error.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => {
                        // RFC 8628 §3.5: add 5 seconds to the interval.
                        interval =
                            (interval + auth.slow_down_step).min(Duration::from_secs(MAX_INTERVAL));
                        progress(PollEvent::SlowDown { interval });
                    }
                    "access_denied" => return Err(OidcError::AccessDenied),
                    "expired_token" => return Err(expired()),
                    _ => {
                        return Err(OidcError::refused(
                            oauth.error,
                            oauth.description.map(|d| reg.scrub(d)),
                            &reg.client_id,
                        ))
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any JSON answer is an authorization or an error; the numbers it carries are
        /// bounded so that the polling arithmetic cannot overflow.
        #[test]
        fn any_device_authorization_answer_is_a_value_or_an_error(
            body in crate::test_support::arb_json(),
            expires in proptest::prelude::any::<u64>(),
            interval in proptest::prelude::any::<u64>(),
            as_text in proptest::prelude::any::<bool>(),
        ) {
            let _ = parse_authorization("https://idp/device", &body);
            let n = |v: u64| if as_text { json!(v.to_string()) } else { json!(v) };
            let a = parse_authorization(
                "https://idp/device",
                &json!({"device_code": "d", "user_code": "u", "verification_uri": "https://v",
                        "expires_in": n(expires), "interval": n(interval)}),
            ).unwrap();
            proptest::prop_assert!(a.expires_in <= Duration::from_secs(MAX_CODE_LIFETIME));
            proptest::prop_assert!((1..=MAX_INTERVAL).contains(&a.interval.as_secs()));
            let _ = a.expires_in + Duration::from_secs(5);
            let _ = (a.interval * 2).min(Duration::from_secs(30).max(a.interval));
        }
    }

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

    /// A token endpoint that answers each request with the next scripted
    /// (status, body); fewer answers than requests closes the connection.
    fn scripted_endpoint(answers: Vec<(u16, &'static str)>) -> String {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let mut answers = answers.into_iter();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let Some((status, text)) = answers.next() else {
                    return;
                };
                let kind = if text.starts_with('{') {
                    "application/json"
                } else {
                    "text/html"
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        url
    }

    fn poll(answers: Vec<(u16, &'static str)>) -> (Result<TokenResponse, OidcError>, Vec<String>) {
        let provider = Provider {
            issuer: "http://idp".into(),
            device_authorization_endpoint: None,
            token_endpoint: scripted_endpoint(answers),
            jwks: openidconnect::core::CoreJsonWebKeySet::new(vec![]),
            scopes_supported: None,
        };
        let auth = DeviceAuthorization {
            device_code: Secret::new("dc".into()),
            user_code: "ABCD".into(),
            verification_uri: "http://idp/device".into(),
            verification_uri_complete: None,
            expires_in: Duration::from_secs(60),
            interval: Duration::from_millis(10),
            slow_down_step: Duration::from_millis(50),
        };
        let http = crate::oidc::client(None).unwrap();
        let mut events = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let reg = Registration::public("c");
        let result = rt.block_on(poll_device_token(&http, &provider, &reg, &auth, &mut |e| {
            events.push(match e {
                PollEvent::Pending { .. } => "pending".to_string(),
                PollEvent::SlowDown { interval } => format!("slow_down {}ms", interval.as_millis()),
                PollEvent::Retrying { attempt, .. } => format!("retry {attempt}"),
            })
        }));
        (result, events)
    }

    /// Asks a scripted device authorization endpoint for a code with `reg`.
    fn start(
        answer: (u16, &'static str),
        reg: &Registration,
    ) -> Result<DeviceAuthorization, OidcError> {
        let provider = Provider {
            issuer: "http://idp".into(),
            device_authorization_endpoint: Some(scripted_endpoint(vec![answer])),
            token_endpoint: "http://idp/token".into(),
            jwks: openidconnect::core::CoreJsonWebKeySet::new(vec![]),
            scopes_supported: None,
        };
        let http = crate::oidc::client(None).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(start_device_flow(&http, &provider, reg))
    }

    #[test]
    fn an_invalid_scope_answer_names_the_refused_scope_or_the_suspects() {
        let mut reg = Registration::public("c");
        reg.extra_scopes = vec!["groups".into()];
        // Google names it.
        let err = start(
            (400, r#"{"error":"invalid_scope","error_description":"Invalid device flow scope: offline_access"}"#),
            &reg,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("the identity provider refused the scope `offline_access` (invalid_scope: Invalid device flow scope: offline_access); drop it from --scope"), "{err}");
        // Okta does not: the scope added with --scope is the suspect.
        let okta = (
            400,
            r#"{"error":"invalid_scope","error_description":"One or more scopes are not configured for the authorization server resource."}"#,
        );
        let err = start(okta, &reg).unwrap_err().to_string();
        assert!(
            err.contains(
                "refused a scope without saying which; the one added with --scope is `groups`"
            ),
            "{err}"
        );
        let err = start(okta, &Registration::public("c"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("refused one of the default scopes"), "{err}");
    }

    #[test]
    fn an_idp_echoing_the_client_secret_never_shows_it() {
        let mut reg = Registration::public("c");
        reg.client_secret = Some(Secret::new("GOCSPX-s3cr3t".into()));
        let err = start(
            (401, r#"{"error":"invalid_client","error_description":"client_secret GOCSPX-s3cr3t is wrong"}"#),
            &reg,
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(
            err.contains("client_secret (client secret) is wrong")
                && err.contains("--client-secret"),
            "{err}"
        );
    }

    #[test]
    fn polling_sits_out_hiccups_and_slows_down_when_asked() {
        let (result, events) = poll(vec![
            (503, "<html>Service Unavailable</html>"),
            (400, r#"{"error":"authorization_pending"}"#),
            (400, r#"{"error":"slow_down"}"#),
            (400, r#"{"error":"authorization_pending"}"#),
            (
                200,
                r#"{"id_token":"a.b.c","refresh_token":"r","token_type":"Bearer"}"#,
            ),
        ]);
        let tokens = result.unwrap();
        assert_eq!(tokens.id_token.unwrap().expose(), "a.b.c");
        assert_eq!(tokens.refresh_token.unwrap().expose(), "r");
        // 10 ms doubled to 20 ms after the 503, then +50 ms for slow_down
        // (which is still pending, so it is followed by a progress event).
        assert_eq!(
            events,
            ["retry 1", "pending", "slow_down 70ms", "pending", "pending"]
        );
    }

    #[test]
    fn polling_gives_up_after_bounded_retries_and_names_denial_and_expiry() {
        let (result, events) = poll(vec![(502, "<html>Bad Gateway</html>"); 7]);
        let err = result.unwrap_err().to_string();
        assert!(err.contains("HTTP 502 with an HTML page"), "{err}");
        assert_eq!(events.len(), MAX_TRANSIENT_FAILURES as usize, "{events:?}");

        let (result, _) = poll(vec![(400, r#"{"error":"access_denied"}"#)]);
        assert!(matches!(result, Err(OidcError::AccessDenied)));
        let (result, _) = poll(vec![(400, r#"{"error":"expired_token"}"#)]);
        let err = result.unwrap_err().to_string();
        assert!(err.contains("ABCD expired before it was approved"), "{err}");
        let (result, _) = poll(vec![(
            400,
            r#"{"error":"invalid_client","error_description":"no such client"}"#,
        )]);
        assert!(result
            .unwrap_err()
            .to_string()
            .contains("invalid_client: no such client"));
    }
}
