//! Minting and renewing the standby credential with the person's own OIDC identity: a
//! TokenRequest for their standby ServiceAccount, bound to its Secret, as long as the
//! policy's `standby.lifetime` (the API server may shorten it; the token's `exp` counts).

use crate::global::Global;
use crate::grant::cluster::policy::read_standby;
use crate::grant::cluster::{Cluster, ClusterError, Whoami};
use crate::grant::model::jwt;
use crate::grant::model::standby::{Holder, NAMESPACE};
use crate::grant::standby_cache::{self as cache, Entry};
use crate::secret::Secret;
use crate::token_cache::TokenStore;
use crate::untrusted::Untrusted;
use chrono::{DateTime, Utc};
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};

/// What renewal found or did.
pub enum Renewal {
    /// The held credential has more than half its lifetime left.
    Kept(Entry),
    /// A new one was minted and cached.
    Minted(Entry),
    /// No admin provisioned one for this person; `enabled`: someone else has one.
    NotProvisioned { enabled: bool },
}

/// Makes sure `me` holds a standby credential for `cluster` with more than half its
/// lifetime left (`force`: mints anyway). `me` must be the person's own identity.
pub async fn renew(
    cluster: &dyn Cluster,
    me: &Whoami,
    store: &dyn TokenStore,
    account: &str,
    force: bool,
) -> anyhow::Result<Renewal> {
    let held = cache::load(store, cluster.server(), account)?;
    let now = Utc::now();
    if let Some(h) = held
        .as_ref()
        .filter(|h| !force && h.user == me.username && !h.wants_renewal(now) && h.expires_at > now)
    {
        return Ok(Renewal::Kept(h.clone()));
    }
    let standby = read_standby(cluster).await?;
    let Some(holder) = standby.of_user(&me.username) else {
        return Ok(Renewal::NotProvisioned {
            enabled: !standby.holders.is_empty(),
        });
    };
    let entry = mint(cluster, me, holder, account, standby.lifetime).await?;
    cache::store(store, &entry)?;
    Ok(Renewal::Minted(entry))
}

async fn mint(
    cluster: &dyn Cluster,
    me: &Whoami,
    holder: &Holder,
    account: &str,
    lifetime: std::time::Duration,
) -> anyhow::Result<Entry> {
    let sa = &holder.service_account;
    let tr = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(lifetime.as_secs() as i64),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Secret".into()),
                name: Some(sa.clone()),
                uid: None,
            }),
        },
        ..TokenRequest::default()
    };
    let doing = format!(
        "minting your standby credential (ServiceAccount {NAMESPACE}/{})",
        Untrusted(sa)
    );
    let issued = match cluster.request_standby_token(sa, &tr, &doing).await {
        Ok(issued) => issued,
        Err(ClusterError::NotFound { .. }) => anyhow::bail!(
            "{doing}: the cluster has no such ServiceAccount or Secret — revoked by an admin \
             (kubectl breakglass standby revoke) or never provisioned; a break-glass admin \
             issues a new one: kubectl breakglass standby provision --user {}",
            Untrusted(&me.username)
        ),
        Err(e) => return Err(e.into()),
    };
    let token = Secret::new(
        issued
            .status
            .map(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow::anyhow!("{doing}: the API server returned no token"))?,
    );
    let claims = jwt::claims(token.expose()).map_err(|e| anyhow::anyhow!("{doing}: {e}"))?;
    Ok(Entry {
        token,
        server: cluster.server().to_string(),
        account: account.to_string(),
        user: me.username.clone(),
        service_account: sa.clone(),
        issued_at: Utc::now(),
        expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now),
        jti: claims.jti,
    })
}

/// Renewal on the way of another command (`login`, `request`): says one line when it
/// minted, one warning when minting failed, nothing when the person has no standby
/// credential or the cluster has no standby policy to read.
pub async fn renew_quietly(global: &Global, cluster: &dyn Cluster, me: &Whoami) {
    if me.standby.is_some() {
        return;
    }
    let Ok(store) = crate::token_cache::open(global.token_cache) else {
        return;
    };
    let Ok(Some(account)) = cache::login_account(global, store.as_ref()) else {
        return;
    };
    let now = Utc::now();
    if let Ok(Some(h)) = cache::load(store.as_ref(), cluster.server(), &account) {
        if h.user == me.username && !h.wants_renewal(now) {
            return;
        }
    }
    let Ok(standby) = read_standby(cluster).await else {
        return;
    };
    let Some(holder) = standby.of_user(&me.username) else {
        return;
    };
    let minted = mint(cluster, me, holder, &account, standby.lifetime)
        .await
        .and_then(|e| cache::store(store.as_ref(), &e).map(|()| e));
    match minted {
        Ok(e) => say!(
            "Standby credential renewed: usable without the identity provider until {}.",
            e.expires_at.to_rfc3339()
        ),
        Err(e) => say!(
            "warning: your standby credential was not renewed ({}); run: kubectl breakglass \
             standby renew",
            Untrusted(&format!("{e:#}"))
        ),
    }
}

/// After `login`: renews the standby credential for the context's cluster, if the context
/// is the person's own (an admin context's credentials are never used for it). Best effort.
pub async fn after_login(global: &Global) {
    let Ok(loaded) = crate::kubeconfig::load(global) else {
        return;
    };
    match loaded.context(global.context.as_deref()) {
        Ok(ctx) if ctx.idp.is_some() => {}
        _ => return,
    }
    let Ok(cluster) = crate::grant::cluster::connect(global, false).await else {
        return;
    };
    let Ok(me) = cluster.whoami().await else {
        return;
    };
    renew_quietly(global, &cluster, &me).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::cluster::memory::MemoryCluster;
    use crate::grant::model::standby::USER_PREFIX;
    use crate::token_cache::MemoryStore;

    const ALICE: &str = "alice@example.com";

    #[tokio::test]
    async fn renewal_mints_for_the_provisioned_person_once_then_keeps_it() {
        let cluster = MemoryCluster::new();
        let store = MemoryStore::default();
        let not = renew(&cluster, &cluster.me, &store, ALICE, false).await;
        assert!(matches!(
            not.unwrap(),
            Renewal::NotProvisioned { enabled: false }
        ));
        if let Some(policy) = cluster.state.borrow_mut().policy.as_mut() {
            policy.insert("standby.standby-alice.user".into(), ALICE.into());
            policy.insert("standby.lifetime".into(), "12h".into());
        }
        let Renewal::Minted(minted) = renew(&cluster, &cluster.me, &store, ALICE, false)
            .await
            .unwrap()
        else {
            panic!("a provisioned person's first renewal mints");
        };
        assert_eq!(minted.service_account, "standby-alice");
        let lifetime = minted.expires_at - minted.issued_at;
        assert!((lifetime - chrono::Duration::hours(12)).num_seconds().abs() < 5);
        let claims = jwt::claims(minted.token.expose()).unwrap();
        assert_eq!(claims.sub, format!("{USER_PREFIX}standby-alice"));
        // Cached: the next renewal keeps it, without a TokenRequest.
        let kept = renew(&cluster, &cluster.me, &store, ALICE, false).await;
        assert!(matches!(kept.unwrap(), Renewal::Kept(e) if e.jti == minted.jti));
        let calls = cluster.state.borrow().calls.clone();
        let mints = calls.iter().filter(|c| **c == "request_standby_token");
        assert_eq!(mints.count(), 1);
        // Someone else's login finds the feature on, but nothing for them.
        let mut bob = cluster.me.clone();
        bob.username = "bob@example.com".into();
        let theirs = renew(&cluster, &bob, &store, "bob@example.com", false).await;
        assert!(matches!(
            theirs.unwrap(),
            Renewal::NotProvisioned { enabled: true }
        ));
    }
}
