//! `kubectl breakglass login`.

use crate::cli::{GlobalArgs, LoginArgs};

/// Runs `login`.
pub fn run(_global: &GlobalArgs, _args: LoginArgs) -> anyhow::Result<()> {
    anyhow::bail!("`login` is not built yet")
}
