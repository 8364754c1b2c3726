//! One function per subcommand; each takes its input struct and returns `anyhow::Result`.

mod audit;
mod completion;
mod credential;
mod drill;
mod elevated_credential;
mod login;
mod logout;
mod request;
mod review;
mod revoke;
mod setup;
mod standby;
mod status;
mod version;
mod whoami;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let global = &cli.global.plain();
    match cli.command {
        Command::Login(args) => login::run(global, args),
        Command::Logout(args) => logout::run(global, args),
        Command::Credential(args) => credential::run(global, args),
        Command::Request(args) => request::run(global, args),
        Command::Status(args) => status::run(global, args),
        Command::Revoke(args) => revoke::run(global, args),
        Command::Audit(args) => audit::run(global, args),
        Command::Review(args) => review::run(global, args),
        Command::Drill(args) => drill::run(global, args),
        Command::Setup(args) => setup::run(global, args),
        Command::Standby(args) => standby::run(global, args),
        Command::Completion(args) => completion::run(global, args),
        Command::Version(args) => version::run(global, args),
        Command::Whoami(args) => whoami::run(global, args),
    }
}
