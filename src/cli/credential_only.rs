//! The exec credential's call, recognised without clap. kubectl starts `credential`
//! before every command, and building even a small clap parser was a fifth of a cache
//! hit's instructions (85k of 416k; the whole CLI had been 259k).
//!
//! The CLI definition stays the one truth (STYLE 9): this recognises only the plain
//! shape our own exec entries have — `credential`, then `--flag value` pairs and
//! `--elevated`, each flag once (`--scope` as often as given), values that clap could not
//! take for flags — and returns
//! exactly what the full parser would (a test compares them over thousands of command
//! lines). Anything else — another command, `--flag=value`, `--help`, a repeated or
//! unknown flag, a mistake — returns `None`, and the full parser answers or reports as it
//! always has.

use super::{Cli, Command, CredentialArgs, GlobalArgs, IdpArgs, IdpOptionArgs, TokenCacheKind};
use crate::secret::Secret;
use clap::ValueEnum as _;
use std::ffi::{OsStr, OsString};

/// The variable `--token-cache` reads when the flag is absent (its clap `env`).
const TOKEN_CACHE_ENV: &str = "BREAKGLASS_TOKEN_CACHE";

/// `args` (program name first) as the call an exec entry makes, or `None` for the full
/// parser.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Option<Cli> {
    parse_with(args, std::env::var_os(TOKEN_CACHE_ENV).as_deref())
}

/// [`parse`] with `BREAKGLASS_TOKEN_CACHE` given.
fn parse_with(args: impl IntoIterator<Item = OsString>, env_cache: Option<&OsStr>) -> Option<Cli> {
    let mut args = args.into_iter().skip(1);
    if args.next()? != "credential" {
        return None;
    }
    let mut flags = Flags::default();
    while let Some(flag) = args.next() {
        if flag == "--elevated" {
            if std::mem::replace(&mut flags.elevated, true) {
                return None;
            }
            continue;
        }
        if flag == "--scope" {
            flags.scopes.push(value(args.next()?)?);
            continue;
        }
        let slot = match flag.to_str()? {
            "--issuer" => &mut flags.issuer,
            "--client-id" => &mut flags.client_id,
            "--ca-file" => &mut flags.ca_file,
            "--server" => &mut flags.server,
            "--role" => &mut flags.role,
            "--account" => &mut flags.account,
            "--origin-context" => &mut flags.origin_context,
            "--kubeconfig" => &mut flags.kubeconfig,
            "--context" => &mut flags.context,
            "--token-cache" => &mut flags.token_cache,
            "--client-secret" => &mut flags.client_secret,
            "--username-claim" => &mut flags.username_claim,
            "--groups-claim" => &mut flags.groups_claim,
            "--audience" => &mut flags.audience,
            _ => return None,
        };
        if slot.replace(value(args.next()?)?).is_some() {
            return None;
        }
    }
    let elevated_complete = flags.server.is_some()
        && flags.role.is_some()
        && flags.account.is_some()
        && flags.origin_context.is_some();
    if flags.elevated && !elevated_complete {
        return None;
    }
    let token_cache = match (&flags.token_cache, env_cache) {
        (Some(value), _) => TokenCacheKind::from_str(value, false).ok()?,
        (None, Some(value)) => TokenCacheKind::from_str(value.to_str()?, false).ok()?,
        (None, None) => TokenCacheKind::Keyring,
    };
    Some(Cli {
        global: GlobalArgs {
            kubeconfig: flags.kubeconfig.map(Into::into),
            context: flags.context,
            token_cache,
        },
        command: Command::Credential(CredentialArgs {
            idp: IdpArgs {
                issuer: flags.issuer,
                client_id: flags.client_id,
                ca_file: flags.ca_file.map(Into::into),
                options: IdpOptionArgs {
                    scopes: flags.scopes,
                    client_secret: flags.client_secret.map(Secret::new),
                    username_claim: flags.username_claim,
                    groups_claim: flags.groups_claim,
                    audience: flags.audience,
                },
            },
            elevated: flags.elevated,
            server: flags.server,
            role: flags.role,
            account: flags.account,
            origin_context: flags.origin_context,
        }),
    })
}

/// A flag's value as clap would take it, or `None` for the full parser: clap takes a
/// leading '-' for the next flag, and an empty or non-UTF-8 value is left to it too.
fn value(arg: OsString) -> Option<String> {
    let value = arg.into_string().ok()?;
    (!value.is_empty() && !value.starts_with('-')).then_some(value)
}

/// What the command line gave, flag by flag.
#[derive(Default)]
struct Flags {
    issuer: Option<String>,
    client_id: Option<String>,
    ca_file: Option<String>,
    scopes: Vec<String>,
    client_secret: Option<String>,
    username_claim: Option<String>,
    groups_claim: Option<String>,
    audience: Option<String>,
    elevated: bool,
    server: Option<String>,
    role: Option<String>,
    account: Option<String>,
    origin_context: Option<String>,
    kubeconfig: Option<String>,
    context: Option<String>,
    token_cache: Option<String>,
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

    /// The recogniser's answer, checked against the full CLI: whenever it takes a command
    /// line, clap takes it too and makes the same of it. (`env_cache` stands for
    /// BREAKGLASS_TOKEN_CACHE; clap, which would read the real one, gets it as the flag
    /// instead, which is what the variable means when the flag is absent.)
    fn checked(args: &[&str], env_cache: Option<&str>) -> Option<Cli> {
        let fast = parse_with(os(args), env_cache.map(OsStr::new))?;
        let mut full_args = os(args);
        if !args.contains(&"--token-cache") {
            // Also keeps a BREAKGLASS_TOKEN_CACHE of the person running the tests out.
            full_args.extend(["--token-cache", env_cache.unwrap_or("keyring")].map(OsString::from));
        }
        let full = Cli::try_parse_from(&full_args)
            .unwrap_or_else(|e| panic!("{args:?}: taken, but clap says: {e}"));
        assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{args:?}");
        // Debug redacts the client secret: compare the IdP options by value as well.
        let options = |cli: &Cli| match &cli.command {
            Command::Credential(c) => c.idp.options.clone(),
            _ => unreachable!("{args:?} parsed as another command"),
        };
        assert_eq!(options(&fast), options(&full), "{args:?}");
        Some(fast)
    }

    /// The exec entries `setup` and `request` write are taken.
    #[test]
    fn takes_the_exec_entries_we_write() {
        for args in [
            &["credential", "--issuer", "https://idp", "--client-id", "kb"][..],
            &[
                "credential",
                "--issuer",
                "https://idp",
                "--client-id",
                "kb",
                "--ca-file",
                "/ca.pem",
                "--token-cache",
                "file",
            ],
            &[
                "credential",
                "--elevated",
                "--server",
                "https://c",
                "--role",
                "r",
                "--account",
                "a@b",
                "--origin-context",
                "prod",
                "--token-cache",
                "keyutils",
            ],
            &[
                "credential",
                "--issuer",
                "https://idp",
                "--client-id",
                "kb",
                "--scope",
                "groups",
                "--scope",
                "profile",
                "--client-secret",
                "s3cret",
                "--username-claim",
                "sub",
                "--groups-claim",
                "roles",
                "--audience",
                "api",
            ],
            &["credential", "--context", "prod", "--kubeconfig", "/k"],
            &["credential"],
        ] {
            assert!(checked(args, None).is_some(), "{args:?} not taken");
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
            &["credential", "--issuer=https://idp"],
            &["credential", "--help"],
            &["help", "credential"],
            &["--version", "credential"],
            &["credential", "--elevated"],
            &["credential", "--elevated", "--elevated"],
            &["credential", "--role", "a", "--role", "b"],
            &["credential", "--audience", "a", "--audience", "b"],
            &["credential", "--scope", "-x"],
            &["credential", "--issuer"],
            &["credential", "--issuer", ""],
            &["credential", "--issuer", "--client-id", "kb"],
            &["credential", "--no-such-flag"],
            &["credential", "--token-cache", "floppy"],
            &["credential", "extra"],
            &["credential", "credential"],
            &["status"],
        ] {
            assert!(checked(args, None).is_none(), "{args:?} taken");
        }
    }

    #[test]
    fn the_token_cache_comes_from_the_flag_else_the_environment() {
        let cache = |args: &[&str], env| checked(args, env).map(|c| c.global.token_cache);
        assert_eq!(cache(&["credential"], None), Some(TokenCacheKind::Keyring));
        assert_eq!(
            cache(&["credential"], Some("file")),
            Some(TokenCacheKind::File)
        );
        assert_eq!(
            cache(&["credential", "--token-cache", "none"], Some("file")),
            Some(TokenCacheKind::None)
        );
        assert_eq!(cache(&["credential"], Some("floppy")), None);
        assert_eq!(cache(&["credential"], Some("")), None);
    }

    /// Thousands of command lines made of the flags, their values and the usual mistakes:
    /// every one the recogniser takes, clap takes the same way.
    #[test]
    fn agrees_with_the_full_cli_over_generated_command_lines() {
        const FLAGS: &[&str] = &[
            "--issuer",
            "--client-id",
            "--ca-file",
            "--elevated",
            "--server",
            "--role",
            "--account",
            "--origin-context",
            "--kubeconfig",
            "--context",
            "--token-cache",
            "--scope",
            "--client-secret",
            "--username-claim",
            "--groups-claim",
            "--audience",
        ];
        const VALUES: &[&str] = &[
            "https://idp",
            "kb",
            "/ca.pem",
            "keyutils",
            "file",
            "prod",
            "a@b",
            "-x",
            "",
            "--issuer=https://idp",
            "--help",
            "credential",
            "\u{202e}x",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            // xorshift64: the same sequence on every run.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut taken = 0;
        for _ in 0..20_000 {
            let len = next(12);
            let mut args = vec!["credential"];
            for _ in 0..len {
                // Mostly well-formed pairs, so that many lines are taken.
                let flag = FLAGS[next(FLAGS.len())];
                args.push(flag);
                if flag != "--elevated" && next(8) != 0 {
                    args.push(VALUES[next(VALUES.len())]);
                }
            }
            let env = [None, Some("file"), Some("floppy")][next(3)];
            taken += usize::from(checked(&args, env).is_some());
        }
        assert!(taken > 1_000, "only {taken} generated lines were taken");
    }
}
