//! `kubectl breakglass credential`.

use crate::cli::{CredentialArgs, GlobalArgs};

/// Runs `credential`.
pub fn run(_global: &GlobalArgs, _args: CredentialArgs) -> anyhow::Result<()> {
    anyhow::bail!("`credential` is not built yet")
}
