//! One function per subcommand; each takes its input struct and returns `anyhow::Result`.

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Login(_) | Command::Logout(_) | Command::Credential(_) => {
            anyhow::bail!("not built yet")
        }
    }
}
