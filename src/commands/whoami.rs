//! `kubectl breakglass whoami`: who the cached login says you are, read from the token
//! cache alone (no network); `--check` asks the cluster too (SelfSubjectReview), shows
//! both side by side and names every difference.

use crate::cli::WhoamiArgs;
use crate::global::Global;
use crate::grant::cluster::{self, ClusterError};
use crate::identity::cluster_check::Mismatch;
use crate::identity::entry::Entry;
use crate::identity::token_notes::TokenNote;
use crate::identity::{self, IdentityError, IdpSettings};
use crate::oidc::PersonClaims;
use crate::output::print;
use crate::untrusted::Untrusted;
use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

/// What the cluster said.
struct ClusterView {
    server: String,
    context: String,
    username: String,
    groups: Vec<String>,
}

/// Runs `whoami`.
pub fn run(global: &Global, args: WhoamiArgs) -> anyhow::Result<()> {
    let settings = identity::idp_settings(global, &args.idp.plain())?;
    let store = crate::token_cache::open(global.token_cache)?;
    let context_name = global.context.clone().unwrap_or_default();
    // Asked first, so that a login the check refreshes is the one shown.
    let cluster = if args.check {
        Some(ask_cluster(global, &settings, store.as_ref())?)
    } else {
        None
    };
    let entry = identity::cached(&settings, store.as_ref(), &context_name)?.ok_or_else(|| {
        IdentityError::NotLoggedIn {
            issuer: settings.issuer.clone(),
            why: format!(
                "nothing cached in {}",
                crate::token_cache::describe(store.as_ref())
            ),
            hint: identity::login_hint(&settings, &context_name),
        }
    })?;
    let names = settings.registration().claims;
    let person = PersonClaims::of_cached(entry.id_token.expose(), &names).unwrap_or_default();
    let notes = TokenNote::of(
        &person,
        &names,
        entry.refresh_token.is_some(),
        entry.clock_skew,
    );
    let mismatches = cluster
        .as_ref()
        .map(|c| Mismatch::find(&person, &names, &c.username, &c.groups))
        .unwrap_or_default();
    let cache = crate::token_cache::describe(store.as_ref());
    let now = Utc::now();

    say_partial!(
        "{}",
        human(&settings, &entry, &person, &cache, cluster.as_ref(), now)
    );
    for note in &notes {
        say!("{}: {note}", note.label());
    }
    for m in &mismatches {
        let label = if m.is_problem() { "mismatch" } else { "note" };
        say!("{label}: {}", shown(&m.to_string()));
    }
    if let Some(format) = args.output {
        let report = json!({
            "issuer": settings.issuer,
            "clientId": settings.client_id,
            "account": entry.account,
            "usernameClaim": names.username,
            "username": person.username,
            "groupsClaim": names.groups,
            "groups": person.groups,
            "groupsClaimPresent": person.has_groups_claim,
            "groupsOverage": person.groups_overage,
            "idTokenExpires": time(entry.expires()),
            "idTokenUsedUntil": time(entry.refresh_at()),
            "refreshToken": entry.refresh_token.is_some(),
            "clockSkewSeconds": entry.clock_skew,
            "cache": cache,
            "notes": notes.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "cluster": cluster.as_ref().map(|c| json!({
                "server": c.server,
                "context": c.context,
                "username": c.username,
                "groups": c.groups,
            })),
            "mismatches": mismatches.iter().map(|m| json!({
                "message": m.to_string(),
                "problem": m.is_problem(),
            })).collect::<Vec<_>>(),
        });
        print(format.into(), &report)?;
    }
    let problems = mismatches.iter().filter(|m| m.is_problem()).count();
    if problems > 0 {
        let context = cluster.map(|c| c.context).unwrap_or_default();
        anyhow::bail!(
            "the cluster does not see you as your ID token says ({problems} mismatch{} above), so \
             break-glass requests and RBAC by group will not work as expected; fix {}, then run: \
             kubectl breakglass whoami --check --context {context}",
            if problems == 1 { "" } else { "es" },
            if problems == 1 { "it" } else { "them" },
        );
    }
    Ok(())
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `in 4m 10s` or `3m ago`.
fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let d =
        crate::grant::model::duration::human(std::time::Duration::from_secs(secs.unsigned_abs()));
    if secs >= 0 {
        format!("in {d}")
    } else {
        format!("{d} ago")
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        shown(&items.join(", "))
    }
}

/// The report people read, on stderr.
fn human(
    settings: &IdpSettings,
    entry: &Entry,
    person: &PersonClaims,
    cache: &str,
    cluster: Option<&ClusterView>,
    now: DateTime<Utc>,
) -> String {
    let names = settings.registration().claims;
    let groups = if person.groups_overage {
        "(none: an overage claim instead — too many groups for the ID token)".to_string()
    } else if !person.has_groups_claim {
        format!("(none: no `{}` claim in the ID token)", names.groups)
    } else {
        list(&person.groups)
    };
    let username = person
        .username
        .as_deref()
        .map(shown)
        .unwrap_or_else(|| format!("(none: no `{}` claim in the ID token)", names.username));
    let expiry = if entry.expires() > now {
        format!(
            "expires {} ({}); served until {}, then refreshed",
            time(entry.expires()),
            relative(entry.expires(), now),
            time(entry.refresh_at())
        )
    } else {
        format!(
            "expired {} ({}); the next use refreshes it",
            time(entry.expires()),
            relative(entry.expires(), now)
        )
    };
    let mut out = format!(
        "Logged in to {} (client {}) as {}\n",
        settings.issuer,
        settings.client_id,
        shown(&entry.account)
    );
    let mut row = |k: &str, v: &str| out.push_str(&format!("  {k:<22}{v}\n"));
    row(&format!("username ({}):", names.username), &username);
    row(&format!("groups ({}):", names.groups), &groups);
    row("ID token:", &expiry);
    row(
        "refresh token:",
        if entry.refresh_token.is_some() {
            "yes"
        } else {
            "none: log in again when the ID token expires"
        },
    );
    if !settings.options.scopes.is_empty() {
        row("extra scopes:", &settings.options.scopes.join(" "));
    }
    if let Some(audience) = &settings.options.audience {
        row("audience:", audience);
    }
    row("cached in:", cache);
    if let Some(c) = cluster {
        out.push_str(&format!(
            "The cluster {} (context {}) sees you as:\n",
            c.server, c.context
        ));
        let mut row = |k: &str, cluster: String, token: String| {
            out.push_str(&format!("  {k:<22}{cluster}    (ID token: {token})\n"))
        };
        row("username:", shown(&c.username), username.clone());
        row("groups:", list(&c.groups), groups.clone());
    }
    out
}

/// SelfSubjectReview with the person's ID token on the context's cluster.
fn ask_cluster(
    global: &Global,
    settings: &IdpSettings,
    store: &dyn crate::token_cache::TokenStore,
) -> anyhow::Result<ClusterView> {
    let loaded = crate::kubeconfig::load(global)
        .context("whoami --check asks the cluster of a kubeconfig context")?;
    let ctx = loaded.context(global.context.as_deref())?;
    if ctx.idp.is_none() {
        anyhow::bail!(
            "whoami --check needs a context whose user runs kubectl-breakglass credential; \
             context {:?} does not (set it up: kubectl breakglass setup --context {} --issuer URL \
             --client-id ID)",
            ctx.name,
            ctx.name
        );
    }
    crate::runtime::current_thread()?.block_on(async {
        let id = identity::person_identity(settings, store, false, &ctx.name).await?;
        let reach = cluster::reach(&loaded, &ctx.name).await?;
        let client = cluster::client_with_token(&reach, &id.id_token)?;
        let me = cluster::whoami(&client).await.map_err(|e| {
            match cluster::explain(e, &ctx.server, &ctx.name, "asking the cluster who you are") {
                ClusterError::Unauthorized { .. } => anyhow::anyhow!(
                    "the cluster at {} does not accept your ID token (401): its authentication \
                     configuration must trust issuer {} with an audience the token carries (the \
                     client id {}, or --audience), and find its username claim in it; compare \
                     with `kubectl breakglass whoami --context {}`",
                    ctx.server,
                    settings.issuer,
                    settings.client_id,
                    ctx.name
                ),
                other => other.into(),
            }
        })?;
        Ok(ClusterView {
            server: ctx.server.clone(),
            context: ctx.name.clone(),
            username: me.username,
            groups: me.groups,
        })
    })
}

/// Text from the IdP or the cluster, escaped for the terminal.
fn shown(text: &str) -> String {
    Untrusted(text).to_string()
}
