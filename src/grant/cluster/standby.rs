//! Connecting for `request`, `revoke`, `status` and `drill` (issue 13): as the person (their
//! OIDC ID token) — and, only when the identity provider cannot be asked and the cached ID
//! token has expired (`IdentityError::IdpUnavailable`), or when `--standby` says so, as their
//! standby credential. Never when the person is simply logged out or refused.

use super::{client_with_token, reach, ClusterError, KubeCluster, Shared};
use crate::global::Global;
use crate::grant::model::standby::{NAMESPACE, USER_PREFIX};
use crate::grant::standby_cache;
use crate::identity::IdentityError;
use crate::untrusted::Untrusted;
use chrono::Utc;
use std::rc::Rc;

/// How to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// As the person; the standby credential only when the IdP cannot be asked.
    Person,
    /// As the standby credential (`--standby`).
    Standby,
}

impl Via {
    /// `--standby` given or not.
    pub fn of_flag(standby: bool) -> Via {
        if standby {
            Via::Standby
        } else {
            Via::Person
        }
    }
}

/// [`super::connect`] by `via`, shared as the use cases take it; through the standby
/// credential the cluster's `whoami` is the person it stands for, with `standby` set.
pub async fn connect_via(global: &Global, via: Via) -> anyhow::Result<Shared> {
    Ok(Rc::new(connect_kube_via(global, via).await?))
}

async fn connect_kube_via(global: &Global, via: Via) -> anyhow::Result<KubeCluster> {
    if via == Via::Standby {
        let cluster = standby(global).await?;
        say!("Using your standby credential (--standby; recorded and alerted as standby use).");
        return Ok(cluster);
    }
    let err = match super::connect(global, false).await {
        Ok(cluster) => return Ok(cluster),
        Err(err) => err,
    };
    let Some(IdentityError::IdpUnavailable { cause, .. }) = err.downcast_ref::<IdentityError>()
    else {
        return Err(err);
    };
    // Said only once the standby credential is known to work, so that a refusal is one
    // `error:` line carrying both reasons.
    let why = Untrusted(&root_cause(cause.as_ref())).to_string();
    let cluster = standby(global)
        .await
        .map_err(|s| anyhow::anyhow!("the identity provider cannot be reached ({why}), and {s}"))?;
    say!(
        "The identity provider cannot be reached ({why}); using your standby credential \
         instead (recorded and alerted as standby use)."
    );
    Ok(cluster)
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// As the standby credential this machine holds for the person's own context's API server.
async fn standby(global: &Global) -> anyhow::Result<KubeCluster> {
    let loaded = crate::kubeconfig::load(global)?;
    let ctx = standby_cache::own_context(global)?;
    let store = crate::token_cache::open(global.token_cache)?;
    let server = ctx.server.clone();
    let held = match standby_cache::login_account(global, store.as_ref())? {
        Some(account) => standby_cache::load(store.as_ref(), &server, &account)?,
        None => None,
    };
    let Some(held) = held else {
        anyhow::bail!(
            "you hold no standby credential for {server}, so nothing can break the glass \
             without the identity provider; a break-glass admin can act from an admin context \
             (kubectl breakglass status --all --context ADMIN-CONTEXT) and give you one for \
             next time (kubectl breakglass standby provision --user YOU), which your next \
             login then mints"
        );
    };
    if held.expires_at <= Utc::now() {
        anyhow::bail!(
            "your standby credential for {server} expired at {} and is not used; nothing was \
             created. Renew it while the identity provider works (kubectl breakglass standby \
             renew), or ask a break-glass admin",
            held.expires_at.to_rfc3339()
        );
    }
    let reach = reach(&loaded, &ctx.name).await?;
    let client = client_with_token(&reach, &held.token)?;
    let cluster = KubeCluster {
        client,
        context: ctx.name,
        server: server.clone(),
        reach,
        stands_for: Some(held.user.clone()),
    };
    let who = match super::whoami(&cluster.client).await {
        Ok(who) => who,
        Err(e) => match cluster.error(e, "asking the cluster who your standby credential is") {
            ClusterError::Unauthorized { .. } => anyhow::bail!(
                "the cluster at {server} rejects your standby credential (401): it was revoked \
                 (its Secret {NAMESPACE}/{} deleted by an admin) though it would live until {}; \
                 nothing was created. Ask a break-glass admin (kubectl breakglass standby \
                 provision --user {} issues a new one)",
                Untrusted(&held.service_account),
                held.expires_at.to_rfc3339(),
                Untrusted(&held.user)
            ),
            other => return Err(other.into()),
        },
    };
    let expected = format!("{USER_PREFIX}{}", held.service_account);
    if who.username != expected {
        anyhow::bail!(
            "the cluster knows your standby credential as {}, not {expected}; nothing was \
             created. Renew it: kubectl breakglass standby renew",
            Untrusted(&who.username)
        );
    }
    Ok(cluster)
}
