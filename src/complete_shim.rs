//! `kubectl_complete-breakglass`: kubectl (1.26+) runs an executable of this name from
//! PATH to complete `kubectl breakglass ...` (its plugin completion protocol). It hands
//! the words to `kubectl-breakglass` — the one beside it, else the one on PATH — which
//! answers through clap_complete's dynamic completion.
//!
//! A binary rather than a shell script so that it works on Windows too and `cargo
//! install` puts it on PATH with the plugin.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// Must match `completion::VAR` in the plugin.
const VAR: &str = "KUBECTL_BREAKGLASS_COMPLETE";
const PLUGIN: &str = "kubectl-breakglass";

fn main() -> ExitCode {
    let words: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut plugin = Command::new(plugin());
    plugin.env(VAR, "kubectl").arg("--").arg(PLUGIN).args(words);
    // Nothing is printed on failure: kubectl shows this program's stderr in the middle
    // of the person's command line. A non-zero exit makes kubectl offer nothing.
    run(plugin)
}

/// `kubectl-breakglass` in this program's own directory (a krew store, `~/.cargo/bin`, an
/// unpacked archive), so both always come from the same release; else whatever PATH has.
fn plugin() -> PathBuf {
    let name = format!("{PLUGIN}{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .map(|me| me.with_file_name(&name))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

#[cfg(unix)]
fn run(mut plugin: Command) -> ExitCode {
    use std::os::unix::process::CommandExt as _;
    let _ = plugin.exec();
    ExitCode::FAILURE
}

#[cfg(not(unix))]
fn run(mut plugin: Command) -> ExitCode {
    match plugin.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
