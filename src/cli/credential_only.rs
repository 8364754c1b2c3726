//! The exec credential's own parser. kubectl starts `credential` before every command,
//! and building the whole CLI (every subcommand, every flag) was a third of a cache
//! hit's instructions; this parser is built from the same flag definitions
//! ([`GlobalArgs`], [`CredentialArgs`]) with nothing else beside them.
//!
//! It accepts a strict subset of what the full CLI accepts and means the same by it, so
//! anything it does not accept — another command, `--help`, a mistake — goes to the
//! full parser, which answers or reports exactly as it always has.

use super::{Cli, Command, CredentialArgs, GlobalArgs};
use clap::{FromArgMatches as _, Parser, Subcommand};
use std::ffi::OsString;

#[derive(Debug, Parser)]
#[command(name = "kubectl-breakglass", bin_name = "kubectl breakglass")]
struct CredentialCli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: CredentialOnly,
}

#[derive(Debug, Subcommand)]
enum CredentialOnly {
    Credential(CredentialArgs),
}

/// `args` (program name first) parsed as a `credential` invocation; `None` when they are
/// anything else, for the full parser to handle.
pub fn parse<I>(args: I) -> Option<Cli>
where
    I: IntoIterator<Item = OsString>,
{
    let args: Vec<OsString> = args.into_iter().collect();
    // Without the word there is no credential command: skip building even this parser.
    if !args.iter().skip(1).any(|a| a == "credential") {
        return None;
    }
    let matches = <CredentialCli as clap::CommandFactory>::command()
        .try_get_matches_from(args)
        .ok()?;
    let CredentialCli { global, command } = CredentialCli::from_arg_matches(&matches).ok()?;
    let CredentialOnly::Credential(args) = command;
    Some(Cli {
        global,
        command: Command::Credential(args),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn os(args: &[&str]) -> Vec<OsString> {
        std::iter::once("kubectl-breakglass")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// Whatever the small parser accepts, the full CLI accepts with the same meaning.
    #[test]
    fn agrees_with_the_full_cli() {
        for args in [
            &["credential", "--issuer", "https://idp", "--client-id", "kb"][..],
            &[
                "--context",
                "prod",
                "credential",
                "--token-cache=keyutils",
                "--elevated",
                "--server",
                "https://c",
                "--role",
                "r",
                "--account",
                "a@b",
                "--origin-context",
                "prod",
            ],
            &["credential", "--kubeconfig", "/k", "--ca-file", "/ca.pem"],
        ] {
            let fast = parse(os(args)).unwrap_or_else(|| panic!("{args:?} not taken"));
            let full = Cli::try_parse_from(os(args)).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{args:?}");
        }
    }

    /// Anything else is left to the full parser, so its answers and errors stay the same.
    #[test]
    fn leaves_everything_else_to_the_full_cli() {
        for args in [
            &["request", "--reason", "credential"][..],
            &["--context", "credential", "status"],
            &["credential", "--help"],
            &["help", "credential"],
            &["--version", "credential"],
            &["credential", "--elevated"],
            &["credential", "--no-such-flag"],
            &["credential", "--token-cache", "floppy"],
            &["credential", "extra"],
            &["status"],
        ] {
            assert!(parse(os(args)).is_none(), "{args:?} taken");
        }
    }

    #[test]
    fn definition_is_valid() {
        CredentialCli::command().debug_assert();
    }
}
