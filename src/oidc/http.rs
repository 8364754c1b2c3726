//! The HTTP client for the IdP: rustls, an optional private CA, timeouts,
//! no redirects (an IdP endpoint that redirects is misconfigured or hostile).

use super::OidcError;
use std::path::Path;
use std::time::Duration;

/// Builds the client, trusting `ca_file` in addition to the public roots.
pub fn client(ca_file: Option<&Path>) -> Result<reqwest::Client, OidcError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("kubectl-breakglass/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let ca_err = |reason: String| OidcError::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_err(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_err("no PEM certificate in it".into()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| OidcError::CaFile {
        path: ca_file.map_or_else(|| "-".into(), |p| p.display().to_string()),
        reason: e.to_string(),
    })
}

/// Describes a reqwest error with its causes (TLS, connect) but no URL query.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    // The innermost cause is the specific one (refused, unknown issuer, …).
    let mut source = std::error::Error::source(e);
    let mut innermost = None;
    while let Some(s) = source {
        innermost = Some(s.to_string());
        source = s.source();
    }
    if let Some(s) = innermost {
        out.push_str(": ");
        out.push_str(&s);
    }
    out
}

/// Sends `request` (asking for JSON) and reads the JSON answer with its status.
pub(crate) async fn send_json(
    url: &str,
    request: reqwest::RequestBuilder,
) -> Result<(u16, serde_json::Value), OidcError> {
    let resp = request
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| OidcError::Unreachable {
            url: url.to_string(),
            reason: describe(&e),
        })?;
    json_body(url, resp).await
}

/// Reads a JSON body, naming HTML, garbage and server errors plainly.
async fn json_body(
    url: &str,
    resp: reqwest::Response,
) -> Result<(u16, serde_json::Value), OidcError> {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(|e| OidcError::Unreachable {
        url: url.to_string(),
        reason: describe(&e),
    })?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if v.is_object() => Ok((status, v)),
        _ => {
            let trimmed = String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
                .trim_start()
                .to_lowercase();
            let kind = if trimmed.starts_with("<!doctype html")
                || trimmed.starts_with("<html")
                || trimmed.starts_with('<')
            {
                "an HTML page instead of JSON"
            } else if bytes.is_empty() {
                "an empty body instead of JSON"
            } else {
                "something that is not a JSON object"
            };
            Err(OidcError::BadResponse {
                url: url.to_string(),
                what: format!("HTTP {status} with {kind}"),
            })
        }
    }
}
