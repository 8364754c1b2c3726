//! The fire drill: a real grant through the same protocol as `request` (shortest duration,
//! reason marked `[drill]`, nothing cached or written to the kubeconfig), used once,
//! revoked with confirmation. Whatever fails, no live grant is left behind; a signal
//! (Ctrl-C) stops the drill where it is, and a grant already made is still revoked.

use super::{elevated_cache, NAMESPACE};
use crate::global::Global;
use crate::grant::cluster::standby::Via;
use crate::grant::cluster::{self, Cluster, Whoami};
use crate::grant::model::policy::Ask;
use crate::grant::protocol::{self, Granted, Progress};
use crate::grant::revoke::{self, Confirmation, Target};
use crate::interrupt::{Interrupted, Signal, Signals};
use crate::token_cache::MemoryStore;
use crate::untrusted::Untrusted;
use serde::Serialize;
use std::time::Instant;

/// The prefix that marks a drill's reason on its record.
pub const DRILL_MARK: &str = "[drill]";

/// One stage of the drill.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub name: &'static str,
    pub ok: bool,
    pub seconds: f64,
    /// What was seen (passed) or what went wrong (failed); never a token.
    pub detail: String,
}

/// The drill's outcome: the stages run, in order; the first failure ends the drill
/// (after the revocation, when a grant exists).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drill {
    pub context: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    pub stages: Vec<Stage>,
    /// The signal that stopped the drill, if one did.
    #[serde(skip)]
    pub interrupted: Option<Signal>,
}

impl Drill {
    /// Whether every stage passed.
    pub fn passed(&self) -> bool {
        !self.stages.is_empty() && self.stages.iter().all(|s| s.ok)
    }

    /// The first failed stage.
    pub fn failure(&self) -> Option<&Stage> {
        self.stages.iter().find(|s| !s.ok)
    }

    fn record<T>(
        &mut self,
        name: &'static str,
        started: Instant,
        r: anyhow::Result<(T, String)>,
    ) -> Option<T> {
        let seconds = started.elapsed().as_secs_f64();
        let (value, ok, detail) = match r {
            Ok((v, detail)) => (Some(v), true, detail),
            Err(e) => (None, false, format!("{e:#}")),
        };
        self.stages.push(Stage {
            name,
            ok,
            seconds,
            detail,
        });
        value
    }
}

/// Runs the drill for `role` (the policy's default role when `None`); `signals` (listened
/// for by the caller, `Err` when that failed) stop it where it is.
/// Standby hook (issue 13): `via` says whether to drill through the standby credential.
pub async fn run(
    global: &Global,
    role: Option<&str>,
    via: Via,
    signals: anyhow::Result<Signals>,
) -> Drill {
    let mut drill = Drill::default();
    match signals {
        Ok(mut signals) => {
            stages(&mut drill, &mut signals, global, role, via).await;
            drill.interrupted = signals.received();
        }
        Err(e) => {
            drill.record::<()>("identity", Instant::now(), Err(e));
        }
    }
    drill
}

/// The stages, each raced against a signal.
async fn stages(
    drill: &mut Drill,
    signals: &mut Signals,
    global: &Global,
    role: Option<&str>,
    via: Via,
) {
    let t = Instant::now();
    let connected = async {
        let cluster = cluster::standby::connect_via(global, via).await?;
        let me = cluster.whoami().await?;
        let detail = format!("the cluster knows you as {}", me.username);
        anyhow::Ok(((cluster, me), detail))
    };
    let connected = nothing_made(signals.race(connected).await);
    let Some((cluster, me)) = drill.record("identity", t, connected) else {
        return;
    };
    drill.context = cluster.context().to_string();

    let t = Instant::now();
    let checked = async {
        let policy = crate::grant::cluster::policy::read_policy(&cluster).await?;
        let reason = format!(
            "{DRILL_MARK} fire drill of the break-glass path by {}; revoked at once",
            me.username
        );
        let ask = Ask {
            reason: Some(&reason),
            ticket: policy.ticket_required.then_some("DRILL"),
            role,
            duration: Some(policy.min_duration),
        };
        let allowed = crate::grant::request::allowed_for(&cluster, &policy, &ask, &me).await?;
        let detail = format!(
            "{} may request role {} (drilled for {})",
            me.username,
            allowed.role.name,
            crate::grant::model::duration::human(allowed.duration)
        );
        anyhow::Ok((allowed, detail))
    };
    let checked = nothing_made(signals.race(checked).await);
    let Some(allowed) = drill.record("policy", t, checked) else {
        return;
    };

    // `additional`: a drill must work even while the person holds a real grant.
    let t = Instant::now();
    let progress = Progress::default();
    let requested = protocol::request(
        &cluster,
        &me,
        &allowed,
        protocol::Beside::Anything,
        &progress,
    );
    let granted = match signals.race(requested).await {
        Ok(granted) => granted,
        Err(signal) => Err(
            crate::grant::undo::undo_interrupted(signals, signal, &progress)
                .await
                .into(),
        ),
    }
    .map(|g| {
        let detail = format!(
            "{} recorded, sealed and issued (credential id JTI={})",
            g.record.name(),
            g.claims.jti
        );
        (g, detail)
    });
    let Some(granted) = drill.record("grant", t, granted) else {
        return;
    };
    drill.grant = Some(granted.record.name().to_string());

    let t = Instant::now();
    let used = match signals
        .race(use_token(&cluster, &granted, &allowed.role.name))
        .await
    {
        Ok(used) => used.map(|d| ((), d)),
        Err(signal) => {
            say!(
                "{signal} received: revoking the drill's grant {} first; press Ctrl-C again to \
                 abandon that",
                Untrusted(granted.record.name())
            );
            Err(anyhow::anyhow!(
                "interrupted by the requester ({signal}); the grant is revoked next"
            ))
        }
    };
    drill.record("use", t, used);

    let t = Instant::now();
    let revoked = take_back(&cluster, &me, granted, signals).await;
    drill.record("revoke", t, revoked);
}

/// A stage stopped by a signal before anything was made.
fn nothing_made<T>(r: Result<anyhow::Result<T>, Signal>) -> anyhow::Result<T> {
    r.unwrap_or_else(|signal| {
        Err(anyhow::anyhow!(
            "interrupted by the requester ({signal}); nothing was created"
        ))
    })
}

/// Presents the elevated token: the cluster must see the role's ServiceAccount.
async fn use_token(cluster: &dyn Cluster, granted: &Granted, role: &str) -> anyhow::Result<String> {
    let expected = format!("system:serviceaccount:{NAMESPACE}:{role}");
    let who = cluster
        .whoami_with(&granted.token, "presenting the drill's elevated token")
        .await?;
    if who.username != expected {
        anyhow::bail!(
            "the elevated token authenticates as {:?}, not as {expected}; the role's \
             ServiceAccount or the cluster's token authentication is misconfigured",
            who.username
        );
    }
    Ok(format!("the elevated token authenticates as {expected}"))
}

/// Revokes the drill's grant with confirmation; if that fails, undoes it like a failed
/// request (seal deleted, record marked Failed), so nothing stays live. A signal here stops
/// only the wait for confirmation; a second one abandons the revocation, saying what is left.
async fn take_back(
    cluster: &dyn Cluster,
    me: &Whoami,
    granted: Granted,
    signals: &mut Signals,
) -> anyhow::Result<((), String)> {
    let name = granted.record.name().to_string();
    // The revocation confirms with the token it finds in a store: give it this one,
    // held in memory so that the person's cached tokens are never touched.
    let held = MemoryStore::default();
    elevated_cache::store(&held, &granted.cache_entry(cluster, &me.username))?;
    let target = Target::Named(name.clone());
    let seen = signals.count();
    let outcome = match revoke::revoke(cluster, me, target, &held, signals, &mut |_| {}).await {
        // Abandoned at a second signal: the error says what may be left.
        Err(e) if e.is::<Interrupted>() => return Err(e),
        outcome => outcome,
    };
    let failed = match outcome.as_deref() {
        Ok([o]) if o.confirmation == Confirmation::Observed && o.recorded => {
            return Ok(((), o.summary.clone()))
        }
        // A signal stopped the wait for the rejection: the seal is deleted, the record says so.
        Ok([o]) if o.recorded && signals.count() > seen => anyhow::bail!("{}", o.summary),
        Ok([o, ..]) => o.summary.clone(),
        Ok([]) => format!("{name} was not revoked"),
        Err(e) => format!("{e:#}"),
    };
    let why = format!("{DRILL_MARK} revocation failed: {failed}");
    match signals
        .finish("taking the drill's grant back", granted.undo.run(&why))
        .await
    {
        Ok(cleanup) => anyhow::bail!("{failed}. Cleaned up: {cleanup}"),
        Err(again) => anyhow::bail!(
            "{failed}; taking the grant back was abandoned at a second {again}: finish with: \
             kubectl breakglass revoke {name} --context {}",
            cluster.context()
        ),
    }
}
