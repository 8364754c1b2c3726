//! `kubectl breakglass logout`.

use crate::cli::{GlobalArgs, LogoutArgs};

/// Runs `logout`.
pub fn run(_global: &GlobalArgs, _args: LogoutArgs) -> anyhow::Result<()> {
    anyhow::bail!("`logout` is not built yet")
}
