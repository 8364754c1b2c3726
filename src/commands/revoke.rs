//! `kubectl breakglass revoke`.

use crate::cli::{GlobalArgs, RevokeArgs};

/// Runs `revoke`.
pub fn run(_global: &GlobalArgs, _args: RevokeArgs) -> anyhow::Result<()> {
    anyhow::bail!("`revoke` is not built yet")
}
