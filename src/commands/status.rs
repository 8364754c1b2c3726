//! `kubectl breakglass status`.

use crate::cli::{GlobalArgs, StatusArgs};

/// Runs `status`.
pub fn run(_global: &GlobalArgs, _args: StatusArgs) -> anyhow::Result<()> {
    anyhow::bail!("`status` is not built yet")
}
