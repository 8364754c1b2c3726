//! The values completion offers, each read from where it lives. Every failure (no
//! kubeconfig, not logged in, cluster slow or unreachable, policy missing) offers nothing.

use super::{cluster, line};
use crate::grant::model::{duration, policy};
use crate::grant::status;
use crate::untrusted::{is_unsafe, Untrusted};
use clap_complete::engine::CompletionCandidate;

/// `--context`: the contexts of the kubeconfig (`--kubeconfig`, `KUBECONFIG`, the default).
pub fn contexts() -> Vec<CompletionCandidate> {
    let global = line::globals().plain();
    let Ok(loaded) = crate::kubeconfig::load(&global) else {
        return Vec::new();
    };
    loaded
        .config()
        .contexts
        .iter()
        .filter(|c| is_word(&c.name))
        .map(|c| {
            let cluster = c.context.as_ref().map(|x| x.cluster.as_str());
            CompletionCandidate::new(&c.name)
                .help(cluster.map(|name| format!("cluster {}", Untrusted(name)).into()))
        })
        .collect()
}

/// `--role`: the roles the cluster's break-glass policy offers.
pub fn roles() -> Vec<CompletionCandidate> {
    let Some(policy) = cluster::on_cluster(&line::globals().plain(), async |c| {
        crate::grant::cluster::policy::read_policy(c).await
    }) else {
        return Vec::new();
    };
    policy
        .roles
        .iter()
        .filter(|r| is_word(&r.name))
        .map(|r| CompletionCandidate::new(&r.name).help(Some(role_help(&policy, r).into())))
        .collect()
}

/// Grant names (`revoke GRANT`): the live grants the cluster lets this person see.
pub fn live_grants() -> Vec<CompletionCandidate> {
    let now = chrono::Utc::now();
    // Only the records that may be live, by their live-until label: never the history.
    let Some(records) = cluster::on_cluster(&line::globals().plain(), async |c| {
        let recent = crate::grant::protocol::RECENT;
        Ok(crate::grant::cluster::records::list_recent_records(c, now, recent).await?)
    }) else {
        return Vec::new();
    };
    status::live(&records, "", true, now)
        .into_iter()
        .filter(|row| is_word(&row.grant.name))
        .map(|row| {
            let help = format!(
                "{} for {}, {} min left",
                Untrusted(&row.grant.role),
                Untrusted(&row.grant.requester),
                row.seconds_left / 60
            );
            CompletionCandidate::new(row.grant.name).help(Some(help.into()))
        })
        .collect()
}

fn role_help(policy: &policy::Policy, role: &policy::RolePolicy) -> String {
    let max = duration::human(role.max_duration);
    let default = if policy.default_role == role.name {
        ", the default"
    } else {
        ""
    };
    let text = if role.description.is_empty() {
        format!("up to {max}{default}")
    } else {
        format!("{} (up to {max}{default})", role.description)
    };
    Untrusted(&text).to_string()
}

/// A value that can stand on a command line as one word (cluster objects are written by
/// the people being audited: a name with spaces or control characters is not offered).
fn is_word(value: &str) -> bool {
    !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || is_unsafe(c))
}
