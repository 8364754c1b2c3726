//! The `request` use case: check the policy, run the grant protocol, cache the token and
//! write the `<context>-breakglass` context. A signal before all of that is done takes the
//! grant back (`interrupt`).

use super::cluster::{self, Cluster};
use super::interrupt::{self, Signals};
use super::policy::{Allowed, Ask, Policy, POLICY_MANIFEST, POLICY_NAME};
use super::view::GrantView;
use super::{duration, elevated_cache, output, protocol, NAMESPACE};
use crate::cli::{GlobalArgs, RequestArgs, TokenCacheKind};
use crate::kubeconfig::write::{write_elevated_context, ElevatedContext};
use crate::untrusted::Untrusted;
use clap::ValueEnum;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

/// Breaks the glass as `args` say.
pub fn run(global: &GlobalArgs, args: &RequestArgs) -> anyhow::Result<()> {
    let requested = checked(args)?;
    let made = output::runtime()?.block_on(request(global, args, requested))?;
    report(args, made)
}

/// The same request for the elevated credential's interactive offer, which serves the new
/// token itself: says in one line what was granted and returns the cache entry to serve.
pub fn for_offer(global: &GlobalArgs, args: &RequestArgs) -> anyhow::Result<elevated_cache::Entry> {
    let requested = checked(args)?;
    let made = output::runtime()?.block_on(request(global, args, requested))?;
    let name = made.granted.record.name().to_string();
    say!(
        "Break-glass grant {}: {} acts as {} on {} for {}, until {}; recorded in the cluster. \
         Revoke: kubectl breakglass revoke {} --context {}",
        Untrusted(&name),
        Untrusted(&made.me.username),
        Untrusted(&made.allowed.role.name),
        made.cluster.server,
        duration::human(made.allowed.duration),
        elevated_cache_time(&made.granted.expires_at),
        Untrusted(&name),
        made.cluster.context
    );
    Ok(made.granted.cache_entry(&made.cluster, &made.me.username))
}

/// What can be checked before any network: reason and ticket text, the duration's form.
fn checked(args: &RequestArgs) -> anyhow::Result<Option<std::time::Duration>> {
    super::policy::check_text(args.reason.as_deref(), args.ticket.as_deref())?;
    let requested = args
        .duration
        .as_deref()
        .map(|d| duration::parse_flag("--duration", d))
        .transpose()?;
    if args
        .reason
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .is_empty()
    {
        anyhow::bail!(
            "a reason is required: add --reason \"what is broken and why you need access\" \
             (it is recorded in the cluster)"
        );
    }
    Ok(requested)
}

/// A grant made whole: recorded, issued, cached and (unless `--no-kubeconfig`) wired into
/// the kubeconfig. From here on an interrupt changes nothing.
struct Made {
    cluster: Cluster,
    me: cluster::Whoami,
    allowed: Allowed,
    granted: protocol::Granted,
    elevated_context: String,
}

async fn request(
    global: &GlobalArgs,
    args: &RequestArgs,
    requested: Option<std::time::Duration>,
) -> anyhow::Result<Made> {
    // Listening from the start: a signal before the grant is whole undoes what was made.
    let mut signals = Signals::listen()?;
    let progress = protocol::Progress::default();
    match signals.race(make(global, args, requested, &progress)).await {
        Ok(made) => made,
        Err(signal) => Err(interrupt::undo_request(&mut signals, signal, &progress)
            .await
            .into()),
    }
}

async fn make(
    global: &GlobalArgs,
    args: &RequestArgs,
    requested: Option<std::time::Duration>,
    progress: &protocol::Progress,
) -> anyhow::Result<Made> {
    // Standby hook (issue 13): as the person, or as their standby credential when the
    // identity provider cannot be reached (or --standby); renews the standby on the way.
    let path = crate::standby::connect::Path::of_flag(args.standby);
    let (cluster, me) = crate::standby::connect::connect(global, path, true).await?;
    let policy = read_policy(&cluster).await?;
    let ask = Ask {
        reason: args.reason.as_deref(),
        ticket: args.ticket.as_deref(),
        role: args.role.as_deref(),
        duration: requested,
    };
    // Standby hook (issue 13): a standby credential's roles instead of the person's groups.
    let allowed = crate::standby::connect::check(&cluster, &policy, &ask, &me).await?;
    for w in policy.warnings() {
        say!("warning: {}", Untrusted(&w));
    }
    let beside = if args.additional {
        protocol::Beside::OtherRoles
    } else {
        protocol::Beside::Nothing
    };
    let granted = protocol::request(&cluster, &me, &allowed, beside, progress).await?;
    for w in &granted.warnings {
        say!("warning: {}", Untrusted(w));
    }

    let entry = granted.cache_entry(&cluster, &me.username);
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
        format!("{}-breakglass-{}", cluster.context, allowed.role.name)
    } else {
        format!("{}-breakglass", cluster.context)
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

/// Tells the person what they now hold (stderr), and prints the grant for `-o`.
fn report(args: &RequestArgs, made: Made) -> anyhow::Result<()> {
    let Made {
        cluster,
        me,
        allowed,
        granted,
        elevated_context,
    } = made;
    let name = granted.record.name().to_string();
    let left = duration::human(allowed.duration);
    say!(
        "Break-glass grant {name}: {} acts as {} (ServiceAccount {NAMESPACE}/{}) on {} for {left}, until {}.",
        Untrusted(&me.username),
        Untrusted(&allowed.role.name),
        Untrusted(&allowed.role.name),
        cluster.server,
        elevated_cache_time(&granted.expires_at)
    );
    say!(
        "Recorded in the cluster (kubectl get breakglassgrants -n {NAMESPACE} {name}); token id (jti) {}.",
        Untrusted(&granted.claims.jti)
    );
    if args.no_kubeconfig {
        say!(
            "No kubeconfig context written (--no-kubeconfig): the token is cached for an exec \
             credential entry. To use it, re-run without --no-kubeconfig, or add a user like \
             plugin-manifest/kubeconfig-breakglass.yaml with --server {} --role {} --account {} \
             --origin-context {}.",
            cluster.server,
            Untrusted(&allowed.role.name),
            Untrusted(&me.username),
            cluster.context
        );
    } else {
        say!(
            "Use it:    kubectl --context {elevated_context} auth whoami   (any kubectl command \
             with --context {elevated_context})"
        );
    }
    say!(
        "Status:    kubectl breakglass status --context {}",
        cluster.context
    );
    say!(
        "Revoke:    kubectl breakglass revoke {name} --context {}",
        cluster.context
    );
    if let Some(format) = args.output {
        output::print(
            format,
            &Requested {
                grant: GrantView::of(&granted.record, chrono::Utc::now()),
                service_account: &granted.claims.sub,
                context: (!args.no_kubeconfig).then_some(elevated_context.as_str()),
            },
        )?;
    }
    Ok(())
}

/// `request -o json|yaml`: the common grant shape, the token's subject and the context
/// written for it. Never the token.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Requested<'a> {
    #[serde(flatten)]
    grant: GrantView,
    service_account: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a str>,
}

fn elevated_cache_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    super::record::timestamp(*t)
}

/// The cluster's break-glass policy, or a message naming the manifest to apply.
pub async fn read_policy(cluster: &Cluster) -> anyhow::Result<Policy> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let cm = match api.get_opt(POLICY_NAME).await {
        Ok(Some(cm)) => cm,
        Ok(None) => anyhow::bail!(
            "the cluster has no break-glass policy (ConfigMap {NAMESPACE}/{POLICY_NAME}); \
             an admin must install it: kubectl apply -f deploy/ (the policy is {POLICY_MANIFEST})"
        ),
        Err(e) => {
            return Err(cluster::explain(
                e,
                &cluster.server,
                &cluster.context,
                "reading the break-glass policy",
            ))
        }
    };
    Policy::from_data(&cm.data.unwrap_or_default())
}

fn write_context(
    global: &GlobalArgs,
    cluster: &Cluster,
    entry: &elevated_cache::Entry,
    name: &str,
) -> anyhow::Result<()> {
    let loaded = crate::kubeconfig::load(global)?;
    let origin = loaded.context(Some(&cluster.context))?;
    let mut args = vec![
        "--elevated".to_string(),
        "--server".to_string(),
        entry.server.clone(),
        "--role".to_string(),
        entry.role.clone(),
        "--account".to_string(),
        entry.account.clone(),
        "--origin-context".to_string(),
        cluster.context.clone(),
    ];
    if global.token_cache != TokenCacheKind::Keyring {
        if let Some(v) = global.token_cache.to_possible_value() {
            args.push("--token-cache".to_string());
            args.push(v.get_name().to_string());
        }
    }
    let fallback_command = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "kubectl-breakglass".to_string());
    write_elevated_context(
        loaded.paths(),
        &ElevatedContext {
            name: name.to_string(),
            origin_context: cluster.context.clone(),
            cluster_name: origin.cluster_name,
            args,
            fallback_command,
        },
    )?;
    Ok(())
}
