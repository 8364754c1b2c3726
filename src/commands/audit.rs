//! `kubectl breakglass audit`: every grant record with its audit-log key, and the hash
//! chain verified; a broken chain is listed in full, then fails the command.

use crate::cli::{AuditArgs, GlobalArgs};
use crate::grant::audit::{self, CREDENTIAL_ID_KEY};
use crate::grant::{cluster, duration, output, protocol, revoke};
use crate::untrusted::Untrusted;

/// Runs `audit`.
pub fn run(global: &GlobalArgs, args: AuditArgs) -> anyhow::Result<()> {
    let since = args
        .since
        .as_deref()
        .map(|s| duration::parse_flag("--since", s))
        .transpose()?;
    let (context, report) = output::runtime()?.block_on(async {
        let cluster = cluster::connect(global, false).await?;
        let records = protocol::list_records(&cluster).await?;
        let now = chrono::Utc::now();
        let mut report = audit::report(&records, now, since);
        report.seals = match revoke::list_seals(&cluster).await {
            Ok(seals) => audit::check_seals(&records, &seals, now),
            Err(e) => audit::SealCheck {
                checked: false,
                not_checked_because: Some(format!("{e:#}")),
                findings: Vec::new(),
            },
        };
        anyhow::Ok((cluster.context.clone(), report))
    })?;
    match args.output {
        Some(format) => output::print(format, &report)?,
        None if report.records.is_empty() => {
            let when = args
                .since
                .as_deref()
                .map(|s| format!(" started in the last {s}"))
                .unwrap_or_default();
            say!("No grant records{when} on {context}.");
        }
        None => {
            output::text_out(&audit::table(&report.records))?;
            say!(
                "To see what a grant did, search the API server's audit log for annotation \
                 {CREDENTIAL_ID_KEY} = the CREDENTIAL-ID column (JTI=<jti>)."
            );
        }
    }
    let seals = &report.seals;
    if let Some(why) = &seals.not_checked_because {
        say!(
            "Seals not checked: only break-glass admins may list them ({})",
            Untrusted(why.split(" (").next().unwrap_or(why))
        );
    }
    for f in &seals.findings {
        say!(
            "finding: seal {} serves no live grant ({}); a token could be bound to it — an admin \
             sweeps it with: kubectl breakglass revoke --all{}",
            Untrusted(&f.seal),
            Untrusted(&f.why),
            crate::grant::undo::context_flag(&context)
        );
    }
    let chain = &report.chain;
    if chain.intact {
        say!(
            "Hash chain intact: {} record(s) verified{}.",
            chain.records,
            chain
                .head
                .as_ref()
                .map(|h| format!(", newest {}", Untrusted(h)))
                .unwrap_or_default()
        );
        if !seals.findings.is_empty() {
            anyhow::bail!(
                "{} seal(s) on {context} serve no live grant (listed above); sweep them with: \
                 kubectl breakglass revoke --all{}",
                seals.findings.len(),
                crate::grant::undo::context_flag(&context)
            );
        }
        return Ok(());
    }
    for b in &chain.breaks {
        say!(
            "chain break at {} ({}): {}",
            Untrusted(&b.record),
            b.kind.label(),
            Untrusted(&b.message)
        );
    }
    let at: Vec<&str> = chain.breaks.iter().map(|b| b.record.as_str()).collect();
    anyhow::bail!(
        "the grant record chain of {context} is broken at {} ({} problem(s) listed above): records \
         were deleted, altered or forged; keep this output and report it to the cluster admins \
         and your security team",
        at.join(", "),
        chain.breaks.len()
    )
}
