//! Connecting for `request`, `revoke`, `status` and `drill`: as the person (their OIDC ID
//! token) — and, only when the identity provider cannot be asked and the cached ID token
//! has expired (`IdpUnavailable`), or when `--standby` says so, as their standby credential.
//! Never when the person is simply logged out or refused.

use super::{cache, config, USER_PREFIX};
use crate::cli::GlobalArgs;
use crate::grant::cluster::{self, client_with_token, Cluster, Whoami};
use crate::grant::policy::{Allowed, Ask, Policy};
use crate::identity::IdpUnavailable;
use crate::untrusted::Untrusted;
use chrono::Utc;

/// How to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// As the person; the standby credential only when the IdP cannot be asked.
    Person,
    /// As the standby credential (`--standby`).
    Standby,
}

impl Path {
    /// `--standby` given or not.
    pub fn of_flag(standby: bool) -> Path {
        if standby {
            Path::Standby
        } else {
            Path::Person
        }
    }
}

/// The cluster and who the caller is, by `path`. With the person's identity and `renew`,
/// the standby credential is renewed on the way (best effort, one warning line).
pub async fn connect(
    global: &GlobalArgs,
    path: Path,
    renew: bool,
) -> anyhow::Result<(Cluster, Whoami)> {
    if path == Path::Person {
        match cluster::connect(global, false).await {
            Ok(cluster) => {
                let me = cluster.whoami().await?;
                if renew {
                    super::mint::renew_quietly(global, &cluster, &me).await;
                }
                return Ok((cluster, me));
            }
            Err(e) => {
                if e.downcast_ref::<IdpUnavailable>().is_none() {
                    return Err(e);
                }
                // Said only once the standby credential is known to work, so that a refusal
                // is one `error:` line carrying both reasons.
                let why = Untrusted(&format!("{:#}", e.root_cause())).to_string();
                let connected = standby(global).await.map_err(|s| {
                    anyhow::anyhow!("the identity provider cannot be reached ({why}), and {s}")
                })?;
                say!(
                    "The identity provider cannot be reached ({why}); using your standby \
                     credential instead (recorded and alerted as standby use)."
                );
                return Ok(connected);
            }
        }
    }
    let connected = standby(global).await?;
    say!("Using your standby credential (--standby; recorded and alerted as standby use).");
    Ok(connected)
}

/// As the standby credential this machine holds for the context's API server.
async fn standby(global: &GlobalArgs) -> anyhow::Result<(Cluster, Whoami)> {
    let ctx = cache::own_context(global)?;
    let store = crate::token_cache::open(global.token_cache)?;
    let server = ctx.server.clone();
    let account = cache::login_account(global, store.as_ref())?;
    let held = match &account {
        Some(account) => cache::load(store.as_ref(), &server, account)?,
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
    let now = Utc::now();
    if held.expires_at <= now {
        anyhow::bail!(
            "your standby credential for {server} expired at {} and is not used; nothing was \
             created. Renew it while the identity provider works (kubectl breakglass standby \
             renew), or ask a break-glass admin",
            held.expires_at.to_rfc3339()
        );
    }
    let client = client_with_token(
        &server,
        ctx.ca_pem.as_deref(),
        ctx.insecure_skip_tls_verify,
        &held.token(),
    )?;
    let who = match cluster::whoami(&client).await {
        Ok(who) => who,
        Err(e) if cluster::status_code(&e) == Some(401) => anyhow::bail!(
            "the cluster at {server} rejects your standby credential (401): it was revoked \
             (its Secret {}/{} deleted by an admin) though it would live until {}; nothing \
             was created. Ask a break-glass admin (kubectl breakglass standby provision --user \
             {} issues a new one)",
            super::NAMESPACE,
            Untrusted(&held.service_account),
            held.expires_at.to_rfc3339(),
            Untrusted(&held.user)
        ),
        Err(e) => {
            return Err(cluster::explain(
                e,
                &server,
                &ctx.name,
                "asking the cluster who your standby credential is",
            ))
        }
    };
    let expected = format!("{USER_PREFIX}{}", held.service_account);
    if who.username != expected {
        anyhow::bail!(
            "the cluster knows your standby credential as {}, not {expected}; nothing was \
             created. Renew it: kubectl breakglass standby renew",
            Untrusted(&who.username)
        );
    }
    let me = Whoami {
        username: held.user.clone(),
        groups: who.groups,
        standby: Some(who.username),
    };
    let cluster = Cluster {
        client,
        context: ctx.name,
        server,
        ca_pem: ctx.ca_pem,
        insecure: ctx.insecure_skip_tls_verify,
    };
    Ok((cluster, me))
}

/// The policy check for `me`: through a standby credential, the role must be one the
/// policy's `standby.<sa>.roles` gives it (instead of the person's groups, which a
/// ServiceAccount does not have); everything else as for anyone.
pub async fn check(
    cluster: &Cluster,
    policy: &Policy,
    ask: &Ask<'_>,
    me: &Whoami,
) -> anyhow::Result<Allowed> {
    let Some(sa) = me.standby.as_deref() else {
        return policy.check(ask, &me.username, &me.groups);
    };
    let sa = sa.strip_prefix(USER_PREFIX).unwrap_or(sa);
    let standby = config::read(cluster).await?;
    let holder = standby
        .of_account(sa)
        .filter(|h| h.user == me.username)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the policy changed: the standby credential {} no longer stands for {} \
                 (policy key standby.{}.user); nothing was created. Ask a break-glass admin",
                Untrusted(sa),
                Untrusted(&me.username),
                Untrusted(sa)
            )
        })?;
    let role = ask.role.unwrap_or(&policy.default_role);
    if !holder.roles.iter().any(|r| r == role) {
        anyhow::bail!(
            "your standby credential may not break glass into role {} (its roles: {}; policy \
             key standby.{}.roles); nothing was created",
            Untrusted(role),
            Untrusted(&holder.roles.join(", ")),
            Untrusted(sa)
        );
    }
    let groups = policy
        .roles
        .iter()
        .find(|r| r.name == role)
        .map(|r| r.groups.clone())
        .unwrap_or_default();
    policy.check(ask, &me.username, &groups)
}
