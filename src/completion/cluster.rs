//! Reaching the cluster for completion: only with credentials already at hand (the
//! person's cached, unexpired ID token, or a context's own static credentials), never a
//! refresh, a login, a prompt or another exec plugin, and never for longer than [`BUDGET`].

use crate::global::Global;
use crate::grant::cluster::{client_with_token, reach, KubeCluster};
use anyhow::Context as _;
use std::time::Duration;

/// The longest a completion waits for the cluster; a shell must not hang on a TAB.
pub const BUDGET: Duration = Duration::from_millis(800);

/// Runs `work` against the cluster of the line's context, or gives `None` on any failure
/// or when [`BUDGET`] runs out.
pub fn on_cluster<T>(
    global: &Global,
    work: impl AsyncFnOnce(&KubeCluster) -> anyhow::Result<T>,
) -> Option<T> {
    let runtime = crate::runtime::current_thread().ok()?;
    let result = runtime.block_on(async {
        tokio::time::timeout(BUDGET, async {
            let cluster = connect(global).await?;
            work(&cluster).await
        })
        .await
    });
    // Do not wait for a DNS lookup still running on a blocking thread.
    runtime.shutdown_background();
    result.ok()?.ok()
}

/// A client with credentials that need nobody: the cached ID token of the context's
/// identity provider, or the context's static token or certificate.
async fn connect(global: &Global) -> anyhow::Result<KubeCluster> {
    let loaded = crate::kubeconfig::load(global)?;
    let ctx = loaded.context(global.context.as_deref())?;
    let reach = reach(&loaded, &ctx.name).await?;
    let client = match &ctx.idp {
        Some(idp) => {
            let settings = crate::identity::idp_settings(global, idp)?;
            let store = crate::token_cache::open(global.token_cache)?;
            let entry = crate::identity::cached_fresh(
                &settings,
                store.as_ref(),
                chrono::Utc::now(),
                &ctx.name,
            )?
            .context("no fresh cached login; completion never logs in")?;
            client_with_token(&reach, &entry.id_token)?
        }
        None => {
            let user = loaded
                .config()
                .auth_infos
                .iter()
                .find(|u| u.name == ctx.user_name)
                .and_then(|u| u.auth_info.as_ref());
            if user.is_some_and(|u| u.exec.is_some() || u.auth_provider.is_some()) {
                anyhow::bail!("another credential plugin could prompt; completion does not run it");
            }
            let options = kube::config::KubeConfigOptions {
                context: Some(ctx.name.clone()),
                ..Default::default()
            };
            let config =
                kube::Config::from_custom_kubeconfig(loaded.config().clone(), &options).await?;
            kube::Client::try_from(config)?
        }
    };
    Ok(KubeCluster::new(client, ctx.name, ctx.server, reach))
}
