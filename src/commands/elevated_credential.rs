//! The elevated exec credential: the hot path kubectl runs before every command on a
//! `<context>-breakglass` context. Cache read, expiry check, print; no network, no runtime.
//! Only a miss with a person at the terminal (`spec.interactive`) offers to break the glass.

use crate::cli::CredentialArgs;
use crate::exec_credential;
use crate::global::Global;
use crate::grant::cluster_ca;
use crate::grant::elevated_cache::{self, Entry, Miss};
use crate::grant::model::duration;
use crate::grant::{cluster, request};
use crate::untrusted::Untrusted;
use std::io::BufRead;
use std::time::Duration;

/// Tokens this close to expiry are not served: kubectl would use them past their end.
const MARGIN: chrono::Duration = chrono::Duration::seconds(2);

/// How often the offer asks again for a duration it cannot use.
const DURATION_ATTEMPTS: usize = 3;

/// What the context's exec entry names: whose grant, of which role, on which cluster.
struct Target<'a> {
    server: &'a str,
    role: &'a str,
    account: &'a str,
    context: &'a str,
}

/// Serves the cached break-glass token for the context, or fails fast saying what to run.
pub fn run(global: &Global, args: &CredentialArgs) -> anyhow::Result<()> {
    let info = exec_credential::read_exec_info()?;
    let target = match (
        args.server.as_deref(),
        args.role.as_deref(),
        args.account.as_deref(),
        args.origin_context.as_deref(),
    ) {
        (Some(server), Some(role), Some(account), Some(context)) => Target {
            server,
            role,
            account,
            context,
        },
        _ => anyhow::bail!(
            "--elevated needs --server, --role, --account and --origin-context; \
             re-create the context with: kubectl breakglass request --reason \"...\""
        ),
    };
    let store = crate::token_cache::open(global.token_cache)?;
    let now = chrono::Utc::now() + MARGIN;
    // The cluster's CA as kubectl names it now (`provideClusterInfo: true`, which `request`
    // writes): a cluster recreated at the same URL has another, and is not served the token.
    let presented = info
        .cluster
        .as_ref()
        .map(|c| cluster_ca::of_exec_info(c.certificate_authority_data.as_deref()));
    let loaded = elevated_cache::load_for_cluster(
        store.as_ref(),
        target.server,
        target.role,
        target.account,
        presented.as_deref(),
        now,
    )?;
    let entry = match loaded {
        Ok(entry) => entry,
        Err(miss) => {
            let why = match miss {
                Miss::Absent => String::new(),
                Miss::Unreadable => " (the cached entry is unreadable)".to_string(),
                Miss::Foreign => " (the cached entry belongs to another grant)".to_string(),
                Miss::Expired(at) => format!(
                    " (the last one expired at {})",
                    crate::grant::model::record::timestamp(at)
                ),
                Miss::OtherCluster => format!(
                    " (the cached token was issued by an earlier cluster at {}: the kubeconfig \
                     names another CA for it now; if the cluster only changed its CA and the \
                     grant is still live, revoke it first: kubectl breakglass revoke --context {})",
                    target.server, target.context
                ),
            };
            let context = target.context;
            let fail_fast = anyhow::anyhow!(
                "no active break-glass grant for {context} — run: kubectl breakglass request --context {context} --reason \"...\"{why}"
            );
            if !info.interactive {
                return Err(fail_fast);
            }
            // The new grant's token is served from what the request returns, not read back
            // from the cache: a cache opened before the request may not see what the request
            // wrote (the keyring remembers where items live, read once per process).
            match offer(global, &target)? {
                None => return Err(fail_fast),
                Some(entry) => entry,
            }
        }
    };
    exec_credential::write(&info, &elevated_cache::token(&entry), entry.expires_at)?;
    Ok(())
}

/// Asks the person at the terminal for a reason, a ticket and a duration, and breaks the
/// glass for the context's role; `None` when they decline. Nothing is created for someone
/// other than the context's person or for another cluster than the one it was written for.
fn offer(global: &Global, target: &Target) -> anyhow::Result<Option<Entry>> {
    let Target {
        role,
        context,
        account,
        ..
    } = *target;
    say!("kubectl-breakglass: no active break-glass grant for {context} (role {role}).");
    let reason = ask(&format!(
        "Break the glass now as {role}? Why (recorded in the cluster; Enter to cancel): "
    ))?;
    if reason.is_empty() {
        return Ok(None);
    }
    let ticket = ask("Ticket or incident id (Enter for none): ")?;
    let global = Global {
        context: Some(context.to_string()),
        ..global.clone()
    };
    let runtime = crate::runtime::current_thread()?;
    let (username, server, policy) = runtime.block_on(async {
        let cluster = cluster::connect_shared(&global, false).await?;
        let me = cluster.whoami().await?;
        let policy = crate::grant::cluster::policy::read_policy(&cluster).await?;
        anyhow::Ok((me.username, cluster.server().to_string(), policy))
    })?;
    if username != account {
        anyhow::bail!(
            "context {context}-breakglass serves {}, but you are logged in as {}; nothing was \
             created. Log in as {} (kubectl breakglass login --context {context}), or break the \
             glass as yourself: kubectl breakglass request --context {context} --reason \"...\"",
            Untrusted(account),
            Untrusted(&username),
            Untrusted(account)
        );
    }
    if server != target.server {
        anyhow::bail!(
            "context {context} now points at {server}, but its break-glass context was written \
             for {}; nothing was created. Re-create it with: kubectl breakglass request \
             --context {context} --reason \"...\"",
            target.server
        );
    }
    // Unknown or broken roles are refused by the request itself, with the policy's words.
    let (default, max) = match policy.role(role) {
        Some(r) => (policy.offer_default(r), r.max_duration),
        None => (policy.min_duration, policy.min_duration),
    };
    let Some(duration) = ask_duration(default, policy.min_duration, max)? else {
        return Ok(None);
    };
    let input = request::Input {
        reason: Some(reason),
        ticket: (!ticket.is_empty()).then_some(ticket),
        role: Some(role.to_string()),
        duration: Some(duration::human(duration)),
        // kubectl is using this context already: it serves exactly this role and person.
        no_kubeconfig: true,
        // A live grant of another role is no reason to refuse this one.
        additional: true,
        standby: false,
    };
    let requested = request::check(&input)?;
    let made = runtime.block_on(async {
        let mut signals = crate::interrupt::Signals::listen()?;
        request::request(&global, &input, requested, &mut signals).await
    })?;
    let name = made.granted.record.name().to_string();
    say!(
        "Break-glass grant {}: {} acts as {} on {} for {}, until {}; recorded in the cluster. \
         Revoke: kubectl breakglass revoke {} --context {}",
        Untrusted(&name),
        Untrusted(&made.me.username),
        Untrusted(&made.allowed.role.name),
        made.cluster.server(),
        duration::human(made.allowed.duration),
        request::elevated_cache_time(&made.granted.expires_at),
        Untrusted(&name),
        made.cluster.context()
    );
    Ok(Some(
        made.granted.cache_entry(&made.cluster, &made.me.username),
    ))
}

/// Asks how long, proposing `default`; asks again (a few times) for an answer that is not a
/// duration or is outside `min..=max`. `None` when no usable answer came.
fn ask_duration(
    default: Duration,
    min: Duration,
    max: Duration,
) -> anyhow::Result<Option<Duration>> {
    for _ in 0..DURATION_ATTEMPTS {
        let answer = ask(&format!(
            "For how long? (Enter for {}; from {} to {}, e.g. 15m or 1h): ",
            duration::human(default),
            duration::human(min),
            duration::human(max)
        ))?;
        if answer.is_empty() {
            return Ok(Some(default));
        }
        match duration::parse(&answer) {
            Ok(d) if (min..=max).contains(&d) => return Ok(Some(d)),
            Ok(_) => say!(
                "  {} is not between {} and {}.",
                Untrusted(&answer),
                duration::human(min),
                duration::human(max)
            ),
            Err(e) => say!("  {}: {e}; use {}", Untrusted(&answer), duration::FORMS),
        }
    }
    say!("  No usable duration; nothing was created.");
    Ok(None)
}

/// One line from the person at the terminal, trimmed; a prompt on stderr first.
fn ask(prompt: &str) -> anyhow::Result<String> {
    say_partial!("{prompt}");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}
