//! The real Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager
//! built from the Go module proxy at a pinned version (`tests/testbed/go/`), started on
//! loopback like controller-runtime's envtest does, with the test bed's IdP as a JWT
//! issuer (structured authentication), RBAC, an audit log, and the controllers a grant
//! depends on (garbage collection of seals, namespace deletion, service accounts,
//! ClusterRole aggregation, ValidatingAdmissionPolicy type checking).

use super::fault_proxy::FaultProxy;
use super::go_build;
use super::process::{free_port, tail, Process};
use crate::apiserver::OidcConfig;
use crate::tls::Ca;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Files the real control plane writes into the playground directory.
pub const AUDIT_LOG_FILE: &str = "audit.log";

/// How long the API server may take to become ready (a cold 2-core machine under test load).
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// The controllers a break-glass cluster needs (names from `cmd/kube-controller-manager/names`).
const CONTROLLERS: &str = "garbage-collector-controller,namespace-controller,\
serviceaccount-controller,root-ca-certificate-publisher-controller,\
clusterrole-aggregation-controller,validatingadmissionpolicy-status-controller";

/// What to start.
pub struct RealClusterConfig {
    /// `vX.Y.Z`, one of the pinned versions.
    pub kubernetes: String,
    /// The JWT issuers it trusts: the test IdP first, then any other (Dex).
    pub issuers: Vec<JwtIssuer>,
    /// Where the audit log and the processes' logs go.
    pub dir: PathBuf,
}

/// One JWT issuer the API server trusts (structured authentication's `jwt` entry).
#[derive(Debug, Clone)]
pub struct JwtIssuer {
    pub issuer_url: String,
    /// The `aud` values it accepts (the client id, or a cross-client audience).
    pub audiences: Vec<String>,
    /// The issuer's CA, as PEM content.
    pub ca_pem: String,
    pub claims: ClaimMappings,
}

impl JwtIssuer {
    /// The playground IdP with `claims`.
    pub fn for_oidc(oidc: &OidcConfig, claims: ClaimMappings) -> JwtIssuer {
        JwtIssuer {
            issuer_url: oidc.issuer_url.clone(),
            audiences: vec![oidc.client_id.clone()],
            ca_pem: oidc.ca_pem.clone(),
            claims,
        }
    }
}

/// How the API server reads a person from an issuer's tokens (`claimMappings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMappings {
    /// `username.claim`, without prefix (`email` also demands `email_verified` not false).
    pub username_claim: String,
    pub groups: GroupsMapping,
}

/// Where groups come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupsMapping {
    /// `groups.claim`, without prefix.
    Claim(String),
    /// `groups.expression`: CEL over `claims` (for an IdP that sends none, like Google).
    Expression(String),
}

impl Default for ClaimMappings {
    /// `--oidc-username-claim=email`, `--oidc-groups-claim=groups`.
    fn default() -> Self {
        ClaimMappings {
            username_claim: "email".into(),
            groups: GroupsMapping::Claim("groups".into()),
        }
    }
}

/// Whom the playground's API server trusts beyond the defaults: the test IdP's claim
/// mappings, and further issuers (Dex). The API double ignores both.
#[derive(Debug, Clone, Default)]
pub struct Authentication {
    pub idp_claims: ClaimMappings,
    pub more_issuers: Vec<JwtIssuer>,
}

/// A running control plane behind its fault proxy; dropping it stops every process.
pub struct RealCluster {
    proxy: FaultProxy,
    direct_url: String,
    admin_token: String,
    audit_log: PathBuf,
    version: String,
    // Dropped in reverse order of start: controllers, then the API server, then etcd.
    kcm: Option<Process>,
    apiserver: Process,
    _etcd: Process,
    _work: tempfile::TempDir,
}

impl RealCluster {
    /// Builds (once per machine) and starts the control plane; ready when `/readyz` is.
    pub async fn start(config: RealClusterConfig, ca: &Ca) -> Result<RealCluster> {
        let version = config.kubernetes.clone();
        let (etcd_bin, apiserver_bin, kcm_bin) = tokio::task::spawn_blocking(move || {
            let kcm = if go_build::kubernetes_builds(&version, "kube-controller-manager") {
                Some(go_build::binary("kube-controller-manager", Some(&version))?)
            } else {
                None
            };
            Ok::<_, anyhow::Error>((
                go_build::binary("etcd", None)?,
                go_build::binary("kube-apiserver", Some(&version))?,
                kcm,
            ))
        })
        .await??;
        std::fs::create_dir_all(&config.dir)?;
        let work = tempfile::Builder::new()
            .prefix("breakglass-cluster-")
            .tempdir()
            .context("creating the control plane's work directory")?;
        let w = work.path();

        let etcd_port = free_port()?;
        let peer_port = free_port()?;
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut etcd = Process::spawn(
            "etcd",
            &etcd_bin,
            &strings(&[
                "--name=testbed",
                &format!("--data-dir={}", w.join("etcd").display()),
                &format!("--listen-client-urls={etcd_url}"),
                &format!("--advertise-client-urls={etcd_url}"),
                &format!("--listen-peer-urls={peer_url}"),
                &format!("--initial-advertise-peer-urls={peer_url}"),
                &format!("--initial-cluster=testbed={peer_url}"),
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ]),
            &config.dir.join("etcd.log"),
        )?;
        wait_http_ok(&mut etcd, &format!("{etcd_url}/health"), None, None).await?;

        let admin_token = format!("admin-{}", uuid::Uuid::new_v4().simple());
        let kcm_token = format!("kcm-{}", uuid::Uuid::new_v4().simple());
        std::fs::write(
            w.join("tokens.csv"),
            format!(
                "{admin_token},kubernetes-admin,admin-uid,\"system:masters\"\n\
                 {kcm_token},system:kube-controller-manager,kcm-uid,\"system:masters\"\n"
            ),
        )?;
        let serving = ca.issue_loopback_server_cert()?;
        std::fs::write(w.join("serving.crt"), &serving.cert_pem)?;
        std::fs::write(w.join("serving.key"), &serving.key_pem)?;
        std::fs::write(w.join("ca.crt"), ca.cert_pem())?;
        let sa_key = rcgen::KeyPair::generate().context("generating the service-account key")?;
        std::fs::write(w.join("sa.key"), sa_key.serialize_pem())?;
        std::fs::write(w.join("sa.pub"), sa_key.public_key_pem())?;
        std::fs::write(
            w.join("authn.json"),
            authentication_config(&config.kubernetes, &config.issuers).to_string(),
        )?;
        std::fs::write(w.join("audit-policy.json"), audit_policy().to_string())?;
        let audit_log = config.dir.join(AUDIT_LOG_FILE);
        let _ = std::fs::remove_file(&audit_log);

        let port = free_port()?;
        let direct_url = format!("https://127.0.0.1:{port}");
        let p = |f: &str| w.join(f).display().to_string();
        let mut apiserver = Process::spawn(
            "kube-apiserver",
            &apiserver_bin,
            &strings(&[
                &format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                &format!("--secure-port={port}"),
                &format!("--cert-dir={}", p("certs")),
                &format!("--tls-cert-file={}", p("serving.crt")),
                &format!("--tls-private-key-file={}", p("serving.key")),
                &format!("--client-ca-file={}", p("ca.crt")),
                &format!("--token-auth-file={}", p("tokens.csv")),
                "--authorization-mode=RBAC",
                &format!("--authentication-config={}", p("authn.json")),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                &format!("--service-account-key-file={}", p("sa.pub")),
                &format!("--service-account-signing-key-file={}", p("sa.key")),
                "--service-cluster-ip-range=10.96.0.0/16",
                // No kubelet, no pods that run: the ServiceAccount admission plugin would
                // only make every Pod wait for a `default` ServiceAccount.
                "--disable-admission-plugins=ServiceAccount",
                &format!("--audit-policy-file={}", p("audit-policy.json")),
                &format!("--audit-log-path={}", audit_log.display()),
                "--audit-log-mode=blocking",
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                "--v=1",
            ]),
            &config.dir.join("kube-apiserver.log"),
        )?;
        let admin = format!("Bearer {admin_token}");
        wait_http_ok(
            &mut apiserver,
            &format!("{direct_url}/readyz"),
            Some(&admin),
            Some(ca),
        )
        .await?;

        // Without the controller manager (an older release pinned for the API server only)
        // there is no garbage collection and no policy type-check status; nothing else
        // a grant needs is missing.
        let kcm = match kcm_bin {
            Some(kcm_bin) => {
                let kcm_kubeconfig = w.join("kcm.kubeconfig");
                std::fs::write(
                    &kcm_kubeconfig,
                    json!({
                        "apiVersion": "v1", "kind": "Config",
                        "clusters": [{"name": "c", "cluster": {"server": direct_url, "certificate-authority": p("ca.crt")}}],
                        "users": [{"name": "u", "user": {"token": kcm_token}}],
                        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                        "current-context": "c",
                    })
                    .to_string(),
                )?;
                let mut kcm = Process::spawn(
                    "kube-controller-manager",
                    &kcm_bin,
                    &strings(&[
                        &format!("--kubeconfig={}", kcm_kubeconfig.display()),
                        &format!("--controllers={CONTROLLERS}"),
                        "--leader-elect=false",
                        "--use-service-account-credentials=false",
                        "--secure-port=0",
                        &format!("--root-ca-file={}", p("ca.crt")),
                        "--concurrent-gc-syncs=5",
                        "--v=1",
                    ]),
                    &config.dir.join("kube-controller-manager.log"),
                )?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                kcm.check_running()?;
                Some(kcm)
            }
            None => None,
        };

        let proxy = FaultProxy::start(&direct_url, ca).await?;
        Ok(RealCluster {
            proxy,
            direct_url,
            admin_token,
            audit_log,
            version: config.kubernetes,
            kcm,
            apiserver,
            _etcd: etcd,
            _work: work,
        })
    }

    /// The URL clients use: the fault proxy in front of the API server.
    pub fn url(&self) -> &str {
        self.proxy.url()
    }

    /// The API server itself, without the proxy.
    pub fn direct_url(&self) -> &str {
        &self.direct_url
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    pub fn faults(&self) -> &crate::apiserver::Faults {
        self.proxy.faults()
    }

    /// The JSON-lines audit log the API server writes.
    pub fn audit_log_path(&self) -> &Path {
        &self.audit_log
    }

    /// The Kubernetes version running (`vX.Y.Z`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The API server's own log, for messages.
    pub fn log_path(&self) -> &Path {
        self.apiserver.log_path()
    }

    /// Whether kube-controller-manager runs (garbage collection, policy type checking).
    pub fn has_controller_manager(&self) -> bool {
        self.kcm.is_some()
    }

    /// Waits until the OIDC authenticator accepts `id_token` (it starts asynchronously,
    /// after fetching the issuer's discovery document and keys) as `username` (as anyone
    /// when `None`).
    pub async fn wait_for_oidc(&mut self, id_token: &str, username: Option<&str>) -> Result<()> {
        let client = client(None)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::new();
        while Instant::now() < deadline {
            self.apiserver.check_running()?;
            let answer = client
                .post(format!(
                    "{}/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    self.direct_url
                ))
                .bearer_auth(id_token)
                .json(
                    &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
                )
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => {
                    let v: serde_json::Value = r.json().await?;
                    match username {
                        Some(u) if v["status"]["userInfo"]["username"] != u => bail!(
                            "the API server took the ID token as {}, not {u}",
                            v["status"]["userInfo"]
                        ),
                        _ => return Ok(()),
                    }
                }
                Ok(r) => last = format!("HTTP {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        bail!(
            "the API server's OIDC authenticator did not accept a token from the test IdP within \
             {}s (last answer: {last}); see {}",
            READY_TIMEOUT.as_secs(),
            self.apiserver.log_path().display()
        )
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn client(ca: Option<&Ca>) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5));
    b = match ca {
        Some(ca) => {
            b.add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes())?)
        }
        // Only for loopback readiness probes of servers whose CA we wrote ourselves.
        None => b.danger_accept_invalid_certs(true),
    };
    Ok(b.build()?)
}

/// Polls `url` until it answers 200, failing early (with the log) if the process exits.
async fn wait_http_ok(
    process: &mut Process,
    url: &str,
    authorization: Option<&str>,
    ca: Option<&Ca>,
) -> Result<()> {
    let client = client(ca)?;
    let start = Instant::now();
    let mut last = String::from("no answer");
    while start.elapsed() < READY_TIMEOUT {
        process.check_running()?;
        let mut req = client.get(url);
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "{} did not become ready within {}s ({url}: {last}); last lines of {}:\n{}",
        process.name(),
        READY_TIMEOUT.as_secs(),
        process.log_path().display(),
        tail(process.log_path(), 10)
    )
}

/// Structured authentication: each issuer as a JWT authenticator, the test IdP's like
/// `--oidc-issuer-url`, `--oidc-client-id`, `--oidc-username-claim=email`,
/// `--oidc-groups-claim=groups` unless told otherwise.
fn authentication_config(kubernetes: &str, issuers: &[JwtIssuer]) -> serde_json::Value {
    let minor: u32 = kubernetes
        .trim_start_matches("v1.")
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    // GA (v1) from 1.34; v1beta1 from 1.30.
    let api_version = if minor >= 34 {
        "apiserver.config.k8s.io/v1"
    } else {
        "apiserver.config.k8s.io/v1beta1"
    };
    let jwt: Vec<serde_json::Value> = issuers
        .iter()
        .map(|i| {
            let groups = match &i.claims.groups {
                GroupsMapping::Claim(claim) => json!({"claim": claim, "prefix": ""}),
                GroupsMapping::Expression(cel) => json!({"expression": cel}),
            };
            let mut issuer = json!({
                "url": i.issuer_url,
                "audiences": i.audiences,
                "certificateAuthority": i.ca_pem,
            });
            if i.audiences.len() > 1 {
                issuer["audienceMatchPolicy"] = "MatchAny".into();
            }
            json!({
                "issuer": issuer,
                "claimMappings": {
                    "username": {"claim": i.claims.username_claim, "prefix": ""},
                    "groups": groups,
                },
            })
        })
        .collect();
    json!({
        "apiVersion": api_version,
        "kind": "AuthenticationConfiguration",
        "jwt": jwt,
    })
}

/// Every request once (when its answer is complete) at Metadata level, without the
/// controller manager's and the probes' traffic.
fn audit_policy() -> serde_json::Value {
    json!({
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "users": ["system:kube-controller-manager"]},
            {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*"]},
            {"level": "Metadata"},
        ],
    })
}
