//! The playground: the identity provider and a Kubernetes API server (the real control
//! plane, or the API double) on free loopback ports, with a kubeconfig for the person (the
//! plugin's exec credential) and for an admin, written into one directory.

use crate::apiserver::{ApiConfig, ApiServer, OidcConfig};
use crate::cluster::{
    Authentication, Cluster, ClusterKind, JwtIssuer, RealCluster, RealClusterConfig,
};
use crate::idp::{Idp, IdpConfig};
use crate::kubeconfig::{self, KubeconfigInput};
use crate::tls::Ca;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Files the playground writes into its directory.
pub const KUBECONFIG_FILE: &str = "kubeconfig";
pub const CA_FILE: &str = "ca.crt";
pub const IDP_FILE: &str = "idp.json";
pub const READY_FILE: &str = "ready";
pub const PID_FILE: &str = "playground.pid";
pub const IDP_LOG_FILE: &str = "idp.log";
/// `{"kind": "real"|"double", "kubernetes": "vX.Y.Z", "auditLog": PATH}`.
pub const CLUSTER_FILE: &str = "cluster.json";

/// Where the project's cluster-side install manifests live.
pub const DEPLOY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy");

/// How to bring a playground up.
pub struct PlaygroundOptions {
    pub dir: PathBuf,
    /// Approve every device code as this user, in the background.
    pub auto_approve: Option<String>,
    /// The `kubectl-breakglass` binary the person's exec entry runs.
    pub plugin: PathBuf,
    pub idp: IdpConfig,
    /// The real control plane or the API double.
    pub cluster: ClusterKind,
    /// The double's settings (its `oidc` is replaced by the playground's identity provider).
    pub api: ApiConfig,
    /// Apply the project's manifests from `deploy/` (all `*.yaml`, sorted) as admin, if it exists.
    pub install: bool,
    /// The real API server's claim mappings for the IdP, and further issuers it trusts.
    pub authentication: Authentication,
}

/// `{"issuer": ..., "client_id": ...}` in `idp.json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct IdpInfo {
    pub issuer: String,
    pub client_id: String,
}

/// A running playground; dropping it stops both servers and removes `ready`.
pub struct Playground {
    pub idp: Idp,
    pub api: Cluster,
    pub ca: Ca,
    dir: PathBuf,
    approver: Option<tokio::task::JoinHandle<()>>,
}

impl Playground {
    /// Starts both servers, writes the files and finally `ready`.
    pub async fn start(options: PlaygroundOptions) -> Result<Playground> {
        std::fs::create_dir_all(&options.dir)
            .with_context(|| format!("creating {}", options.dir.display()))?;
        let dir = std::path::absolute(&options.dir)?;
        claim_dir(&dir)?;
        match Playground::start_claimed(options, dir.clone()).await {
            Ok(playground) => Ok(playground),
            Err(e) => {
                let _ = std::fs::remove_file(dir.join(PID_FILE));
                Err(e)
            }
        }
    }

    async fn start_claimed(options: PlaygroundOptions, dir: PathBuf) -> Result<Playground> {
        let _ = std::fs::remove_file(dir.join(READY_FILE));
        // A bare name stays one: kubectl looks it up on PATH.
        let plugin = if options.plugin.components().count() > 1 {
            std::path::absolute(&options.plugin)?
        } else {
            options.plugin.clone()
        };
        let ca = Ca::generate()?;
        let ca_file = dir.join(CA_FILE);
        ca.write_cert(&ca_file)?;

        let first_user = options.idp.users.first().cloned();
        let idp = Idp::start(
            IdpConfig {
                log_file: Some(dir.join(IDP_LOG_FILE)),
                ..options.idp
            },
            &ca,
        )
        .await?;
        let oidc = OidcConfig {
            issuer_url: idp.issuer().to_string(),
            client_id: idp.client_id().to_string(),
            ca_pem: ca.cert_pem().to_string(),
        };
        let api = match &options.cluster {
            ClusterKind::Double => Cluster::Double(
                ApiServer::start(
                    ApiConfig {
                        oidc: Some(oidc),
                        ..options.api
                    },
                    &ca,
                )
                .await
                .context("starting the Kubernetes API double")?,
            ),
            ClusterKind::Real(version) => {
                let auth = &options.authentication;
                let issuers = std::iter::once(JwtIssuer::for_oidc(&oidc, auth.idp_claims.clone()))
                    .chain(auth.more_issuers.iter().cloned())
                    .collect();
                let mut real = RealCluster::start(
                    RealClusterConfig {
                        kubernetes: version.clone(),
                        issuers,
                        dir: dir.clone(),
                    },
                    &ca,
                )
                .await
                .with_context(|| {
                    format!("starting the real control plane (Kubernetes {version})")
                })?;
                // Ready means a person's ID token works, not only that /readyz says so.
                let user = first_user.context("the IdP has no users")?;
                let tokens = idp.login_tokens(&user.name).await?;
                let expected =
                    (auth.idp_claims.username_claim == "email").then_some(user.email.as_str());
                real.wait_for_oidc(&tokens.id_token, expected).await?;
                Cluster::Real(Box::new(real))
            }
        };
        std::fs::write(
            dir.join(CLUSTER_FILE),
            serde_json::to_vec_pretty(&match &api {
                Cluster::Real(r) => serde_json::json!({
                    "kind": "real",
                    "kubernetes": r.version(),
                    "auditLog": r.audit_log_path(),
                }),
                Cluster::Double(_) => serde_json::json!({"kind": "double"}),
            })?,
        )?;

        let kubeconfig_path = dir.join(KUBECONFIG_FILE);
        let kubeconfig = kubeconfig::render(&KubeconfigInput {
            server: api.url(),
            ca_pem: ca.cert_pem(),
            admin_token: api.admin_token(),
            plugin: &plugin,
            issuer: idp.issuer(),
            client_id: idp.client_id(),
            ca_file: &ca_file,
        });
        write_private(&kubeconfig_path, kubeconfig.as_bytes())?;
        let info = IdpInfo {
            issuer: idp.issuer().to_string(),
            client_id: idp.client_id().to_string(),
        };
        std::fs::write(dir.join(IDP_FILE), serde_json::to_vec_pretty(&info)?)?;

        if options.install {
            install_manifests(&kubeconfig_path, Path::new(DEPLOY_DIR)).await?;
            wait_installed(&kubeconfig_path).await?;
        }
        let approver = options.auto_approve.map(|user| idp.auto_approve(&user));
        std::fs::write(dir.join(READY_FILE), b"")?;
        Ok(Playground {
            idp,
            api,
            ca,
            dir,
            approver,
        })
    }

    /// The playground directory (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The kubeconfig with the `playground` and `playground-admin` contexts.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join(KUBECONFIG_FILE)
    }
}

impl Drop for Playground {
    fn drop(&mut self) {
        if let Some(approver) = &self.approver {
            approver.abort();
        }
        let _ = std::fs::remove_file(self.dir.join(READY_FILE));
        let _ = std::fs::remove_file(self.dir.join(PID_FILE));
    }
}

/// Reads `idp.json` from a playground directory.
pub fn read_idp_info(dir: &Path) -> Result<IdpInfo> {
    let path = dir.join(IDP_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {}: is a playground running there (`breakglass-testbed up --dir {}`)?",
            path.display(),
            dir.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Takes the directory with a pid file, refusing one that a live playground holds.
fn claim_dir(dir: &Path) -> Result<()> {
    let pid_path = dir.join(PID_FILE);
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&pid_path)
        {
            Ok(mut file) => {
                write!(file, "{}", std::process::id())?;
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&pid_path).unwrap_or_default();
                match holder.trim().parse::<u32>() {
                    Ok(pid) if Path::new(&format!("/proc/{pid}")).exists() => bail!(
                        "{} holds a running playground (pid {pid}); stop it (Ctrl-C, or \
                         `kill {pid}`) or choose another --dir",
                        dir.display()
                    ),
                    // A playground that died without cleaning up.
                    _ => std::fs::remove_file(&pid_path)
                        .with_context(|| format!("removing stale {}", pid_path.display()))?,
                }
            }
            Err(e) => {
                return Err(e).with_context(|| format!("creating {}", pid_path.display()));
            }
        }
    }
    bail!(
        "another playground is starting in {} at the same time",
        dir.display()
    )
}

/// Applies `deploy/*.yaml` in sorted order with real kubectl as admin.
async fn install_manifests(kubeconfig: &Path, deploy: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(deploy) else {
        return Ok(());
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let output = tokio::process::Command::new(kubectl())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--context", kubeconfig::ADMIN_CONTEXT, "apply", "-f"])
            .arg(&file)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .context("running kubectl (is it installed?)")?;
        if !output.status.success() {
            bail!(
                "kubectl apply -f {} failed: {}",
                file.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    Ok(())
}

/// Waits until what `deploy/` installed is in force: the CRD is served and the admission
/// policies are type-checked and enforced (a real API server loads both asynchronously).
pub async fn wait_installed(kubeconfig: &Path) -> Result<()> {
    let run = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(kubectl());
        cmd.arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--context", kubeconfig::ADMIN_CONTEXT])
            .args(args)
            .stdin(std::process::Stdio::null());
        cmd
    };
    let out = run(&[
        "wait",
        "--for=condition=established",
        "--timeout=60s",
        "crd/breakglassgrants.breakglass.dev",
    ])
    .output()
    .await?;
    if !out.status.success() {
        bail!(
            "the BreakGlassGrant CRD was not established: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // An established CRD may still answer 429 "storage is (re)initializing" for a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = run(&["get", "breakglassgrants", "-n", "breakglass"])
            .output()
            .await?;
        if out.status.success() {
            break;
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "the BreakGlassGrant records could not be listed within 60s: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Once a Secret that is no seal is refused, the API server enforces the policies.
    loop {
        let kubeconfig = kubeconfig.to_path_buf();
        let out = tokio::task::spawn_blocking(move || probe_seal_policy(&kubeconfig)).await??;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && err.contains("ValidatingAdmissionPolicy") {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            let seen = if out.status.success() {
                "admitted".to_string()
            } else {
                format!("refused: {}", err.trim())
            };
            bail!(
                "the admission policies of deploy/04-admission.yaml were not enforced within \
                 60s (a Secret that is no seal was {seen})"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `kubectl create secret generic policy-probe -n breakglass --dry-run=server` as admin:
/// refused by the `breakglass-seals` policy exactly while the admission policies are
/// enforced (a real API server loads and drops them asynchronously).
pub fn probe_seal_policy(kubeconfig: &Path) -> std::io::Result<std::process::Output> {
    std::process::Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--context", kubeconfig::ADMIN_CONTEXT])
        .args([
            "create",
            "secret",
            "generic",
            "policy-probe",
            "-n",
            "breakglass",
        ])
        .arg("--dry-run=server")
        .stdin(std::process::Stdio::null())
        .output()
}

/// `/usr/bin/kubectl` when present, else `kubectl` from PATH.
pub fn kubectl() -> PathBuf {
    let usr = Path::new("/usr/bin/kubectl");
    if usr.exists() {
        usr.to_path_buf()
    } else {
        PathBuf::from("kubectl")
    }
}

fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))
}
