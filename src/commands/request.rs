//! `kubectl breakglass request`.

use crate::cli::{GlobalArgs, RequestArgs};

/// Runs `request`.
pub fn run(global: &GlobalArgs, args: RequestArgs) -> anyhow::Result<()> {
    crate::grant::request::run(global, &args)
}
