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
        // Everyone may read the policy; without it the role maxima go unchecked.
        let policy = crate::grant::request::read_policy(&cluster).await.ok();
        let now = chrono::Utc::now();
        let mut report = audit::report(&records, now, since, policy.as_ref());
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
                "To see what a grant did: kubectl breakglass review NAME --audit-log PATH (the API \
                 server's audit log; it joins on {CREDENTIAL_ID_KEY} = the CREDENTIAL-ID column)."
            );
        }
    }
    let on = crate::grant::undo::context_flag(&context);
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
             sweeps it with: kubectl breakglass revoke --all{on}",
            Untrusted(&f.seal),
            Untrusted(&f.why),
        );
    }
    if !report.policy_checked {
        say!("Role maxima not checked: the break-glass policy could not be read.");
    }
    for f in &report.implausible {
        say!(
            "finding: record {} (requested by {}) has implausible times: {}",
            Untrusted(&f.name),
            Untrusted(&f.requester),
            Untrusted(&f.why)
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
    }
    for b in &chain.breaks {
        say!(
            "chain break at {} ({}): {}",
            Untrusted(&b.record),
            b.kind.label(),
            Untrusted(&b.message)
        );
    }
    // Every kind of finding is listed above; the one error line counts them.
    let mut wrong = Vec::new();
    if !chain.intact {
        let at: Vec<String> = chain
            .breaks
            .iter()
            .map(|b| Untrusted(&b.record).to_string())
            .collect();
        wrong.push(format!(
            "the grant record chain is broken at {} ({} break(s): records were deleted, \
             altered or forged)",
            at.join(", "),
            chain.breaks.len()
        ));
    }
    if !report.implausible.is_empty() {
        let mut names: Vec<String> = report
            .implausible
            .iter()
            .map(|f| Untrusted(&f.name).to_string())
            .collect();
        names.dedup();
        wrong.push(format!(
            "{} record(s) have implausible times ({})",
            names.len(),
            names.join(", ")
        ));
    }
    if !seals.findings.is_empty() {
        wrong.push(format!(
            "{} seal(s) serve no live grant (sweep them with: kubectl breakglass revoke --all{on})",
            seals.findings.len()
        ));
    }
    if wrong.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "on {context}: {}; all listed above — keep this output and report it to the cluster \
         admins and your security team",
        wrong.join("; ")
    )
}
