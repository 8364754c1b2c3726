//! `kubectl breakglass revoke`: delete the seal(s), confirm the cluster rejects the token,
//! record the revocation, wipe the local cache.

use crate::cli::RevokeArgs;
use crate::global::Global;
use crate::grant::cluster;
use crate::grant::cluster::standby::Via;
use crate::grant::revoke::{self, Confirmation, Target};
use crate::interrupt::{Interrupted, Signal, Signals};
use crate::output;
use crate::untrusted::Untrusted;

/// Runs `revoke`.
pub fn run(global: &Global, args: RevokeArgs) -> anyhow::Result<()> {
    let target = match (args.grant, args.all) {
        (Some(name), _) => Target::Named(name),
        (None, true) => Target::All,
        (None, false) => Target::Mine,
    };
    let store = crate::token_cache::open(global.token_cache)?;
    let (outcomes, interrupted) = crate::runtime::current_thread()?.block_on(async {
        let mut signals = Signals::listen()?;
        let connected = signals
            .race(async {
                // Standby hook (issue 13): the standby credential when the IdP is down.
                let cluster = cluster::standby::connect_via(global, Via::Person).await?;
                let me = cluster.whoami().await?;
                anyhow::Ok((cluster, me))
            })
            .await;
        let (cluster, me) = match connected {
            Ok(connected) => connected?,
            Err(signal) => {
                return Err(Interrupted {
                    signal,
                    message: format!("interrupted ({signal}) before anything was revoked"),
                }
                .into())
            }
        };
        if matches!(target, Target::All) {
            say!(
                "Revoking every live break-glass grant on {} ...",
                cluster.context()
            );
        }
        // Each outcome is printed as it happens: a later failure cannot hide it.
        let mut print = |o: &revoke::Outcome| say!("{}", Untrusted(&o.summary));
        let outcomes = revoke::revoke(
            &cluster,
            &me,
            target,
            store.as_ref(),
            &mut signals,
            &mut print,
        )
        .await?;
        anyhow::Ok((outcomes, signals.received()))
    })?;
    if outcomes.is_empty() {
        say!("There were no live break-glass grants and no seals to revoke.");
    }
    if let Some(format) = args.output {
        output::print(format.into(), &outcomes)?;
    }
    if let Some(signal) = interrupted {
        return Err(Interrupted {
            signal,
            message: interrupted_state(signal, &outcomes),
        }
        .into());
    }
    let names = |keep: &dyn Fn(&revoke::Outcome) -> bool| -> String {
        let names: Vec<String> = outcomes
            .iter()
            .filter(|o| keep(o))
            .map(|o| Untrusted(&o.name).to_string())
            .collect();
        names.join(", ")
    };
    let failed = names(&|o| o.failed);
    if !failed.is_empty() {
        anyhow::bail!(
            "{failed} could not be revoked or swept (the reason is above, with every revocation \
             that was done); fix that and run the same revoke again"
        );
    }
    let unrecorded = names(&|o| !o.recorded);
    if !unrecorded.is_empty() {
        anyhow::bail!(
            "the revocation of {unrecorded} is not on its record yet (the seal is deleted, so the \
             token dies); run the same revoke again to record it"
        );
    }
    let still_accepted = names(&|o| o.confirmation == Confirmation::StillAccepted);
    if !still_accepted.is_empty() {
        anyhow::bail!(
            "revocation of {still_accepted} is not confirmed: the seal was deleted but the cluster \
             still accepted the token {} s later; tell the cluster admins (its API server may not \
             check bound tokens), and run the revoke again",
            revoke::CONFIRM_WITHIN.as_secs()
        );
    }
    let not_held = names(&|o| o.confirmation == Confirmation::NotHeld);
    if !not_held.is_empty() {
        anyhow::bail!(
            "revocation of {not_held} is recorded but not confirmed: this machine does not hold the \
             token, so the cluster was not seen rejecting it; its seal is deleted, so an API server \
             rejects it once its token cache expires (about 10 s). To watch it confirmed, revoke \
             from the machine that requested the grant next time; check nothing is live with: \
             kubectl breakglass status --all"
        );
    }
    Ok(())
}

/// Where an interrupted revoke left things, grant by grant.
fn interrupted_state(signal: Signal, outcomes: &[revoke::Outcome]) -> String {
    let names = |keep: fn(&revoke::Outcome) -> bool| -> String {
        let names: Vec<String> = outcomes
            .iter()
            .filter(|o| keep(o))
            .map(|o| Untrusted(&o.name).to_string())
            .collect();
        names.join(", ")
    };
    let mut said = vec![format!("interrupted ({signal})")];
    let unconfirmed = names(|o| o.recorded && o.confirmation.is_unconfirmed());
    if !unconfirmed.is_empty() {
        said.push(format!(
            "{unconfirmed}: seal deleted and revocation recorded, but the cluster's rejection of \
             the token was not observed; it dies once the API server's token cache expires \
             (about 10 s)"
        ));
    }
    let unfinished = names(|o| !o.recorded);
    if !unfinished.is_empty() {
        said.push(format!(
            "{unfinished}: not revoked or not recorded (see above); run the same revoke again to finish"
        ));
    }
    if said.len() == 1 {
        said.push("every revocation above was done and recorded".to_string());
    }
    said.join("; ")
}
