//! Revocation: delete the seal, then confirm by presenting the revoked token until the
//! cluster rejects it, and write what happened onto the record.

use super::cluster::{self, explain, status_code, Cluster, Whoami};
use super::elevated_cache;
use super::interrupt::{Interrupted, Signal, Signals};
use super::record::{self, Grant, State};
use super::undo::context_flag;
use super::{events, protocol, seal, NAMESPACE, SEAL_LABEL};
use crate::token_cache::{CacheKey, TokenStore};
use k8s_openapi::api::core::v1::Secret as K8sSecret;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::Api;
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

/// What happened to one grant.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub grant: String,
    pub requester: String,
    pub role: String,
    /// Seconds until the cluster rejected the token, when seen.
    pub confirmed_after_seconds: Option<f64>,
    /// One sentence for people.
    pub summary: String,
    /// False when the cluster still accepted the token at the end of the wait.
    pub ok: bool,
    /// Whether the revocation was written onto the record.
    pub recorded: bool,
}

/// Revokes the target grants. A signal during the confirmation stops waiting for it and
/// records what is known (the seal is deleted); grants not reached yet are left alone and
/// reported as such. A signal while a seal is deleted or a revocation recorded lets that
/// finish; a second one abandons it with an `Interrupted` error saying what may be left.
pub async fn revoke(
    cluster: &Cluster,
    me: &Whoami,
    target: Target,
    store: &dyn TokenStore,
    signals: &mut Signals,
) -> anyhow::Result<Vec<Outcome>> {
    let records = protocol::list_records(cluster).await?;
    let now = chrono::Utc::now();
    let chosen: Vec<&Grant> = match &target {
        Target::Named(name) => {
            let g = records.iter().find(|g| g.name() == name).ok_or_else(|| {
                anyhow::anyhow!(
                    "there is no grant named {name}; see your live grants with: kubectl breakglass status"
                )
            })?;
            vec![g]
        }
        Target::Mine => {
            let mine: Vec<&Grant> = records
                .iter()
                .filter(|g| g.spec.requester == me.username && g.is_live(now))
                .collect();
            if mine.is_empty() {
                anyhow::bail!(
                    "{} has no live break-glass grant on {}; see every live grant with: kubectl breakglass status --all",
                    me.username,
                    cluster.context
                );
            }
            mine
        }
        Target::All => records.iter().filter(|g| g.is_live(now)).collect(),
    };
    // Only a signal during this revocation stops it (a drill revokes after one).
    let seen = signals.count();
    let mut outcomes = Vec::new();
    for g in chosen {
        match signals.received() {
            Some(signal) if signals.count() > seen => {
                outcomes.push(not_reached(g, signal, &cluster.context))
            }
            _ => outcomes.push(revoke_one(cluster, me, g, store, signals).await?),
        }
    }
    if matches!(target, Target::All) && signals.count() == seen {
        // Seals whose record is not live (a request that died mid-way): delete them too.
        let secrets: Api<K8sSecret> = Api::namespaced(cluster.client.clone(), NAMESPACE);
        let seals = secrets
            .list(&ListParams::default().labels(&format!("{SEAL_LABEL}=true")))
            .await
            .map_err(|e| explain(e, &cluster.server, &cluster.context, "listing seals"))?;
        for s in seals.items {
            let name = s.metadata.name.unwrap_or_default();
            if outcomes.iter().any(|o| seal::name_for(&o.grant) == name) {
                continue;
            }
            secrets
                .delete(&name, &DeleteParams::default())
                .await
                .map_err(|e| explain(e, &cluster.server, &cluster.context, "deleting a seal"))?;
            outcomes.push(Outcome {
                grant: name.trim_end_matches("-seal").to_string(),
                requester: String::new(),
                role: String::new(),
                confirmed_after_seconds: None,
                summary: format!("deleted stray seal {name} (its record was not live)"),
                ok: true,
                recorded: true,
            });
        }
    }
    Ok(outcomes)
}

/// A grant an interrupt kept this command from revoking.
fn not_reached(g: &Grant, signal: Signal, context: &str) -> Outcome {
    Outcome {
        grant: g.name().to_string(),
        requester: g.spec.requester.clone(),
        role: g.spec.role.clone(),
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
        ok: false,
        recorded: false,
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
    cluster: &Cluster,
    me: &Whoami,
    g: &Grant,
    store: &dyn TokenStore,
    signals: &mut Signals,
) -> anyhow::Result<Outcome> {
    let secrets: Api<K8sSecret> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let seal_name = g
        .status
        .as_ref()
        .and_then(|s| s.seal_name.clone())
        .unwrap_or_else(|| seal::name_for(g.name()));
    // The token this machine holds for the grant, if any: the only way to see it rejected.
    let key = CacheKey::elevated(&cluster.server, &g.spec.role, &g.spec.requester);
    let far_past = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    let held = elevated_cache::load(
        store,
        &cluster.server,
        &g.spec.role,
        &g.spec.requester,
        far_past,
    )
    .ok()
    .and_then(|r| r.ok())
    .filter(|e| e.grant == g.name());

    let seen = signals.count();
    let started = Instant::now();
    let dp = DeleteParams::default();
    let deleting = format!("deleting seal {seal_name}");
    let deleted = match signals
        .finish(&deleting, secrets.delete(&seal_name, &dp))
        .await
    {
        Ok(deleted) => deleted,
        Err(again) => {
            let state = format!(
                "seal {seal_name} may still exist, and a token issued for it work until {}",
                g.spec.expiry_time
            );
            return Err(abandoned(signals, again, g, &state, &cluster.context));
        }
    };
    let seal_existed = match deleted {
        Ok(_) => true,
        Err(e) if status_code(&e) == Some(404) => false,
        Err(e) => {
            return Err(explain(
                e,
                &cluster.server,
                &cluster.context,
                &format!("deleting seal {seal_name}"),
            ))
        }
    };

    let (confirmed_after, ok, how) = match &held {
        Some(entry) => {
            let client = cluster::client_with_token(
                &cluster.server,
                cluster.ca_pem.as_deref(),
                cluster.insecure,
                &elevated_cache::token(entry),
            )?;
            let confirming = async {
                loop {
                    match cluster::whoami(&client).await {
                        Err(e) if status_code(&e) == Some(401) => {
                            let secs = started.elapsed().as_secs_f64();
                            break (
                                Some(secs),
                                true,
                                format!("the cluster rejected its token {:.1} s after the seal was deleted", secs),
                            );
                        }
                        _ if started.elapsed() >= CONFIRM_WITHIN => {
                            break (
                                None,
                                false,
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
                    false,
                    format!(
                        "NOT CONFIRMED: interrupted ({signal}) before the cluster was seen to reject \
                         its token; the seal is deleted, so an API server rejects it once its \
                         token-authentication cache expires (about 10 s on a default server)"
                    ),
                ),
            }
        }
        None => {
            let gone = matches!(secrets.get_opt(&seal_name).await, Ok(None));
            let what = if gone {
                "is gone"
            } else {
                "could not be checked"
            };
            (
                None,
                gone,
                format!(
                    "its seal {what}; this machine does not hold the token, so its rejection was not \
                     observed — an API server rejects it once its token-authentication cache expires \
                     (about 10 s on a default server)"
                ),
            )
        }
    };

    let now = record::timestamp(chrono::Utc::now());
    let patch = serde_json::json!({ "status": {
        "state": State::Revoked,
        "revokedBy": me.username,
        "revokedAt": now,
        "revocationConfirmed": confirmed_after.is_some(),
        "revocationConfirmedAfterSeconds": confirmed_after,
    }});
    if held.is_some() {
        // The seal is gone either way, so the token is of no further use here.
        let _ = store.delete(&key);
    }
    let grants: Api<Grant> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    let pp = PatchParams::default();
    let recording = format!("recording the revocation on {}", g.name());
    let recorded = match signals
        .finish(
            &recording,
            grants.patch_status(g.name(), &pp, &Patch::Merge(&patch)),
        )
        .await
    {
        Ok(recorded) => recorded,
        Err(again) => {
            let state = format!(
                "seal {seal_name} is deleted, so its token is dead (or dies once the API server's \
                 token cache expires, about 10 s), but the revocation may not be on the record"
            );
            return Err(abandoned(signals, again, g, &state, &cluster.context));
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
            let note = format!(
                "{} revoked the grant of {}: {how}",
                me.username, g.spec.requester
            );
            let event = protocol::emit(cluster, events::build(g, "Revoked", "Revoke", note));
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
            "; the revocation could NOT be written onto the record ({})",
            explain(e, &cluster.server, &cluster.context, "updating the record")
        )),
    }
    Ok(Outcome {
        grant: g.name().to_string(),
        requester: g.spec.requester.clone(),
        role: g.spec.role.clone(),
        confirmed_after_seconds: confirmed_after,
        summary,
        ok,
        recorded: was_recorded,
    })
}
