//! `kubectl breakglass revoke`: delete the seal(s), confirm the cluster rejects the token,
//! record the revocation, wipe the local cache.

use crate::cli::{GlobalArgs, RevokeArgs};
use crate::grant::revoke::{self, Target};
use crate::grant::{cluster, output};

/// Runs `revoke`.
pub fn run(global: &GlobalArgs, args: RevokeArgs) -> anyhow::Result<()> {
    let target = match (args.grant, args.all) {
        (Some(name), _) => Target::Named(name),
        (None, true) => Target::All,
        (None, false) => Target::Mine,
    };
    let store = crate::token_cache::open(global.token_cache)?;
    let outcomes = output::runtime()?.block_on(async {
        let cluster = cluster::connect(global, false).await?;
        let me = cluster.whoami().await?;
        if matches!(target, Target::All) {
            eprintln!(
                "Revoking every live break-glass grant on {} ...",
                cluster.context
            );
        }
        revoke::revoke(&cluster, &me, target, store.as_ref()).await
    })?;
    if outcomes.is_empty() {
        eprintln!("There were no live break-glass grants to revoke.");
    }
    for o in &outcomes {
        eprintln!("{}", o.summary);
    }
    if let Some(format) = args.output {
        output::print(format, &outcomes)?;
    }
    let unconfirmed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| o.grant.as_str())
        .collect();
    if !unconfirmed.is_empty() {
        anyhow::bail!(
            "revocation of {} is not confirmed: the seal was deleted but the cluster did not reject \
             the token in time; run the revoke again and tell the cluster admins",
            unconfirmed.join(", ")
        );
    }
    let unrecorded: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.recorded)
        .map(|o| o.grant.as_str())
        .collect();
    if !unrecorded.is_empty() {
        anyhow::bail!(
            "the revocation of {} is not on its record yet (the token is dead); run the same \
             revoke again to record it",
            unrecorded.join(", ")
        );
    }
    Ok(())
}
