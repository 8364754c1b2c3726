//! The exec credential's own parser. kubectl starts `credential` before every command,
//! and building the whole CLI (every subcommand, every flag) was a third of a cache
//! hit's instructions; this parser is built from the same flag definitions
//! ([`GlobalArgs`], [`CredentialArgs`]) with nothing else beside them.
//!
//! It accepts a strict subset of what the full CLI accepts and means the same by it, so
//! anything it does not accept — another command, `--help`, a mistake — goes to the
//! full parser, which answers or reports exactly as it always has.

use super::{Cli, Command, CredentialArgs, GlobalArgs};
use clap::{Args, FromArgMatches as _};
use std::ffi::OsString;

/// `credential`'s flags and the global ones, flat: no subcommand to build or propagate
/// global flags into, no help flag (`--help` goes to the full parser).
fn command() -> clap::Command {
    let cmd = clap::Command::new("kubectl-breakglass credential")
        .no_binary_name(true)
        .disable_help_flag(true);
    CredentialArgs::augment_args(GlobalArgs::augment_args(cmd))
}

/// `args` (program name first) parsed as the call an exec entry makes —
/// `credential` first, then its flags — or `None` for anything else, which the full
/// parser then handles.
pub fn parse<I>(args: I) -> Option<Cli>
where
    I: IntoIterator<Item = OsString>,
{
    let mut args = args.into_iter().skip(1);
    if args.next()? != "credential" {
        return None;
    }
    let matches = command().try_get_matches_from(args).ok()?;
    Some(Cli {
        global: GlobalArgs::from_arg_matches(&matches).ok()?,
        command: Command::Credential(CredentialArgs::from_arg_matches(&matches).ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

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
                "credential",
                "--context",
                "prod",
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
            &["credential"],
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
            // Correct, but not how an exec entry calls it: the full parser takes it.
            &["--context", "prod", "credential"],
            &["credential", "--help"],
            &["help", "credential"],
            &["--version", "credential"],
            &["credential", "--elevated"],
            &["credential", "--no-such-flag"],
            &["credential", "--token-cache", "floppy"],
            &["credential", "extra"],
            &["credential", "credential"],
            &["status"],
        ] {
            assert!(parse(os(args)).is_none(), "{args:?} taken");
        }
    }

    #[test]
    fn definition_is_valid() {
        command().debug_assert();
    }
}
