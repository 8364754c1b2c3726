//! `kubectl breakglass completion SHELL`: the script that makes `kubectl-breakglass <TAB>`
//! complete in that shell (it calls the binary back for every completion).

use crate::cli::CompletionArgs;
use crate::global::Global;
use crate::output;

/// Runs `completion`: the script on stdout, to be sourced or saved by the person.
pub fn run(_global: &Global, args: CompletionArgs) -> anyhow::Result<()> {
    output::text_out(&crate::completion::script(args.shell)?)
}
