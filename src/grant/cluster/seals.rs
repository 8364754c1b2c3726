//! Sweeping the seals a person's expired grants leave.

use super::Cluster;
use crate::grant::model::record::{Grant, State};
use crate::grant::model::seal;

/// Deletes the seals of `me`'s expired grants (best effort, quiet), so an expired grant
/// leaves nothing a new token could be bound to.
pub async fn sweep_expired_own(cluster: &dyn Cluster, records: &[Grant], me: &str) {
    let now = chrono::Utc::now();
    let names: Vec<String> = records
        .iter()
        .filter(|g| {
            g.spec.requester == me
                && g.state() == Some(State::Active)
                && g.expiry().is_some_and(|e| e <= now)
        })
        .map(|g| seal::seal_of(records, g.name()))
        .filter(|name| seal::is_valid_name(name))
        .collect();
    if !names.is_empty() {
        let _ = cluster.delete_seals(names).await;
    }
}
