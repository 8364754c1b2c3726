//! `kubectl breakglass drill`: prove the break-glass path works before it is needed.

use crate::cli::DrillArgs;
use crate::global::Global;
use crate::grant::cluster::standby::Via;
use crate::grant::context_flag;
use crate::grant::drill;
use crate::grant::drill::Drill;
use crate::interrupt::{Interrupted, Signal, Signals};
use crate::untrusted::Untrusted;

/// Runs `drill`: the stages with their times on stderr, non-zero when any failed.
pub fn run(global: &Global, args: DrillArgs) -> anyhow::Result<()> {
    let report = crate::runtime::current_thread()?.block_on(async {
        let via = Via::of_flag(args.standby);
        drill::run(global, args.role.as_deref(), via, Signals::listen()).await
    });
    let on = if report.context.is_empty() {
        String::new()
    } else {
        format!(" on {}", report.context)
    };
    say!("Break-glass drill{on}:");
    for s in &report.stages {
        say!(
            "  {}  {:<8}  {:.2} s  {}",
            if s.ok { "PASS" } else { "FAIL" },
            s.name,
            s.seconds,
            Untrusted(&s.detail)
        );
    }
    let total: f64 = report.stages.iter().map(|s| s.seconds).sum();
    match report.failure() {
        None if report.passed() => {
            say!(
                "Drill passed ({total:.2} s in all): grant {} is revoked and recorded as a drill.",
                Untrusted(report.grant.as_deref().unwrap_or("-"))
            );
            Ok(())
        }
        _ if report.interrupted.is_some() => Err(interrupted(&report, on_ctx(&report)).into()),
        failed => {
            let stage = failed.map_or("?", |s| s.name);
            let left = match &report.grant {
                Some(g) => format!(
                    "; grant {g} was taken back (see kubectl breakglass audit{})",
                    on_ctx(&report)
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

fn on_ctx(report: &Drill) -> String {
    context_flag(&report.context)
}

/// A drill stopped by a signal: where, and what became of its grant.
fn interrupted(report: &Drill, on_ctx: String) -> Interrupted {
    let signal = report.interrupted.unwrap_or(Signal::Interrupt);
    let stage = report.stages.iter().find(|s| !s.ok).map_or("?", |s| s.name);
    let grant = match (
        &report.grant,
        report.stages.iter().find(|s| s.name == "revoke"),
    ) {
        (Some(g), Some(r)) if r.ok => {
            format!("; grant {g} is revoked (see kubectl breakglass audit{on_ctx})")
        }
        (Some(g), Some(r)) => format!("; revoking grant {g}: {}", r.detail),
        (Some(g), None) => {
            format!("; grant {g} may be live: run kubectl breakglass revoke {g}{on_ctx}")
        }
        // The stage's own detail says what was cleaned up, or that nothing was created.
        (None, _) => String::new(),
    };
    Interrupted {
        signal,
        message: format!(
            "the break-glass drill was interrupted ({signal}) at stage {stage}{grant}"
        ),
    }
}
