//! Shared helpers of the API double's tests: a started server, kubeconfigs and a kubectl runner.
#![allow(dead_code)]

use anyhow::{Context, Result};
use base64::Engine;
use breakglass_testbed::apiserver::{ApiConfig, ApiServer};
use breakglass_testbed::tls::Ca;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// The real kubectl binaries every fidelity scenario runs with: the current one and an old one.
pub fn kubectl_binaries() -> Vec<PathBuf> {
    let bins = [
        "/usr/bin/kubectl",
        "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
    ];
    bins.iter()
        .map(|b| {
            let p = PathBuf::from(b);
            assert!(
                p.exists(),
                "{b} is missing: the fidelity tests drive real kubectl binaries, which machines of this kind ship preinstalled (package `kubectl`, the Google Cloud SDK build with /usr/lib/google-cloud-sdk/bin/kubectl.1.*)"
            );
            p
        })
        .collect()
}

/// A running API double with its CA and a scratch directory.
pub struct Bed {
    pub ca: Ca,
    pub api: ApiServer,
    pub dir: tempfile::TempDir,
}

impl Bed {
    pub async fn start() -> Result<Bed> {
        Bed::start_with(ApiConfig::default()).await
    }

    pub async fn start_with(config: ApiConfig) -> Result<Bed> {
        let ca = Ca::generate()?;
        let api = ApiServer::start(config, &ca).await?;
        Ok(Bed {
            ca,
            api,
            dir: tempfile::tempdir()?,
        })
    }

    /// Writes a kubeconfig with a token user; returns its path.
    pub fn kubeconfig(&self, name: &str, token: &str) -> PathBuf {
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca.cert_pem());
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: bed\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context:\n    cluster: bed\n    user: u\n    namespace: default\ncurrent-context: c\n",
            self.api.url()
        );
        let path = self.dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(&path, yaml).expect("writing a kubeconfig");
        path
    }

    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.kubeconfig("admin", self.api.admin_token())
    }

    /// An HTTP client trusting the bed's CA.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca.cert_pem().as_bytes()).unwrap(),
            )
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    /// Sends a request with a bearer token and JSON body; returns status and JSON body.
    pub async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_ct(token, method, path, body, "application/json")
            .await
    }

    pub async fn call_ct(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        content_type: &str,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http()
            .request(method, format!("{}{path}", self.api.url()))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.header("Content-Type", content_type).body(b.to_string());
        }
        let resp = req.send().await.expect("request reaches the API double");
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.api.admin_token().to_string();
        self.call(&token, method, path, body).await
    }
}

/// Runs kubectl with a kubeconfig (and an isolated HOME for its caches).
pub async fn kubectl(bin: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    kubectl_stdin(bin, kubeconfig, args, None).await
}

pub async fn kubectl_stdin(
    bin: &Path,
    kubeconfig: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    use tokio::io::AsyncWriteExt;
    let home = kubeconfig.parent().unwrap().join(format!(
        "home-{}",
        bin.file_name().unwrap().to_string_lossy()
    ));
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("KUBECONFIG", kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("starting kubectl");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await.unwrap();
    }
    drop(input);
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .with_context(|| format!("kubectl {args:?} did not finish within 60 s"))
        .unwrap()
        .expect("kubectl ran")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts kubectl succeeded; returns stdout.
pub fn ok(bin: &Path, args: &[&str], o: &Output) -> String {
    assert!(
        o.status.success(),
        "{} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        bin.display(),
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}
