//! The `client.authentication.k8s.io` exec credential protocol: our own typed
//! structs for v1 and v1beta1, reading `KUBERNETES_EXEC_INFO`, and the one
//! function that writes protocol output to stdout.

use crate::secret::Secret;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;

/// The exec credential API versions we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `client.authentication.k8s.io/v1`
    V1,
    /// `client.authentication.k8s.io/v1beta1`
    V1beta1,
}

impl ApiVersion {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "client.authentication.k8s.io/v1",
            ApiVersion::V1beta1 => "client.authentication.k8s.io/v1beta1",
        }
    }
}

/// What kubectl told us about this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecInfo {
    /// The apiVersion to answer with.
    pub api_version: ApiVersion,
    /// Whether a person can answer prompts on stdin (`spec.interactive`).
    pub interactive: bool,
    /// The cluster kubectl is calling (`spec.cluster`), sent only when the exec entry has
    /// `provideClusterInfo: true`.
    pub cluster: Option<ExecCluster>,
}

/// What we read of `spec.cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExecCluster {
    /// The cluster's CA (PEM), base64 as Go encodes bytes; absent when it has none.
    #[serde(rename = "certificate-authority-data", default)]
    pub certificate_authority_data: Option<String>,
}

/// Why `KUBERNETES_EXEC_INFO` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ExecInfoError {
    /// Not set: we were run by hand rather than by kubectl.
    #[error("KUBERNETES_EXEC_INFO is not set: `credential` is run by kubectl from a kubeconfig exec entry; to log in run: kubectl breakglass login")]
    Missing,
    /// Not JSON of the expected shape.
    #[error("KUBERNETES_EXEC_INFO is not a valid ExecCredential ({0}); check the kubeconfig exec entry's apiVersion and your kubectl version")]
    Malformed(String),
    /// A version we do not speak.
    #[error("KUBERNETES_EXEC_INFO has apiVersion {0:?}, which is not supported; set the kubeconfig exec entry's apiVersion to client.authentication.k8s.io/v1 (or v1beta1)")]
    UnknownVersion(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialIn {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    spec: SpecIn,
}

#[derive(Deserialize, Default)]
struct SpecIn {
    #[serde(default)]
    interactive: bool,
    #[serde(default)]
    cluster: Option<ExecCluster>,
}

/// Reads and checks `KUBERNETES_EXEC_INFO`.
pub fn read_exec_info() -> Result<ExecInfo, ExecInfoError> {
    match std::env::var("KUBERNETES_EXEC_INFO") {
        Ok(s) => parse_exec_info(&s),
        Err(std::env::VarError::NotPresent) => Err(ExecInfoError::Missing),
        Err(std::env::VarError::NotUnicode(_)) => Err(ExecInfoError::Malformed("not UTF-8".into())),
    }
}

/// Parses the JSON kubectl puts in `KUBERNETES_EXEC_INFO`.
pub fn parse_exec_info(json: &str) -> Result<ExecInfo, ExecInfoError> {
    let input: ExecCredentialIn = serde_json::from_str(json).map_err(|e| {
        // serde's message names the position, never echoes the input.
        ExecInfoError::Malformed(e.classify_message())
    })?;
    if let Some(kind) = &input.kind {
        if kind != "ExecCredential" {
            return Err(ExecInfoError::Malformed(format!(
                "kind is {kind:?}, expected \"ExecCredential\""
            )));
        }
    }
    let api_version = match input.api_version.as_deref() {
        Some("client.authentication.k8s.io/v1") => ApiVersion::V1,
        Some("client.authentication.k8s.io/v1beta1") => ApiVersion::V1beta1,
        Some(other) => return Err(ExecInfoError::UnknownVersion(other.to_string())),
        None => return Err(ExecInfoError::Malformed("apiVersion is missing".into())),
    };
    Ok(ExecInfo {
        api_version,
        interactive: input.spec.interactive,
        cluster: input.spec.cluster,
    })
}

trait ClassifyMessage {
    fn classify_message(&self) -> String;
}

impl ClassifyMessage for serde_json::Error {
    fn classify_message(&self) -> String {
        match self.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!(
                    "not JSON: error at line {} column {}",
                    self.line(),
                    self.column()
                )
            }
            _ => "unexpected structure".to_string(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    status: StatusOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusOut<'a> {
    expiration_timestamp: String,
    token: &'a str,
}

/// Renders the ExecCredential answer (same shape for v1 and v1beta1).
fn render(info: &ExecInfo, token: &Secret<String>, expires: DateTime<Utc>) -> Vec<u8> {
    let out = ExecCredentialOut {
        api_version: info.api_version.as_str(),
        kind: "ExecCredential",
        status: StatusOut {
            expiration_timestamp: expires.to_rfc3339_opts(SecondsFormat::Secs, true),
            token: token.expose(),
        },
    };
    let mut bytes = serde_json::to_vec(&out).expect("serialising plain strings cannot fail");
    bytes.push(b'\n');
    bytes
}

/// Writes the ExecCredential to stdout: the only protocol output there is.
#[allow(clippy::disallowed_methods)] // the protocol's own writer
pub fn write(
    info: &ExecInfo,
    token: &Secret<String>,
    expires: DateTime<Utc>,
) -> std::io::Result<()> {
    let bytes = render(info, token, expires);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&bytes)?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// KUBERNETES_EXEC_INFO is kubectl's, or whatever the environment holds: any text
        /// is an ExecInfo or an error that does not echo it.
        #[test]
        fn any_exec_info_is_a_value_or_an_error(
            text in crate::test_support::arb_text(),
            json in crate::test_support::arb_json(),
            version in crate::test_support::arb_text(),
        ) {
            for input in [
                text.clone(),
                json.to_string(),
                serde_json::json!({"kind": "ExecCredential", "apiVersion": version, "spec": json}).to_string(),
            ] {
                if let Err(e) = parse_exec_info(&input) {
                    let shown = e.to_string();
                    proptest::prop_assert!(input.len() < 8 || !shown.contains(&input) || matches!(e, ExecInfoError::UnknownVersion(_)));
                }
            }
        }
    }

    #[test]
    fn answers_with_the_version_it_was_given() {
        for v in [
            "client.authentication.k8s.io/v1",
            "client.authentication.k8s.io/v1beta1",
        ] {
            let info = parse_exec_info(&format!(
                r#"{{"kind":"ExecCredential","apiVersion":"{v}","spec":{{"interactive":true}}}}"#
            ))
            .unwrap();
            assert!(info.interactive);
            let t = Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap();
            let out: serde_json::Value =
                serde_json::from_slice(&render(&info, &Secret::new("tok".into()), t)).unwrap();
            assert_eq!(out["apiVersion"], v);
            assert_eq!(out["kind"], "ExecCredential");
            assert_eq!(out["status"]["token"], "tok");
            assert_eq!(out["status"]["expirationTimestamp"], "2030-01-02T03:04:05Z");
        }
    }

    /// `provideClusterInfo: true`: kubectl adds the cluster, CA included (Go's base64).
    #[test]
    fn reads_the_cluster_ca_when_kubectl_provides_it() {
        let info = parse_exec_info(
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1",
                "spec":{"interactive":false,"cluster":{"server":"https://c:6443",
                "certificate-authority-data":"LS0tLS1CRUdJTg==","config":{"any":"thing"}}}}"#,
        )
        .unwrap();
        let cluster = info.cluster.expect("spec.cluster");
        assert_eq!(
            cluster.certificate_authority_data.as_deref(),
            Some("LS0tLS1CRUdJTg==")
        );
        let info = parse_exec_info(
            r#"{"apiVersion":"client.authentication.k8s.io/v1","spec":{"cluster":{"server":"https://c"}}}"#,
        )
        .unwrap();
        assert_eq!(info.cluster.unwrap().certificate_authority_data, None);
        let info = parse_exec_info(r#"{"apiVersion":"client.authentication.k8s.io/v1"}"#).unwrap();
        assert_eq!(info.cluster, None);
    }

    #[test]
    fn rejects_bad_input_without_echoing_it() {
        let err = parse_exec_info("{not json SECRET").unwrap_err();
        assert!(matches!(err, ExecInfoError::Malformed(_)));
        assert!(!err.to_string().contains("SECRET"));
        let err = parse_exec_info(
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v2"}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("client.authentication.k8s.io/v2"),
            "{err}"
        );
        let info =
            parse_exec_info(r#"{"apiVersion":"client.authentication.k8s.io/v1beta1"}"#).unwrap();
        assert!(!info.interactive);
    }
}
