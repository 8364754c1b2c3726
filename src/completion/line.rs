//! The command line being completed. Value completers only see the word under the
//! cursor; `--role` also needs the `--context` and `--kubeconfig` typed before it, so each
//! shell's adapter keeps the whole line here first.

use crate::cli::{Cli, GlobalArgs, TokenCacheKind};
use clap::{CommandFactory as _, FromArgMatches as _};
use clap_complete::env::EnvCompleter;
use std::ffi::OsString;
use std::sync::OnceLock;

static LINE: OnceLock<Vec<OsString>> = OnceLock::new();

/// A shell adapter that records the line, then completes exactly as the shell's own.
pub struct Recorded<'a, S: EnvCompleter + ?Sized>(pub &'a S);

impl<S: EnvCompleter + ?Sized> EnvCompleter for Recorded<'_, S> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn is(&self, name: &str) -> bool {
        self.0.is(name)
    }

    fn write_registration(
        &self,
        var: &str,
        name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        self.0.write_registration(var, name, bin, completer, buf)
    }

    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<OsString>,
        current_dir: Option<&std::path::Path>,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        record(&args);
        self.0.write_complete(cmd, args, current_dir, buf)
    }
}

/// Keeps `args` (the words, the binary's name first) for [`globals`].
pub fn record(args: &[OsString]) {
    let _ = LINE.set(args.to_vec());
}

/// `--kubeconfig`, `--context` and `--token-cache` as typed on the line (the word under
/// the cursor included: it is never one of their values when they are needed), parsed
/// with the CLI definition itself.
pub fn globals() -> GlobalArgs {
    let line = LINE.get().cloned().unwrap_or_default();
    parse(&line)
        .or_else(|| parse(&[OsString::from(super::BIN)]))
        .unwrap_or(GlobalArgs {
            kubeconfig: None,
            context: None,
            token_cache: TokenCacheKind::Keyring,
        })
}

fn parse(line: &[OsString]) -> Option<GlobalArgs> {
    let matches = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(line)
        .ok()?;
    GlobalArgs::from_arg_matches(&matches).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globals_of(words: &[&str]) -> GlobalArgs {
        let line: Vec<OsString> = words.iter().map(OsString::from).collect();
        parse(&line).expect("a line always parses when errors are ignored")
    }

    #[test]
    fn flags_typed_anywhere_on_the_line_are_found() {
        let g = globals_of(&[
            "kubectl-breakglass",
            "request",
            "--kubeconfig",
            "/tmp/k",
            "--context=prod",
            "--role",
            "",
        ]);
        assert_eq!(g.context.as_deref(), Some("prod"));
        assert_eq!(
            g.kubeconfig.as_deref(),
            Some(std::path::Path::new("/tmp/k"))
        );
        let g = globals_of(&["kubectl-breakglass", "--context", "stage", "revoke", "gr"]);
        assert_eq!(g.context.as_deref(), Some("stage"));
    }

    #[test]
    fn a_half_typed_line_still_parses() {
        let g = globals_of(&["kubectl-breakglass", "requ"]);
        assert_eq!(g.context, None);
        let g = globals_of(&[
            "kubectl-breakglass",
            "request",
            "--context",
            "prod",
            "--bogus",
            "--role",
        ]);
        assert_eq!(g.context.as_deref(), Some("prod"));
    }
}
