//! `kubectl breakglass version`: what this binary is, for bug reports and rollouts.

use crate::build_info;
use crate::cli::VersionArgs;
use crate::global::Global;
use crate::output;

/// Runs `version`: text, or `-o json|yaml`, on stdout (it is the command's result).
pub fn run(_global: &Global, args: VersionArgs) -> anyhow::Result<()> {
    let info = build_info::get();
    match args.output {
        Some(format) => output::print(format.into(), &info),
        None => output::text_out(&info.text()),
    }
}
