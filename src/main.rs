//! kubectl-breakglass: emergency access to Kubernetes, recorded and revocable.

// On Linux with glibc the C `main` is ours (`process_entry`): std's start-up costs a
// sixth of the exec credential's cache hit.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

#[macro_use]
mod human;
mod browser;
mod build_info;
mod cli;
mod commands;
mod completion;
mod exec_credential;
mod global;
mod grant;
mod identity;
mod idp;
mod interrupt;
mod kubeconfig;
#[cfg(all(target_os = "linux", target_env = "gnu", panic = "abort", not(test)))]
mod no_unwinder;
mod oidc;
mod output;
mod panic_hook;
#[cfg(all(target_os = "linux", target_env = "gnu", not(test)))]
mod process_entry;
mod review;
mod runtime;
mod secret;
mod standby;
mod streamed;
#[cfg(test)]
mod test_support;
mod token_cache;
mod untrusted;

use clap::Parser;
use untrusted::Untrusted;

#[cfg(not(all(target_os = "linux", target_env = "gnu", not(test))))]
fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(run())
}

/// The whole program, from its arguments to its exit code.
fn run() -> u8 {
    panic_hook::install();
    // A completion request (from a shell script or kubectl_complete-breakglass) answers and exits.
    completion::run_if_asked();
    // kubectl's per-command `credential` call is recognised without building a parser.
    let cli = cli::credential_only::parse(std::env::args_os()).unwrap_or_else(cli::Cli::parse);
    match commands::run(cli) {
        Ok(()) => 0,
        Err(err) => {
            report(&err);
            exit_code(&err)
        }
    }
}

/// A command stopped by a signal exits like one (130 for SIGINT); any other failure with 1.
fn exit_code(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<interrupt::Interrupted>() {
        Some(stopped) => stopped.signal.exit_code(),
        None => 1,
    }
}

/// The one place errors reach the person: `error: ...` and each cause once, on stderr, each
/// one line: an error may carry text from the cluster or the identity provider.
fn report(err: &anyhow::Error) {
    say!("error: {}", Untrusted(&err.to_string()));
    for cause in err.chain().skip(1) {
        say!("  caused by: {}", Untrusted(&cause.to_string()));
    }
}
