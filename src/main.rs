//! kubectl-breakglass: emergency access to Kubernetes, recorded and revocable.

#[macro_use]
mod human;
mod browser;
mod build_info;
mod cli;
mod clock;
mod commands;
mod completion;
mod exec_credential;
mod grant;
mod identity;
mod kubeconfig;
mod oidc;
mod review;
mod secret;
mod standby;
#[cfg(test)]
mod test_support;
mod token_cache;
mod untrusted;

use clap::Parser;
use std::process::ExitCode;
use untrusted::Untrusted;

fn main() -> ExitCode {
    // A completion request (from a shell script or kubectl_complete-breakglass) answers and exits.
    completion::run_if_asked();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err);
            exit_code(&err)
        }
    }
}

/// A command stopped by a signal exits like one (130 for SIGINT); any other failure with 1.
fn exit_code(err: &anyhow::Error) -> ExitCode {
    match err.downcast_ref::<grant::interrupt::Interrupted>() {
        Some(stopped) => ExitCode::from(stopped.signal.exit_code()),
        None => ExitCode::FAILURE,
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
