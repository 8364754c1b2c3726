//! `kubectl breakglass logout`: removes this person's cached login for the IdP.

use crate::cli::{GlobalArgs, LogoutArgs};
use crate::identity::{self, entry};
use crate::token_cache::{self, CacheKey};

/// Runs `logout`.
pub fn run(global: &GlobalArgs, args: LogoutArgs) -> anyhow::Result<()> {
    let settings = identity::idp_settings(global, &args.idp)?;
    let store = token_cache::open(global.token_cache)?;
    let _lock = token_cache::lock(&CacheKey::current_account(
        &settings.issuer,
        &settings.client_id,
    ))?;
    match entry::remove(store.as_ref(), &settings.issuer, &settings.client_id)? {
        Some(account) => eprintln!(
            "Logged out {account} from {} (client {}): removed the cached ID and refresh token from {}.",
            settings.issuer,
            settings.client_id,
            token_cache::describe(store.as_ref())
        ),
        None => eprintln!(
            "Not logged in to {} (client {}): nothing cached in {}.",
            settings.issuer,
            settings.client_id,
            token_cache::describe(store.as_ref())
        ),
    }
    Ok(())
}
