//! Revocation: delete the seal, then confirm by presenting the revoked token until the
//! cluster rejects it, and write what happened onto the record.

use crate::grant::cluster::records::{explain_read, list_recent_records, read_record};
use crate::grant::cluster::seals::sweep_expired_own;
use crate::grant::cluster::{Cluster, ClusterError, Whoami};
use crate::grant::context_flag;
use crate::grant::elevated_cache;
use crate::grant::model::admin::{is_admin, ADMIN_RULE};
use crate::grant::model::record::{self, Grant, State};
use crate::grant::model::seal::{claimed_record, seal_of, stray_reason};
use crate::grant::model::{events, seal};
use crate::grant::status::SWEPT;
use crate::interrupt::{Interrupted, Signal, Signals};
use crate::token_cache::{CacheKey, TokenStore};
use k8s_openapi::api::core::v1::Secret as K8sSecret;
use std::time::{Duration, Instant};

/// How long to keep presenting a revoked token (a real API server caches successes ~10 s).
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(250);

/// Which grants to revoke.
pub enum Target {
    /// One grant by name.
    Named(String),
    /// The caller's live grants.
    Mine,
    /// Every live grant and every seal in the cluster.
    All,
}

/// What happened to one grant (or one swept seal, under the name of the record it claims).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The grant record's name.
    pub name: String,
    pub requester: String,
    pub role: String,
    /// Whether the cluster was seen rejecting the grant's token.
    pub confirmation: Confirmation,
    /// Seconds from the seal's deletion until the cluster rejected the token, when seen.
    pub confirmed_after_seconds: Option<f64>,
    /// One sentence for people.
    pub summary: String,
    /// Whether the revocation was written onto the record.
    pub recorded: bool,
    /// Whether this step failed outright (the seal could not be deleted): see the summary.
    pub failed: bool,
}

/// Whether a revocation was seen to take effect: the API server answering 401 to the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Confirmation {
    /// The cluster rejected the token.
    Observed,
    /// This machine does not hold the token, so its rejection could not be watched; the
    /// seal is gone, so an API server rejects it once its token cache expires.
    NotHeld,
    /// The cluster still accepted the token when the wait ended.
    StillAccepted,
    /// A signal stopped the wait (or came before this grant was reached).
    Interrupted,
    /// Nothing to confirm: the grant was over already, or a seal serving no grant was swept.
    NotNeeded,
}

impl Confirmation {
    /// A live grant's token was cut off, but nobody saw the cluster refuse it.
    pub fn is_unconfirmed(self) -> bool {
        matches!(
            self,
            Confirmation::NotHeld | Confirmation::StillAccepted | Confirmation::Interrupted
        )
    }
}

/// Revokes the target grants, handing each outcome to `report` as soon as it is known (so
/// a later failure cannot hide an earlier revocation). Someone else's grant, and `--all`,
/// need a break-glass admin, checked before anything is touched; `--all` also lists every
/// seal first and, after revoking the live grants, sweeps each seal that serves no live
/// grant. A signal during the confirmation stops waiting for it and records what is known
/// (the seal is deleted); grants not reached yet are left alone and reported as such. A
/// signal while a seal is deleted or a revocation recorded lets that finish; a second one
/// abandons it with an `Interrupted` error saying what may be left.
///
/// Nothing here reads the whole history: a named grant is read by name, the live ones (and
/// the caller's expired within [`SWEPT`], whose seals are swept) by their live-until
/// label, and for `--all` each listed seal's record by name when it is older than that.
pub async fn revoke(
    cluster: &dyn Cluster,
    me: &Whoami,
    target: Target,
    store: &dyn TokenStore,
    signals: &mut Signals,
    report: &mut dyn FnMut(&Outcome),
) -> anyhow::Result<Vec<Outcome>> {
    let now = chrono::Utc::now();
    let mut records = match &target {
        Target::Named(name) => read_record(cluster, name).await?.into_iter().collect(),
        Target::Mine | Target::All => list_recent_records(cluster, now, SWEPT).await?,
    };
    let mut outcomes = Vec::new();
    let mut seals = Vec::new();
    if let Target::All = target {
        if !is_admin(&me.groups) {
            anyhow::bail!(
                "revoke --all is for break-glass admins and {} is not one ({ADMIN_RULE}); \
                 nothing was revoked. Revoke your own grant with: kubectl breakglass revoke{}",
                me.username,
                context_flag(cluster.context())
            );
        }
        // Everything is listed before anything is deleted.
        seals = cluster.seals().await?;
        let beyond = claimed_beyond(cluster, &records, &seals).await?;
        records.extend(beyond);
    }
    let chosen: Vec<&Grant> = match &target {
        Target::Named(name) => {
            let g = records.iter().find(|g| g.name() == name).ok_or_else(|| {
                anyhow::anyhow!(
                    "there is no grant named {name}; see your live grants with: kubectl breakglass status{}",
                    context_flag(cluster.context())
                )
            })?;
            if g.spec.requester != me.username && !is_admin(&me.groups) {
                anyhow::bail!(
                    "{name} is {}'s grant (role {}), not yours ({}): only break-glass admins \
                     revoke someone else's grant ({ADMIN_RULE}); ask one to run: kubectl \
                     breakglass revoke {name}{}, or ask {} to",
                    g.spec.requester,
                    g.spec.role,
                    me.username,
                    context_flag(cluster.context()),
                    g.spec.requester
                );
            }
            if matches!(g.state(), Some(State::Revoked | State::Failed)) {
                let o = already_over(cluster, g).await;
                report(&o);
                return Ok(vec![o]);
            }
            vec![g]
        }
        Target::Mine => {
            let mine: Vec<&Grant> = records
                .iter()
                .filter(|g| g.spec.requester == me.username && g.is_live(now))
                .collect();
            if mine.is_empty() {
                sweep_expired_own(cluster, &records, &me.username).await;
                anyhow::bail!(
                    "{} has no live break-glass grant on {}; see every live grant with: kubectl breakglass status --all{}",
                    me.username,
                    cluster.context(),
                    context_flag(cluster.context())
                );
            }
            mine
        }
        Target::All => records.iter().filter(|g| g.is_live(now)).collect(),
    };
    // Only a signal during this revocation stops it (a drill revokes after one).
    let seen = signals.count();
    let all = matches!(target, Target::All);
    for g in chosen {
        let o = match signals.received() {
            Some(signal) if signals.count() > seen => not_reached(g, signal, cluster.context()),
            _ => match revoke_one(cluster, me, g, store, signals).await {
                Ok(o) => o,
                // With --all one failure must not stop the rest.
                Err(e) if all && !e.is::<Interrupted>() => failed(g, &e),
                Err(e) => return Err(e),
            },
        };
        report(&o);
        outcomes.push(o);
    }
    match target {
        Target::All if signals.count() == seen => {
            for s in seals {
                let name = s.metadata.name.clone().unwrap_or_default();
                if outcomes.iter().any(|o| seal_of(&records, &o.name) == name) {
                    continue;
                }
                let o = sweep(cluster, &records, &s, now).await;
                report(&o);
                outcomes.push(o);
            }
        }
        Target::All => {}
        Target::Mine => sweep_expired_own(cluster, &records, &me.username).await,
        // Only the named record was read: the caller's recent ones are read for the sweep
        // after the revocation, which nothing then waits for (best effort, like the sweep).
        Target::Named(_) => {
            if let Ok(recent) = list_recent_records(cluster, now, SWEPT).await {
                sweep_expired_own(cluster, &recent, &me.username).await;
            }
        }
    }
    Ok(outcomes)
}

/// The records `seals` claim that `records` (the recent ones) lacks, read by name: a seal
/// whose record is older than the window is judged by that record, as it would be with the
/// whole history in hand. A claimed name no object can have is not asked for (no record
/// has it).
async fn claimed_beyond(
    cluster: &dyn Cluster,
    records: &[Grant],
    seals: &[K8sSecret],
) -> Result<Vec<Grant>, ClusterError> {
    let mut names: Vec<String> = seals
        .iter()
        .map(claimed_record)
        .filter(|c| seal::is_valid_name(c) && !records.iter().any(|g| g.name() == c))
        .collect();
    names.sort();
    names.dedup();
    let mut found = Vec::new();
    for name in names {
        let g = match cluster.record(&name).await {
            Ok(g) => g,
            Err(e) => return Err(explain_read(cluster, e).await),
        };
        found.extend(g.filter(|g| g.name() == name));
    }
    Ok(found)
}

/// Deletes one seal `--all` found serving no live grant, saying why it went.
async fn sweep(
    cluster: &dyn Cluster,
    records: &[Grant],
    s: &K8sSecret,
    now: chrono::DateTime<chrono::Utc>,
) -> Outcome {
    let name = s.metadata.name.clone().unwrap_or_default();
    let claimed = claimed_record(s);
    let why = stray_reason(records, s, now)
        .unwrap_or_else(|| format!("{claimed} is live but was not revoked above"));
    let (swept, summary) = match cluster.delete_seal(&name, "deleting the seal").await {
        Ok(true) => (true, format!("swept seal {name}: {why}")),
        Ok(false) => (true, format!("seal {name} was already gone ({why})")),
        Err(e) => (false, format!("could NOT sweep seal {name} ({why}): {e}")),
    };
    let g = records.iter().find(|g| g.name() == claimed);
    Outcome {
        name: claimed.clone(),
        requester: g.map(|g| g.spec.requester.clone()).unwrap_or_default(),
        role: g.map(|g| g.spec.role.clone()).unwrap_or_default(),
        confirmation: Confirmation::NotNeeded,
        confirmed_after_seconds: None,
        summary,
        recorded: true,
        failed: !swept,
    }
}

/// A grant that was over before this revoke: says so, and still deletes a seal that was
/// re-created for it (which could otherwise carry a new token).
async fn already_over(cluster: &dyn Cluster, g: &Grant) -> Outcome {
    let status = g.status.clone().unwrap_or_default();
    let mut summary = match g.state() {
        Some(State::Revoked) => format!(
            "{} was already revoked by {} at {}",
            g.name(),
            status.revoked_by.as_deref().unwrap_or("someone"),
            status.revoked_at.as_deref().unwrap_or("an unrecorded time")
        ),
        _ => format!(
            "{} was never live: its request failed ({})",
            g.name(),
            status.message.as_deref().unwrap_or("no reason recorded")
        ),
    };
    let seal_name = seal_of(std::slice::from_ref(g), g.name());
    let mut ok = true;
    if !seal::is_valid_name(&seal_name) {
        return Outcome {
            name: g.name().to_string(),
            requester: g.spec.requester.clone(),
            role: g.spec.role.clone(),
            confirmation: Confirmation::NotNeeded,
            confirmed_after_seconds: None,
            summary,
            recorded: true,
            failed: false,
        };
    }
    match cluster.delete_seal(&seal_name, "deleting the seal").await {
        Ok(true) => summary.push_str(&format!(
            "; a seal {seal_name} had been re-created for it and is now deleted"
        )),
        Ok(false) => {}
        Err(e) => {
            ok = false;
            summary.push_str(&format!(
                "; whether a seal {seal_name} was re-created for it could not be checked ({e})"
            ))
        }
    }
    Outcome {
        name: g.name().to_string(),
        requester: g.spec.requester.clone(),
        role: g.spec.role.clone(),
        confirmation: Confirmation::NotNeeded,
        confirmed_after_seconds: None,
        summary,
        recorded: true,
        failed: !ok,
    }
}

/// A grant `--all` could not revoke, with the reason.
fn failed(g: &Grant, e: &anyhow::Error) -> Outcome {
    Outcome {
        name: g.name().to_string(),
        requester: g.spec.requester.clone(),
        role: g.spec.role.clone(),
        confirmation: Confirmation::NotNeeded,
        confirmed_after_seconds: None,
        summary: format!(
            "NOT revoked {} ({} as {}): {e:#}",
            g.name(),
            g.spec.requester,
            g.spec.role
        ),
        recorded: false,
        failed: true,
    }
}

/// A grant an interrupt kept this command from revoking.
fn not_reached(g: &Grant, signal: Signal, context: &str) -> Outcome {
    Outcome {
        name: g.name().to_string(),
        requester: g.spec.requester.clone(),
        role: g.spec.role.clone(),
        confirmation: Confirmation::Interrupted,
        confirmed_after_seconds: None,
        summary: format!(
            "NOT revoked {} ({} as {}): interrupted ({signal}) before it; run: kubectl breakglass \
             revoke {}{}",
            g.name(),
            g.spec.requester,
            g.spec.role,
            g.name(),
            context_flag(context)
        ),
        recorded: false,
        failed: false,
    }
}

/// The error for a revocation abandoned at a second signal.
fn abandoned(
    signals: &Signals,
    again: Signal,
    g: &Grant,
    state: &str,
    context: &str,
) -> anyhow::Error {
    Interrupted {
        signal: signals.received().unwrap_or(again),
        message: format!(
            "revoking {} was abandoned at a second {again}: {state}; finish with: kubectl breakglass \
             revoke {}{}",
            g.name(),
            g.name(),
            context_flag(context)
        ),
    }
    .into()
}

async fn revoke_one(
    cluster: &dyn Cluster,
    me: &Whoami,
    g: &Grant,
    store: &dyn TokenStore,
    signals: &mut Signals,
) -> anyhow::Result<Outcome> {
    let seal_name = seal_of(std::slice::from_ref(g), g.name());
    // The token this machine holds for the grant, if any: the only way to see it rejected.
    let key = CacheKey::elevated(cluster.server(), &g.spec.role, &g.spec.requester);
    let far_past = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    let held = elevated_cache::load(
        store,
        cluster.server(),
        &g.spec.role,
        &g.spec.requester,
        far_past,
    )
    .ok()
    .and_then(|r| r.ok())
    .filter(|e| e.grant == g.name());

    let seen = signals.count();
    let started = Instant::now();
    let deleting = format!("deleting seal {seal_name}");
    // A name no Secret can have (a record written by hand) names no seal: nothing to delete.
    let seal_existed = seal::is_valid_name(&seal_name) && {
        let deleted = match signals
            .finish(&deleting, cluster.delete_seal(&seal_name, &deleting))
            .await
        {
            Ok(deleted) => deleted,
            Err(again) => {
                let state = format!(
                    "seal {seal_name} may still exist, and a token issued for it work until {}",
                    g.spec.expiry_time
                );
                return Err(abandoned(signals, again, g, &state, cluster.context()));
            }
        };
        deleted?
    };

    let (confirmed_after, confirmation, how) = match &held {
        Some(entry) => {
            let token = elevated_cache::token(entry);
            let confirming = async {
                loop {
                    match cluster.whoami_with(&token, "presenting the revoked token").await {
                        Err(ClusterError::Unauthorized { .. }) => {
                            let secs = started.elapsed().as_secs_f64();
                            break (
                                Some(secs),
                                Confirmation::Observed,
                                format!("the cluster rejected its token {:.1} s after the seal was deleted", secs),
                            );
                        }
                        _ if started.elapsed() >= CONFIRM_WITHIN => {
                            break (
                                None,
                                Confirmation::StillAccepted,
                                format!(
                                    "NOT CONFIRMED: the cluster still accepted its token {} s after the seal was deleted",
                                    CONFIRM_WITHIN.as_secs()
                                ),
                            )
                        }
                        _ => tokio::time::sleep(POLL).await,
                    }
                }
            };
            // A signal while the seal was deleted stops the wait before it starts.
            let waited = match signals.received() {
                Some(signal) if signals.count() > seen => Err(signal),
                _ => signals.race(confirming).await,
            };
            match waited {
                Ok(result) => result,
                Err(signal) => (
                    None,
                    Confirmation::Interrupted,
                    format!(
                        "NOT CONFIRMED: interrupted ({signal}) before the cluster was seen to reject \
                         its token; the seal is deleted, so an API server rejects it once its \
                         token-authentication cache expires (about 10 s on a default server)"
                    ),
                ),
            }
        }
        None => {
            let gone = !seal::is_valid_name(&seal_name)
                || matches!(cluster.seal_exists(&seal_name).await, Ok(false));
            let what = if gone {
                "is gone"
            } else {
                "could not be checked"
            };
            if g.state() == Some(State::Active) {
                (
                    None,
                    Confirmation::NotHeld,
                    format!(
                        "its seal {what}; NOT CONFIRMED: this machine does not hold the token, so \
                         its rejection was not observed — an API server rejects it once its \
                         token-authentication cache expires (about 10 s on a default server)"
                    ),
                )
            } else {
                // A request that never finished recorded no token to watch being refused.
                (
                    None,
                    Confirmation::NotNeeded,
                    format!(
                        "its seal {what}; its request never finished, so no token was recorded \
                         for it, and any issued for it died with the seal"
                    ),
                )
            }
        }
    };

    let now = record::timestamp(chrono::Utc::now());
    // Only an issued (Active) grant becomes Revoked; an unfinished request (Pending) is
    // Failed, as the protocol's transitions (and the admission policy) have it.
    let patch = if g.state() == Some(State::Active) {
        serde_json::json!({
            "state": State::Revoked,
            "revokedBy": me.username,
            "revokedAt": now,
            "revocationConfirmed": confirmed_after.is_some(),
            "revocationConfirmedAfterSeconds": confirmed_after,
        })
    } else {
        serde_json::json!({
            "state": State::Failed,
            "message": record::status_message(&format!(
                "revoked by {} at {now} before the request finished",
                me.username
            )),
        })
    };
    let recording = format!("recording the revocation on {}", g.name());
    let recorded = match signals
        .finish(
            &recording,
            cluster.patch_status(g.name(), &patch, "updating the record"),
        )
        .await
    {
        Ok(recorded) => recorded,
        Err(again) => {
            let state = format!(
                "seal {seal_name} is deleted, so its token is dead (or dies once the API server's \
                 token cache expires, about 10 s), but the revocation may not be on the record"
            );
            return Err(abandoned(signals, again, g, &state, cluster.context()));
        }
    };
    let mut summary = format!(
        "revoked {} ({} as {}): {}{}",
        g.name(),
        g.spec.requester,
        g.spec.role,
        if seal_existed {
            ""
        } else {
            "the seal was already deleted; "
        },
        how
    );
    let was_recorded = recorded.is_ok();
    match recorded {
        Ok(_) => {
            // The seal is gone, so the token is of no further use here. Kept until the
            // revocation is on the record: a retry presents it again to confirm.
            if held.is_some() {
                let _ = store.delete(&key);
            }
            let note = format!(
                "{} revoked the grant of {}: {how}",
                me.username, g.spec.requester
            );
            let event = events::build(g, "Revoked", "Revoke", note);
            let event = cluster.emit(&event);
            match signals.race(event).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    summary.push_str(&format!(" (the Revoked Event was not written: {e})"))
                }
                Err(signal) => summary.push_str(&format!(
                    " (the Revoked Event was not written: interrupted by {signal})"
                )),
            }
        }
        Err(e) => summary.push_str(&format!(
            "; the revocation could NOT be written onto the record ({e})"
        )),
    }
    Ok(Outcome {
        name: g.name().to_string(),
        requester: g.spec.requester.clone(),
        role: g.spec.role.clone(),
        confirmation,
        confirmed_after_seconds: confirmed_after,
        summary,
        recorded: was_recorded,
        failed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::cluster::memory::MemoryCluster;
    use crate::grant::cluster::Shared;
    use crate::grant::model::policy::{Ask, Policy};
    use crate::grant::protocol::{self, Beside, Progress};
    use crate::token_cache::MemoryStore;
    use std::rc::Rc;

    /// A live grant of alice's, its token cached in `store` when `held`.
    async fn live_grant(cluster: &Rc<MemoryCluster>, store: &MemoryStore, held: bool) {
        let policy = Policy::from_data(&crate::grant::cluster::memory::policy()).unwrap();
        let ask = Ask {
            reason: Some("checkout is down, need to look"),
            ticket: None,
            role: None,
            duration: None,
        };
        let allowed = policy
            .check(&ask, "alice@example.com", &["sre".into()])
            .unwrap();
        let shared: Shared = cluster.clone();
        let progress = Progress::default();
        let granted = protocol::request(&shared, &cluster.me, &allowed, Beside::Nothing, &progress)
            .await
            .unwrap();
        if held {
            let entry = granted.cache_entry(cluster.as_ref(), &cluster.me.username);
            elevated_cache::store(store, &entry).unwrap();
        }
    }

    async fn revoke_as(
        cluster: &MemoryCluster,
        me: &Whoami,
        target: Target,
        store: &MemoryStore,
    ) -> anyhow::Result<Vec<Outcome>> {
        let mut signals = Signals::listen().unwrap();
        revoke(cluster, me, target, store, &mut signals, &mut |_| {}).await
    }

    #[tokio::test]
    async fn a_revocation_is_confirmed_when_the_cluster_rejects_the_held_token() {
        let cluster = Rc::new(MemoryCluster::new());
        let store = MemoryStore::default();
        live_grant(&cluster, &store, true).await;
        let outcomes = revoke_as(&cluster, &cluster.me, Target::Mine, &store)
            .await
            .unwrap();
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].confirmation, Confirmation::Observed);
        assert!(outcomes[0].recorded);
        let st = cluster.state.borrow();
        assert!(st.seals.is_empty());
        let status = st.records["grant-000001"].status.clone().unwrap();
        assert_eq!(status.state, Some(State::Revoked));
        assert_eq!(status.revoked_by.as_deref(), Some("alice@example.com"));
        let key = CacheKey::elevated(cluster.server(), "incident-debug", "alice@example.com");
        assert!(
            store.get(&key).unwrap().is_none(),
            "the dead token leaves the cache"
        );
    }

    #[tokio::test]
    async fn someone_elses_grant_is_left_alone_unless_an_admin_asks() {
        let cluster = Rc::new(MemoryCluster::new());
        let store = MemoryStore::default();
        live_grant(&cluster, &store, false).await;
        let bob = Whoami {
            standby: None,
            username: "bob@example.com".into(),
            groups: vec!["sre".into()],
        };
        let err = revoke_as(&cluster, &bob, Target::Named("grant-000001".into()), &store)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("only break-glass admins revoke someone else's grant"),
            "{err}"
        );
        assert_eq!(cluster.state.borrow().seals.len(), 1, "nothing was touched");

        // The same person in group breakglass-admins (as the admission policies decide).
        let bob = Whoami {
            groups: vec!["sre".into(), "breakglass-admins".into()],
            ..bob
        };
        let outcomes = revoke_as(&cluster, &bob, Target::Named("grant-000001".into()), &store)
            .await
            .unwrap();
        assert_eq!(outcomes[0].name, "grant-000001");
        assert!(cluster.state.borrow().seals.is_empty());
    }

    /// A copy of alice's grant-000001 as `name`: in `state`, expiring at `expiry`, labelled
    /// `labelled` (its live-until label its expiry, else an old one), its seal in the
    /// cluster when `sealed`. The history a cluster accumulates.
    fn history_record(
        cluster: &MemoryCluster,
        name: &str,
        state: State,
        expiry: chrono::DateTime<chrono::Utc>,
        labelled: bool,
        sealed: bool,
    ) {
        let mut g = cluster.state.borrow().records["grant-000001"].clone();
        g.metadata.name = Some(name.to_string());
        g.metadata.uid = Some(format!("uid-{name}"));
        g.spec.expiry_time = record::timestamp(expiry);
        let label = if labelled {
            record::live_until(&g.spec.expiry_time).unwrap()
        } else {
            1
        };
        g.metadata.labels =
            Some([(record::LIVE_UNTIL_LABEL.to_string(), label.to_string())].into());
        let seal_name = seal::name_for(name, &g.spec.role);
        g.status = Some(record::GrantStatus {
            state: Some(state),
            seal_name: Some(seal_name.clone()),
            seal_uid: Some(format!("uid-{seal_name}")),
            ..record::GrantStatus::default()
        });
        let mut state = cluster.state.borrow_mut();
        if sealed {
            let mut s = seal::build(&g);
            s.metadata.uid = Some(format!("uid-{seal_name}"));
            state.seals.insert(seal_name, s);
        }
        state.records.insert(name.to_string(), g);
    }

    /// Alice's live grant (its token cached in the store when `held`) after 200 grants that
    /// ended days ago, none with a seal left; no call counted yet.
    async fn after_history(held: bool) -> (Rc<MemoryCluster>, MemoryStore) {
        let cluster = Rc::new(MemoryCluster::new());
        let store = MemoryStore::default();
        live_grant(&cluster, &store, held).await;
        let days_ago = chrono::Utc::now() - chrono::Duration::days(3);
        for n in 100..300 {
            let name = format!("grant-{n:06}");
            history_record(&cluster, &name, State::Revoked, days_ago, true, false);
        }
        cluster.state.borrow_mut().calls.clear();
        (cluster, store)
    }

    fn calls_made(cluster: &MemoryCluster) -> Vec<&'static str> {
        cluster.state.borrow().calls.clone()
    }

    #[tokio::test]
    async fn a_token_not_held_here_is_revoked_but_not_confirmed_reading_only_its_record() {
        let (cluster, store) = after_history(false).await;
        let outcomes = revoke_as(
            &cluster,
            &cluster.me,
            Target::Named("grant-000001".into()),
            &store,
        )
        .await
        .unwrap();
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].confirmation, Confirmation::NotHeld);
        assert!(
            outcomes[0].summary.contains("NOT CONFIRMED"),
            "{}",
            outcomes[0].summary
        );
        assert!(cluster.state.borrow().seals.is_empty());
        let calls = calls_made(&cluster);
        assert_eq!(calls[0], "record", "{calls:?}");
        assert!(!calls.contains(&"records_page"), "{calls:?}");
        // The recent records, for the sweep of the caller's expired seals, only after the
        // revocation is on the record.
        let at = |call: &str| calls.iter().position(|c| *c == call).unwrap();
        assert!(at("patch_status") < at("records_live_after"), "{calls:?}");
    }

    #[tokio::test]
    async fn a_grant_that_is_not_there_is_said_so_without_reading_the_history() {
        let (cluster, store) = after_history(false).await;
        for missing in ["grant-000999", "Grant_1/status"] {
            cluster.state.borrow_mut().calls.clear();
            let err = revoke_as(&cluster, &cluster.me, Target::Named(missing.into()), &store)
                .await
                .err()
                .unwrap()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "there is no grant named {missing}; see your live grants with: kubectl \
                     breakglass status --context memory"
                )
            );
            let calls = calls_made(&cluster);
            // A name no record can have is not sent to the API server.
            assert_eq!(
                calls.contains(&"record"),
                seal::is_valid_name(missing),
                "{calls:?}"
            );
        }
    }

    #[tokio::test]
    async fn revoke_of_my_grants_reads_the_recent_records_by_label_and_sweeps_my_expired_seals() {
        let (cluster, store) = after_history(true).await;
        let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
        history_record(
            &cluster,
            "grant-000002",
            State::Active,
            hour_ago,
            true,
            true,
        );
        cluster.state.borrow_mut().calls.clear();
        let outcomes = revoke_as(&cluster, &cluster.me, Target::Mine, &store)
            .await
            .unwrap();
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].name, "grant-000001");
        assert_eq!(outcomes[0].confirmation, Confirmation::Observed);
        assert!(
            cluster.state.borrow().seals.is_empty(),
            "the live grant's seal and the one its expired grant left are gone"
        );
        let calls = calls_made(&cluster);
        assert_eq!(calls[0], "records_live_after", "{calls:?}");
        assert!(!calls.contains(&"records_page"), "{calls:?}");

        // Nothing live left: said so as before, the sweep still done, no history read.
        history_record(
            &cluster,
            "grant-000003",
            State::Active,
            hour_ago,
            true,
            true,
        );
        cluster.state.borrow_mut().calls.clear();
        let err = revoke_as(&cluster, &cluster.me, Target::Mine, &store)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("alice@example.com has no live break-glass grant on memory"),
            "{err}"
        );
        assert!(cluster.state.borrow().seals.is_empty());
        assert!(!calls_made(&cluster).contains(&"records_page"));
    }

    #[tokio::test]
    async fn revoke_all_judges_each_seal_by_its_own_record_even_one_older_than_the_window() {
        let (cluster, store) = after_history(false).await;
        let now = chrono::Utc::now();
        let days_ago = now - chrono::Duration::days(3);
        // Old records whose seals are still there: re-created for a revoked grant, left by
        // an expired one; a live record whose label hides it from the selector (made
        // without the admission policy); and a seal of a record that never existed.
        history_record(
            &cluster,
            "grant-000002",
            State::Revoked,
            days_ago,
            true,
            true,
        );
        history_record(
            &cluster,
            "grant-000003",
            State::Active,
            days_ago,
            true,
            true,
        );
        let in_an_hour = now + chrono::Duration::hours(1);
        history_record(
            &cluster,
            "grant-000004",
            State::Active,
            in_an_hour,
            false,
            true,
        );
        history_record(
            &cluster,
            "grant-000777",
            State::Active,
            in_an_hour,
            true,
            true,
        );
        cluster.state.borrow_mut().records.remove("grant-000777");
        // The verdicts the whole history gives.
        let (all, seals): (Vec<Grant>, Vec<K8sSecret>) = {
            let st = cluster.state.borrow();
            (
                st.records.values().cloned().collect(),
                st.seals.values().cloned().collect(),
            )
        };
        let expected: Vec<(String, Option<String>)> = seals
            .iter()
            .map(|s| (claimed_record(s), stray_reason(&all, s, now)))
            .collect();
        assert_eq!(
            expected.iter().filter(|(_, why)| why.is_none()).count(),
            2,
            "grant-000001 and grant-000004 are live: {expected:?}"
        );

        let admin = Whoami {
            groups: vec!["sre".into(), "breakglass-admins".into()],
            ..cluster.me.clone()
        };
        cluster.state.borrow_mut().calls.clear();
        let outcomes = revoke_as(&cluster, &admin, Target::All, &store)
            .await
            .unwrap();
        let revoked: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.summary.starts_with("revoked "))
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(revoked, ["grant-000001", "grant-000004"]);
        for (claimed, why) in expected.iter().filter(|(_, why)| why.is_some()) {
            let why = why.as_deref().unwrap();
            assert!(
                outcomes
                    .iter()
                    .any(|o| &o.name == claimed && o.summary.ends_with(&format!(": {why}"))),
                "{claimed}: {why}: {outcomes:#?}"
            );
        }
        assert_eq!(outcomes.len(), 5, "{outcomes:#?}");
        assert!(cluster.state.borrow().seals.is_empty());
        let st = cluster.state.borrow();
        assert_eq!(
            st.records["grant-000004"].state(),
            Some(State::Revoked),
            "a live grant its seal leads to is revoked as before"
        );
        assert!(!st.calls.contains(&"records_page"), "{:?}", st.calls);
        let gets = st.calls.iter().filter(|c| **c == "record").count();
        assert_eq!(
            gets, 4,
            "one GET per seal older than the window: {:?}",
            st.calls
        );
    }
}
