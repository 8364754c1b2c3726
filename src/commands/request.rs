//! `kubectl breakglass request`.

use crate::cli::{GlobalArgs, RequestArgs};

/// Runs `request`.
pub fn run(_global: &GlobalArgs, _args: RequestArgs) -> anyhow::Result<()> {
    anyhow::bail!("`request` is not built yet")
}
