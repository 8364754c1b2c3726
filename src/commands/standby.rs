//! `kubectl breakglass standby status|renew|provision|revoke`: the standby credential that
//! breaks the glass while the identity provider is down (src/standby/).

use crate::cli::{StandbyArgs, StandbyCommand};
use crate::global::Global;
use crate::grant::cluster::{self, Cluster};
use crate::grant::model::standby;
use crate::grant::standby_cache as cache;
use crate::runtime::current_thread;
use crate::standby::{mint, provision};
use crate::untrusted::Untrusted;

/// Runs `standby ...`.
pub fn run(global: &Global, args: StandbyArgs) -> anyhow::Result<()> {
    match args.command {
        StandbyCommand::Status => status(global),
        StandbyCommand::Renew(a) => current_thread()?.block_on(renew(global, a.force)),
        StandbyCommand::Provision(a) => current_thread()?.block_on(give(global, &a.user, &a.roles)),
        StandbyCommand::Revoke(a) => current_thread()?.block_on(revoke(global, &a.user)),
    }
}

/// What this machine holds; no network.
fn status(global: &Global) -> anyhow::Result<()> {
    let ctx = cache::own_context(global)?;
    let store = crate::token_cache::open(global.token_cache)?;
    let now = chrono::Utc::now();
    let held = match cache::login_account(global, store.as_ref())? {
        Some(account) => cache::load(store.as_ref(), &ctx.server, &account)?,
        None => None,
    };
    match held {
        None => say!(
            "No standby credential held for {} (context {}): it is minted at login when an \
             admin provisioned one for you (kubectl breakglass standby renew tries now).",
            ctx.server,
            ctx.name
        ),
        Some(e) if e.expires_at <= now => say!(
            "The standby credential of {} for {} expired at {}: renew it while the identity \
             provider works: kubectl breakglass standby renew",
            Untrusted(&e.user),
            ctx.server,
            e.expires_at.to_rfc3339()
        ),
        Some(e) => say!(
            "Standby credential held for {} on {}: ServiceAccount {}/{}, usable until {}{}.",
            Untrusted(&e.user),
            ctx.server,
            standby::NAMESPACE,
            Untrusted(&e.service_account),
            e.expires_at.to_rfc3339(),
            if e.wants_renewal(now) {
                " (less than half left: renewed at your next login or request)"
            } else {
                ""
            }
        ),
    }
    Ok(())
}

async fn renew(global: &Global, force: bool) -> anyhow::Result<()> {
    let cluster = cluster::connect(global, false).await?;
    let me = cluster.whoami().await?;
    let store = crate::token_cache::open(global.token_cache)?;
    let Some(account) = cache::login_account(global, store.as_ref())? else {
        anyhow::bail!(
            "the context {} does not use this plugin's login, so there is no standby \
             credential to renew for it; run this with your own context (--context)",
            cluster.context
        );
    };
    match mint::renew(&cluster, &me, store.as_ref(), &account, force).await? {
        mint::Renewal::Kept(e) => say!(
            "Your standby credential for {} is good until {} (more than half its lifetime \
             left); --force mints a new one now.",
            cluster.server,
            e.expires_at.to_rfc3339()
        ),
        mint::Renewal::Minted(e) => say!(
            "Standby credential minted for {} on {}: usable without the identity provider \
             until {}, for the grant protocol only (token id {}).",
            Untrusted(&me.username),
            cluster.server,
            e.expires_at.to_rfc3339(),
            Untrusted(&e.jti)
        ),
        mint::Renewal::NotProvisioned { enabled: false } => anyhow::bail!(
            "standby credentials are not enabled on {}: no one is provisioned in the policy. \
             An admin enables them with kubectl apply -f {} and then gives people one: \
             kubectl breakglass standby provision --user USER",
            cluster.server,
            standby::MANIFEST
        ),
        mint::Renewal::NotProvisioned { enabled: true } => anyhow::bail!(
            "{} has no standby credential on {}: a break-glass admin gives you one with: \
             kubectl breakglass standby provision --user {}",
            Untrusted(&me.username),
            cluster.server,
            Untrusted(&me.username)
        ),
    }
    Ok(())
}

async fn give(global: &Global, user: &str, roles: &[String]) -> anyhow::Result<()> {
    let cluster = cluster::connect(global, false).await?;
    let done = provision::provision(&cluster, user, roles).await?;
    say!(
        "Standby credential provisioned for {} on {}: ServiceAccount {}/{}, roles {}{}.",
        Untrusted(user),
        cluster.server,
        standby::NAMESPACE,
        done.service_account,
        Untrusted(&done.roles.join(", ")),
        if done.new_secret {
            ""
        } else {
            " (its Secret was kept: credentials already held stay valid)"
        }
    );
    say!(
        "{} mints it at their next login (or: kubectl breakglass standby renew). Revoke it: \
         kubectl breakglass standby revoke --user {}",
        Untrusted(user),
        Untrusted(user)
    );
    Ok(())
}

async fn revoke(global: &Global, user: &str) -> anyhow::Result<()> {
    let cluster = cluster::connect(global, false).await?;
    if provision::revoke(&cluster, user).await? {
        say!(
            "Revoked the standby credential of {} on {}: its Secret {}/{} is deleted, so every \
             token bound to it is rejected (the API server may accept one it checked in the \
             last ~10 s from its cache). A new one: kubectl breakglass standby provision --user {}",
            Untrusted(user),
            cluster.server,
            standby::NAMESPACE,
            standby::account_name(user),
            Untrusted(user)
        );
    } else {
        say!(
            "{} holds no standby credential on {} (never provisioned, or already revoked): \
             nothing to revoke.",
            Untrusted(user),
            cluster.server
        );
    }
    Ok(())
}
