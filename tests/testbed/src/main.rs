//! `breakglass-testbed`: bring the playground up, or approve a device code in it.

use anyhow::{Context, Result};
use breakglass_testbed::cluster::{go_build, ClusterKind};
use breakglass_testbed::idp::{check_node_install, IdpClient, IdpConfig};
use breakglass_testbed::playground::{self, Playground, PlaygroundOptions};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// The kubectl-breakglass test bed: a real OpenID provider and a real Kubernetes control
/// plane (or the API double).
#[derive(Parser)]
#[command(name = "breakglass-testbed")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the identity provider and the Kubernetes API and write DIR/kubeconfig; serve until interrupted
    Up {
        /// Directory for kubeconfig, ca.crt, idp.json and the `ready` marker
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Approve every device code as this user (e.g. alice)
        #[arg(long, value_name = "USER")]
        auto_approve: Option<String>,
        /// The kubectl-breakglass binary for the person's exec entry
        /// [default: next to this binary, else on PATH]
        #[arg(long, value_name = "PATH")]
        plugin: Option<PathBuf>,
        /// Do not apply the project's manifests from deploy/
        #[arg(long)]
        no_install: bool,
        /// `real`: kube-apiserver, kube-controller-manager and etcd built from the Go module
        /// proxy (once per machine); `double`: the test bed's API double
        /// [default: real where Go 1.26+ is installed, else double]
        #[arg(long, value_name = "KIND", value_parser = ["real", "double"])]
        cluster: Option<String>,
        /// Kubernetes version of the real control plane (one with a module under tests/testbed/go/)
        #[arg(long, value_name = "VERSION")]
        kubernetes: Option<String>,
    },
    /// Approve (or deny) a device code in a running playground, as a person in a browser would
    Approve {
        /// The playground directory
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Sign in as this user
        #[arg(long, value_name = "USER", required_unless_present = "deny")]
        user: Option<String>,
        /// Abort the sign-in instead: the waiting client gets access_denied
        #[arg(long)]
        deny: bool,
        /// The user code the client shows (e.g. BCDF-GHJK)
        code: String,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up {
                dir,
                auto_approve,
                plugin,
                no_install,
                cluster,
                kubernetes,
            } => {
                let kind = cluster_kind(cluster.as_deref(), kubernetes)?;
                up(dir, auto_approve, plugin, !no_install, kind).await
            }
            Command::Approve {
                dir,
                user,
                deny,
                code,
            } => approve(&dir, user.as_deref(), deny, &code).await,
        }
    });
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// `--cluster`/`--kubernetes`, else real where Go is, saying why when it falls back.
fn cluster_kind(cluster: Option<&str>, kubernetes: Option<String>) -> Result<ClusterKind> {
    let version = kubernetes.unwrap_or_else(go_build::default_kubernetes_version);
    let (kind, note) = ClusterKind::choose(cluster, version)?;
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    Ok(kind)
}

async fn up(
    dir: PathBuf,
    auto_approve: Option<String>,
    plugin: Option<PathBuf>,
    install: bool,
    cluster: ClusterKind,
) -> Result<()> {
    check_node_install()?;
    let plugin = plugin.unwrap_or_else(default_plugin);
    if let ClusterKind::Real(version) = &cluster {
        eprintln!("starting the real control plane, Kubernetes {version} (the first run on a machine builds it)…");
    }
    let playground = Playground::start(PlaygroundOptions {
        dir,
        auto_approve: auto_approve.clone(),
        plugin,
        idp: IdpConfig::default(),
        cluster,
        api: Default::default(),
        install,
        authentication: Default::default(),
    })
    .await?;
    let kubeconfig = playground.kubeconfig_path();
    eprintln!(
        "playground up in {dir}\n  identity provider: {issuer} (log: {log})\n  API server:        {api} ({kind}){audit}\n  \
         try: kubectl --kubeconfig {kc} --context playground-admin get namespaces\n       \
         kubectl --kubeconfig {kc} --context playground auth whoami\n  {approving}\n\
         Ctrl-C stops it.",
        dir = playground.dir().display(),
        issuer = playground.idp.issuer(),
        log = playground.idp.log_path().display(),
        api = playground.api.url(),
        kind = playground.api.describe(),
        audit = match playground.api.real() {
            Some(r) => format!("\n  audit log:         {}", r.audit_log_path().display()),
            None => String::new(),
        },
        kc = kubeconfig.display(),
        approving = match &auto_approve {
            Some(user) => format!("every device code is approved as {user}"),
            None => format!(
                "approve a device code with: breakglass-testbed approve --dir {} --user alice CODE",
                playground.dir().display()
            ),
        },
    );
    wait_for_shutdown().await?;
    eprintln!("stopping the playground");
    drop(playground);
    Ok(())
}

async fn wait_for_shutdown() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// `kubectl-breakglass` next to this binary (both are built into target/), else from PATH.
fn default_plugin() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("kubectl-breakglass")));
    if let Some(path) = beside.filter(|p| p.is_file()) {
        return path;
    }
    if let Some(path) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("kubectl-breakglass"))
            .find(|p| p.is_file())
    }) {
        return path;
    }
    eprintln!(
        "warning: kubectl-breakglass is neither next to breakglass-testbed nor on PATH; build it \
         with `cargo build` or pass --plugin. The kubeconfig names it by bare name for now."
    );
    PathBuf::from("kubectl-breakglass")
}

async fn approve(dir: &Path, user: Option<&str>, deny: bool, code: &str) -> Result<()> {
    let info = playground::read_idp_info(dir)?;
    let ca_path = dir.join(playground::CA_FILE);
    let ca_pem = std::fs::read_to_string(&ca_path)
        .with_context(|| format!("reading {}", ca_path.display()))?;
    let client = IdpClient::connect(&info.issuer, &info.client_id, &ca_pem)?;
    if deny {
        client.deny(code).await?;
        eprintln!("denied {code}");
    } else {
        let user = user.expect("clap requires --user unless --deny");
        client.approve(code, user).await?;
        eprintln!("approved {code} as {user}");
    }
    Ok(())
}
