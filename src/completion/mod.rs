//! Shell completion: one engine (clap_complete's dynamic completion) behind every shell.
//!
//! - `kubectl breakglass <TAB>`: kubectl (1.26+) runs `kubectl_complete-breakglass ARGS`,
//!   which runs this binary with [`VAR`]`=kubectl` and answers in kubectl's plugin
//!   completion protocol ([`kubectl`]).
//! - `kubectl-breakglass <TAB>`: the script `completion bash|zsh|fish|powershell` prints
//!   runs this binary with [`VAR`]`=<shell>`.
//!
//! Values come from where they live: `--context` from the kubeconfig, `--role` from the
//! cluster's policy, grant names from the cluster's records ([`candidates`]). Completion
//! never prompts, never logs in and gives up within [`cluster::BUDGET`]: on any failure
//! it offers nothing.

mod candidates;
mod cluster;
mod kubectl;
mod line;

use crate::cli::{Cli, Shell};
use clap::CommandFactory as _;
use clap_complete::engine::{ArgValueCandidates, ValueCandidates};
use clap_complete::env::{Bash, CompleteEnv, EnvCompleter, Fish, Powershell, Shells, Zsh};

/// The environment variable that turns a run of the binary into a completion request.
/// Specific to this tool: a generic name (clap's default `COMPLETE`) set in someone's
/// shell would turn every exec credential call into a completion.
pub const VAR: &str = "KUBECTL_BREAKGLASS_COMPLETE";

/// The name people and scripts run; completion scripts call it through PATH, so an
/// upgrade (krew, cargo install) never leaves a script pointing at an old path.
const BIN: &str = "kubectl-breakglass";

/// Answers a completion request and exits, when [`VAR`] asks for one; else returns.
pub fn run_if_asked() {
    if std::env::var_os(VAR).is_none() {
        return;
    }
    let (bash, zsh, fish, powershell) = (
        line::Recorded(&Bash),
        line::Recorded(&Zsh),
        line::Recorded(&Fish),
        line::Recorded(&Powershell),
    );
    let shells: [&dyn EnvCompleter; 5] = [&bash, &zsh, &fish, &powershell, &kubectl::Kubectl];
    CompleteEnv::with_factory(command)
        .var(VAR)
        .bin(BIN)
        .completer(BIN)
        .shells(Shells(&shells))
        .complete();
}

/// The registration script for `shell` (what `completion SHELL` prints).
pub fn script(shell: Shell) -> anyhow::Result<String> {
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
        Shell::Powershell => &Powershell,
    };
    let mut out = Vec::new();
    completer.write_registration(VAR, BIN, BIN, BIN, &mut out)?;
    Ok(String::from_utf8(out)?)
}

/// The CLI definition with the dynamic value completers attached (kept here, so the flag
/// definitions in `cli.rs` stay plain).
fn command() -> clap::Command {
    fn with(values: impl ValueCandidates + 'static) -> ArgValueCandidates {
        ArgValueCandidates::new(values)
    }
    Cli::command()
        .mut_arg("context", |a| a.add(with(candidates::contexts)))
        .mut_subcommand("request", |s| {
            s.mut_arg("role", |a| a.add(with(candidates::roles)))
        })
        .mut_subcommand("drill", |s| {
            s.mut_arg("role", |a| a.add(with(candidates::roles)))
        })
        .mut_subcommand("revoke", |s| {
            s.mut_arg("grant", |a| a.add(with(candidates::live_grants)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_completed_argument_exists() {
        // mut_arg panics on a name that is not there: a renamed flag fails here, not in a shell.
        command().debug_assert();
    }

    #[test]
    fn scripts_call_the_binary_through_path() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Powershell] {
            let text = script(shell).unwrap();
            assert!(text.contains(VAR), "{shell:?}: {text}");
            assert!(text.contains(BIN), "{shell:?}: {text}");
            // `bin_name` is "kubectl breakglass": registering that would hijack kubectl's own completion.
            assert!(!text.contains("kubectl breakglass"), "{shell:?}: {text}");
        }
    }
}
