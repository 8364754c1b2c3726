//! kubectl's plugin completion protocol (kubectl 1.26+): for `kubectl breakglass a b c<TAB>`
//! kubectl runs `kubectl_complete-breakglass a b c` and reads one candidate per line
//! (`value<TAB>description`), then an optional last line `:<directive>` — Cobra's
//! ShellCompDirective, which tells the shell whether to fall back to file names and
//! whether to add a space.

use clap_complete::engine::CompletionCandidate;
use clap_complete::env::EnvCompleter;
use std::ffi::OsString;

/// Cobra's `ShellCompDirectiveNoSpace`: the candidate is not a whole word yet.
const NO_SPACE: u8 = 2;
/// Cobra's `ShellCompDirectiveNoFileComp`: offer no file names beyond the candidates.
const NO_FILE_COMP: u8 = 4;

/// The adapter `kubectl_complete-breakglass` selects with `KUBECTL_BREAKGLASS_COMPLETE=kubectl`.
pub struct Kubectl;

impl EnvCompleter for Kubectl {
    fn name(&self) -> &'static str {
        "kubectl"
    }

    fn is(&self, name: &str) -> bool {
        name == "kubectl"
    }

    /// What `kubectl_complete-breakglass` does, as a script for systems without the binary.
    fn write_registration(
        &self,
        var: &str,
        _name: &str,
        bin: &str,
        _completer: &str,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        writeln!(
            buf,
            "#!/bin/sh\n# kubectl_complete-{plugin}: put on PATH; kubectl runs it for `kubectl {plugin} <TAB>`.\n\
             {var}=kubectl exec {bin} -- {bin} \"$@\"",
            plugin = bin.trim_start_matches("kubectl-"),
        )
    }

    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<OsString>,
        current_dir: Option<&std::path::Path>,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        super::line::record(&args);
        // kubectl always passes the word under the cursor last (empty for a new word).
        let index = args.len().saturating_sub(1);
        let typing_a_flag = args
            .last()
            .is_some_and(|w| w.to_string_lossy().starts_with('-'));
        let mut candidates = clap_complete::engine::complete(cmd, args, index, current_dir)?;
        candidates.retain(|c| !c.is_hide_set());
        // Like every kubectl command: flags are offered once a `-` is typed, unless nothing
        // else can come next.
        let is_flag = |c: &CompletionCandidate| c.get_value().to_string_lossy().starts_with('-');
        if !typing_a_flag && candidates.iter().any(|c| !is_flag(c)) {
            candidates.retain(|c| !is_flag(c));
        }
        let mut directive = NO_FILE_COMP;
        for c in &candidates {
            let value = c.get_value().to_string_lossy();
            // One candidate per line: a value that could break the protocol is not offered.
            if value.is_empty() || value.contains(['\n', '\r', '\t']) {
                continue;
            }
            if value.ends_with(['/', '=']) {
                directive |= NO_SPACE;
            }
            match c.get_help().map(|h| one_line(&h.to_string())) {
                Some(help) if !help.is_empty() => writeln!(buf, "{value}\t{help}")?,
                _ => writeln!(buf, "{value}")?,
            }
        }
        writeln!(buf, ":{directive}")
    }
}

/// The first line of a description, with anything that could break the protocol or drive
/// the terminal escaped.
fn one_line(help: &str) -> String {
    crate::untrusted::Untrusted(help.lines().next().unwrap_or_default()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(words: &[&str]) -> String {
        let mut cmd = super::super::command();
        cmd.build();
        let mut out = Vec::new();
        let args = words.iter().map(OsString::from).collect();
        Kubectl
            .write_complete(&mut cmd, args, None, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn subcommands_with_descriptions_then_the_directive() {
        let out = complete(&["kubectl-breakglass", "re"]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.iter().any(|l| l.starts_with("request\t")), "{out}");
        assert!(lines.iter().any(|l| l.starts_with("revoke\t")), "{out}");
        assert!(!lines.iter().any(|l| l.starts_with("login")), "{out}");
        assert_eq!(lines.last(), Some(&":4"), "{out}");
    }

    #[test]
    fn fixed_values_and_flags() {
        let out = complete(&["kubectl-breakglass", "completion", ""]);
        for shell in ["bash", "zsh", "fish", "powershell"] {
            assert!(out.lines().any(|l| l == shell), "{shell}: {out}");
        }
        let out = complete(&["kubectl-breakglass", "request", "--rea"]);
        assert!(out.lines().any(|l| l.starts_with("--reason\t")), "{out}");
    }

    #[test]
    fn descriptions_cannot_forge_candidates() {
        assert_eq!(one_line("first\nsecond"), "first");
        assert_eq!(one_line("a\tb\u{1b}[31m"), "a\\tb\\u{1b}[31m");
    }
}
