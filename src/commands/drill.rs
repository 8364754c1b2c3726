//! `kubectl breakglass drill`: prove the break-glass path works before it is needed.

use crate::cli::{DrillArgs, GlobalArgs};
use crate::grant::{drill, output};

/// Runs `drill`: the stages with their times on stderr, non-zero when any failed.
pub fn run(global: &GlobalArgs, args: DrillArgs) -> anyhow::Result<()> {
    let report = output::runtime()?.block_on(drill::run(global, args.role.as_deref()));
    let on = if report.context.is_empty() {
        String::new()
    } else {
        format!(" on {}", report.context)
    };
    eprintln!("Break-glass drill{on}:");
    for s in &report.stages {
        eprintln!(
            "  {}  {:<8}  {:.2} s  {}",
            if s.ok { "PASS" } else { "FAIL" },
            s.name,
            s.seconds,
            s.detail
        );
    }
    let total: f64 = report.stages.iter().map(|s| s.seconds).sum();
    match report.failure() {
        None if report.passed() => {
            eprintln!(
                "Drill passed ({total:.2} s in all): grant {} is revoked and recorded as a drill.",
                report.grant.as_deref().unwrap_or("-")
            );
            Ok(())
        }
        failed => {
            let stage = failed.map_or("?", |s| s.name);
            let left = match &report.grant {
                Some(g) => format!(
                    "; grant {g} was taken back (see kubectl breakglass audit{on_ctx})",
                    on_ctx = context_flag(&report.context)
                ),
                // A failed request undid itself; its detail says what was cleaned up.
                None if stage == "grant" => String::new(),
                None => "; nothing was created".to_string(),
            };
            anyhow::bail!(
                "the break-glass drill failed at stage {stage}: {}{left}; fix that before \
                 anyone needs to break the glass",
                failed.map_or("", |s| s.detail.as_str())
            )
        }
    }
}

fn context_flag(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" --context {context}")
    }
}
