//! The `request` use case: check the policy, run the grant protocol, cache the token and
//! write the `<context>-breakglass` context. A signal before all of that is done takes the
//! grant back (`interrupt`).

use super::model::duration;
use super::{elevated_cache, protocol};
use crate::global::Global;
use crate::grant::cluster::policy::{read_policy, read_standby};
use crate::grant::cluster::standby::Via;
use crate::grant::cluster::{self, Cluster};
use crate::grant::model::policy::{self, Allowed, Ask, Policy};
use crate::interrupt::Signals;
use crate::kubeconfig::write::{write_elevated_context, ElevatedContext};
use crate::untrusted::Untrusted;

/// What the person asks for, as plain values.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// Why (recorded in the cluster).
    pub reason: Option<String>,
    /// Incident or ticket id.
    pub ticket: Option<String>,
    /// The role (default: the policy's default role).
    pub role: Option<String>,
    /// How long, as typed (e.g. `30m`).
    pub duration: Option<String>,
    /// Do not write the `<context>-breakglass` kubeconfig context.
    pub no_kubeconfig: bool,
    /// Allow a second live grant of another role.
    pub additional: bool,
    /// Break the glass with the standby credential (`--standby`); without it, the standby
    /// credential is used only when the identity provider cannot be reached (issue 13).
    pub standby: bool,
}

/// What can be checked before any network: reason and ticket text, the duration's form.
pub fn check(args: &Input) -> anyhow::Result<Option<std::time::Duration>> {
    policy::check_text(args.reason.as_deref(), args.ticket.as_deref())?;
    let requested = args
        .duration
        .as_deref()
        .map(|d| duration::parse_flag("--duration", d))
        .transpose()?;
    policy::check_reason(args.reason.as_deref(), None)?;
    Ok(requested)
}

/// A grant made whole: recorded, issued, cached and (unless `--no-kubeconfig`) wired into
/// the kubeconfig. From here on an interrupt changes nothing.
pub struct Made {
    pub cluster: cluster::Shared,
    pub me: cluster::Whoami,
    pub allowed: Allowed,
    pub granted: protocol::Granted,
    pub elevated_context: String,
}

/// Breaks the glass as `args` say (checked first with [`check`]), undoing what was made
/// when one of `signals` comes before the grant is whole (the caller listens from before
/// the start).
pub async fn request(
    global: &Global,
    args: &Input,
    requested: Option<std::time::Duration>,
    signals: &mut Signals,
) -> anyhow::Result<Made> {
    let progress = protocol::Progress::default();
    match signals.race(make(global, args, requested, &progress)).await {
        Ok(made) => made,
        Err(signal) => Err(
            crate::grant::undo::undo_interrupted(signals, signal, &progress)
                .await
                .into(),
        ),
    }
}

async fn make(
    global: &Global,
    args: &Input,
    requested: Option<std::time::Duration>,
    progress: &protocol::Progress,
) -> anyhow::Result<Made> {
    // Standby hook (issue 13): as the person, or as their standby credential when the
    // identity provider cannot be reached (or --standby).
    let cluster = cluster::standby::connect_via(global, Via::of_flag(args.standby)).await?;
    let me = cluster.whoami().await?;
    let policy = read_policy(&cluster).await?;
    let ask = Ask {
        reason: args.reason.as_deref(),
        ticket: args.ticket.as_deref(),
        role: args.role.as_deref(),
        duration: requested,
    };
    let allowed = allowed_for(&cluster, &policy, &ask, &me).await?;
    for w in policy.warnings() {
        say!("warning: {}", Untrusted(&w));
    }
    let beside = if args.additional {
        protocol::Beside::OtherRoles
    } else {
        protocol::Beside::Nothing
    };
    let granted = match protocol::request(&cluster, &me, &allowed, beside, progress).await {
        Ok(granted) => granted,
        Err(mut e) => {
            if let Some(live) = e.downcast_mut::<protocol::AlreadyLive>() {
                name_serving_context(global, cluster.server(), &me.username, live);
            }
            return Err(e);
        }
    };
    for w in &granted.warnings {
        say!("warning: {}", Untrusted(w));
    }

    let mut entry = granted.cache_entry(&cluster, &me.username);
    entry.cluster_ca = cluster_ca(global, cluster.context());
    let cached = crate::token_cache::open(global.token_cache)
        .map_err(anyhow::Error::from)
        .and_then(|store| elevated_cache::store(store.as_ref(), &entry));
    if let Err(e) = cached {
        let cleanup = granted
            .undo
            .run(&format!("caching the token failed: {e}"))
            .await;
        anyhow::bail!(
            "the grant was issued but its token could not be cached ({e}), so it was taken back. \
             Cleaned up: {cleanup}"
        );
    }

    // An additional grant gets a context of its own: re-pointing `<context>-breakglass`
    // would take the first grant's context away while it is still live.
    let elevated_context = if args.additional {
        format!("{}-breakglass-{}", cluster.context(), allowed.role.name)
    } else {
        format!("{}-breakglass", cluster.context())
    };
    if !args.no_kubeconfig {
        if let Err(e) = write_context(global, &cluster, &entry, &elevated_context) {
            // The cache goes first: nothing awaits while a token of a dying grant is cached.
            if let Ok(store) = crate::token_cache::open(global.token_cache) {
                let _ = store.delete(&entry.key());
            }
            let cleanup = granted
                .undo
                .run(&format!("writing the kubeconfig failed: {e}"))
                .await;
            anyhow::bail!(
                "the grant was issued but the kubeconfig context {elevated_context} could not be \
                 written ({e:#}), so it was taken back; retry with --no-kubeconfig to skip it. \
                 Cleaned up: {cleanup}"
            );
        }
    }
    Ok(Made {
        cluster,
        me,
        allowed,
        granted,
        elevated_context,
    })
}

/// The policy check for `me`. Standby hook (issue 13): through a standby credential, by the
/// roles the policy's standby keys give it instead of the person's groups.
pub async fn allowed_for(
    cluster: &dyn Cluster,
    policy: &Policy,
    ask: &Ask<'_>,
    me: &cluster::Whoami,
) -> anyhow::Result<Allowed> {
    Ok(match me.standby.as_deref() {
        None => policy.check(ask, &me.username, &me.groups)?,
        Some(account) => read_standby(cluster)
            .await?
            .check(policy, ask, &me.username, account)?,
    })
}

/// The fingerprint of the CA the kubeconfig names for `context`'s cluster, which the
/// `<context>-breakglass` context shares: kubectl presents the same to `credential`, so a
/// cluster recreated at the same URL is not served this grant's token. The kubeconfig was
/// read to connect a moment ago; should it fail now, the entry is left unbound (served as
/// entries written before the binding are).
fn cluster_ca(global: &Global, context: &str) -> Option<String> {
    let loaded = crate::kubeconfig::load(global).ok()?;
    let ctx = loaded.context(Some(context)).ok()?;
    Some(super::cluster_ca::fingerprint(&ctx.certificate_authority))
}

/// Names the context this kubeconfig serves the live grant through (an `--additional` one
/// has a context of its own); best effort: the cluster's default name stays otherwise.
fn name_serving_context(
    global: &Global,
    server: &str,
    account: &str,
    live: &mut protocol::AlreadyLive,
) {
    let (Ok(loaded), Ok(store)) = (
        crate::kubeconfig::load(global),
        crate::token_cache::open(global.token_cache),
    ) else {
        return;
    };
    if let Some(context) = elevated_cache::serving_context(
        loaded.config(),
        store.as_ref(),
        chrono::Utc::now(),
        &live.grant,
        server,
        account,
        &live.origin_context,
    ) {
        live.elevated_context = context;
    }
}

pub fn elevated_cache_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    crate::grant::model::record::timestamp(*t)
}

fn write_context(
    global: &Global,
    cluster: &dyn Cluster,
    entry: &elevated_cache::Entry,
    name: &str,
) -> anyhow::Result<()> {
    let loaded = crate::kubeconfig::load(global)?;
    let origin = loaded.context(Some(cluster.context()))?;
    let mut args = vec![
        "--elevated".to_string(),
        "--server".to_string(),
        entry.server.clone(),
        "--role".to_string(),
        entry.role.clone(),
        "--account".to_string(),
        entry.account.clone(),
        "--origin-context".to_string(),
        cluster.context().to_string(),
    ];
    args.extend(global.token_cache.exec_args());
    // By name when PATH leads here (krew's store path dies on upgrade), as `setup` writes it.
    let fallback_command = crate::kubeconfig::exec_command::exec_command();
    write_elevated_context(
        loaded.paths(),
        &ElevatedContext {
            name: name.to_string(),
            origin_context: cluster.context().to_string(),
            cluster_name: origin.cluster_name,
            args,
            fallback_command,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::cluster::memory::MemoryCluster;
    use crate::grant::cluster::Shared;
    use crate::grant::model::policy::Refused;
    use crate::grant::model::standby::{self, USER_PREFIX};
    use crate::grant::protocol::{Beside, Progress};
    use std::rc::Rc;

    /// alice through her standby credential `standby-alice`, which the policy gives her for
    /// `roles`; the cluster sees a ServiceAccount, in no group of the person's.
    fn through_standby(user: &str, roles: &str) -> Rc<MemoryCluster> {
        let mut cluster = MemoryCluster::new();
        cluster.me.groups = vec!["system:serviceaccounts".to_string()];
        cluster.me.standby = Some(format!("{USER_PREFIX}standby-alice"));
        let mut state = cluster.state.borrow_mut();
        let policy = state.policy.get_or_insert_with(Default::default);
        policy.insert("standby.standby-alice.user".into(), user.into());
        policy.insert("standby.standby-alice.roles".into(), roles.into());
        drop(state);
        Rc::new(cluster)
    }

    async fn ask(cluster: &Rc<MemoryCluster>, role: &str) -> anyhow::Result<Allowed> {
        let policy = read_policy(cluster.as_ref()).await?;
        let ask = Ask {
            reason: Some("SSO is down and checkout is failing"),
            ticket: None,
            role: Some(role),
            duration: None,
        };
        allowed_for(cluster.as_ref(), &policy, &ask, &cluster.me).await
    }

    async fn grant(cluster: &Rc<MemoryCluster>, allowed: &Allowed) -> protocol::Granted {
        let shared: Shared = cluster.clone();
        let progress = Progress::default();
        let granted = protocol::request(&shared, &cluster.me, allowed, Beside::Nothing, &progress);
        granted.await.unwrap()
    }

    fn refused(err: anyhow::Error) -> Refused {
        err.downcast::<Refused>().expect("a policy refusal")
    }

    #[tokio::test]
    async fn a_standby_credential_breaks_glass_only_into_its_roles_and_its_record_says_so() {
        let cluster = through_standby("alice@example.com", "incident-debug");
        let err = ask(&cluster, "cluster-admin").await.unwrap_err();
        assert!(
            matches!(refused(err), Refused::StandbyRole { ref role, .. } if role == "cluster-admin")
        );
        // Its roles stand in for the groups the ServiceAccount does not have.
        let allowed = ask(&cluster, "incident-debug").await.unwrap();
        let granted = grant(&cluster, &allowed).await;
        assert_eq!(standby::of_record(&granted.record), Some("standby-alice"));
        assert_eq!(granted.record.spec.requester, "alice@example.com");
    }

    #[tokio::test]
    async fn a_standby_credential_the_policy_gives_someone_else_is_refused_before_anything_is_made()
    {
        let cluster = through_standby("mallory@example.com", "incident-debug");
        let err = ask(&cluster, "incident-debug").await.unwrap_err();
        assert!(matches!(
            refused(err),
            Refused::StandbyNotFor { ref username, .. } if username == "alice@example.com"
        ));
        let state = cluster.state.borrow();
        assert!(state.records.is_empty() && state.seals.is_empty());
        assert!(!state.calls.contains(&"create_record"));
    }

    #[tokio::test]
    async fn the_persons_own_login_is_checked_by_their_groups_and_leaves_no_mark() {
        let cluster = Rc::new(MemoryCluster::new());
        let allowed = ask(&cluster, "cluster-admin").await.unwrap();
        let granted = grant(&cluster, &allowed).await;
        assert_eq!(standby::of_record(&granted.record), None);
    }
}
