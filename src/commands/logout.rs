//! `kubectl breakglass logout`: removes this person's cached login for the IdP.

use crate::cli::LogoutArgs;
use crate::global::Global;
use crate::identity::{self, entry};
use crate::token_cache::{self, CacheKey};
use crate::untrusted::Untrusted;

/// Runs `logout`.
pub fn run(global: &Global, args: LogoutArgs) -> anyhow::Result<()> {
    let settings = identity::idp_settings(global, &args.idp.plain())?;
    let store = token_cache::open(global.token_cache)?;
    let _lock = token_cache::lock(&CacheKey::current_account(
        &settings.issuer,
        &settings.client_id,
    ))?;
    let removed = entry::remove(store.as_ref(), &settings.issuer, &settings.client_id)?;
    // Standby hook (issue 13): logging out removes the standby credentials too.
    if let Some(account) = &removed {
        for server in crate::grant::standby_cache::forget_all(global, store.as_ref(), account) {
            say!("Removed your standby credential for {server}.");
        }
    }
    match removed {
        Some(account) => say!(
            "Logged out {} from {} (client {}): removed the cached ID and refresh token from {}.",
            Untrusted(&account),
            settings.issuer,
            settings.client_id,
            token_cache::describe(store.as_ref())
        ),
        None => say!(
            "Not logged in to {} (client {}): nothing cached in {}.",
            settings.issuer,
            settings.client_id,
            token_cache::describe(store.as_ref())
        ),
    }
    warn_of_live_grants(global, store.as_ref());
    Ok(())
}

/// Logging out does not end a grant: its token stays cached and usable until it expires,
/// and revoking it needs the identity just removed. Say so, and how to revoke it.
fn warn_of_live_grants(global: &Global, store: &dyn token_cache::TokenStore) {
    let Ok(loaded) = crate::kubeconfig::load(global) else {
        return;
    };
    for held in crate::grant::elevated_cache::held(loaded.config(), store, chrono::Utc::now()) {
        let e = &held.entry;
        say!(
            "warning: you still hold break-glass grant {} (role {}, until {}), served to kubectl \
             --context {}: logging out does not end it, and revoking it needs your login. Revoke \
             it with: kubectl breakglass login --context {origin}, then kubectl breakglass revoke \
             {} --context {origin}; or let it expire.",
            Untrusted(&e.grant),
            Untrusted(&e.role),
            crate::grant::model::record::timestamp(e.expires_at),
            held.context,
            Untrusted(&e.grant),
            origin = e.origin_context,
        );
    }
}
