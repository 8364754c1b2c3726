//! `kubectl breakglass audit`: every grant record with its audit-log key, and the hash
//! chain verified; a broken chain is listed in full, then fails the command.

use crate::cli::{AuditArgs, AuditFormat};
use crate::global::Global;
use crate::grant::audit::{self, CREDENTIAL_ID_KEY};
use crate::grant::cluster;
use crate::grant::model::{checkpoint, duration};
use crate::output::{self, audit_jsonl, Format};
use crate::untrusted::Untrusted;

/// Runs `audit`.
pub fn run(global: &Global, args: AuditArgs) -> anyhow::Result<()> {
    let since = args
        .since
        .as_deref()
        .map(|s| duration::parse_flag("--since", s))
        .transpose()?;
    let runtime = crate::runtime::current_thread()?;
    let (context, server, audited) = runtime.block_on(async {
        let cluster = cluster::connect_shared(global, false).await?;
        let audited = audit::audit(&cluster, since).await?;
        anyhow::Ok((
            cluster.context().to_string(),
            cluster.server().to_string(),
            audited,
        ))
    })?;
    let audit::Audited {
        records,
        mut report,
        seals_forbidden: forbidden,
    } = audited;
    if let Some(path) = &args.checkpoint {
        let c = checkpoint::read(path, &server)?;
        report.checkpoint = Some(checkpoint::check(&c, &records));
    }
    match args.output {
        Some(AuditFormat::Json) => output::print(Format::Json, &report)?,
        Some(AuditFormat::Yaml) => output::print(Format::Yaml, &report)?,
        Some(AuditFormat::Jsonl) => {
            let at = crate::grant::model::record::timestamp(chrono::Utc::now());
            output::text_out(&audit_jsonl::lines(&report, &records, &server, &at)?)?
        }
        None if report.records.is_empty() => {
            let when = args
                .since
                .as_deref()
                .map(|s| format!(" started in the last {s}"))
                .unwrap_or_default();
            say!("No grant records{when} on {context}.");
        }
        None => {
            output::text_out(&output::grant_tables::audit(&report.records))?;
            say!(
                "To see what a grant did: kubectl breakglass review NAME --audit-log PATH (the API \
                 server's audit log; it joins on {CREDENTIAL_ID_KEY} = the CREDENTIAL-ID column)."
            );
        }
    }
    let on = crate::grant::context_flag(&context);
    let seals = &report.seals;
    if let Some(why) = &forbidden {
        say!(
            "Seals not checked: only break-glass admins may list them ({})",
            Untrusted(why)
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
    if let Some(v) = &report.checkpoint {
        if v.holds {
            say!(
                "Checkpoint of {} holds: its {} record(s) are unchanged; {} added since.",
                v.taken_at,
                v.checked,
                v.added
            );
        }
        for r in &v.rewritten {
            let how: Vec<&str> = r.how.iter().map(|h| h.label()).collect();
            say!(
                "checkpoint: record {} (sequence {}) was {} since the checkpoint of {}",
                Untrusted(&r.name),
                r.sequence,
                how.join(" and "),
                v.taken_at
            );
        }
    }
    // Every kind of finding is listed above; the one error line counts them.
    let mut wrong = Vec::new();
    if let Some(first) = report.checkpoint.as_ref().and_then(|v| v.rewritten.first()) {
        let v = report.checkpoint.as_ref().expect("checked above");
        let how: Vec<&str> = first.how.iter().map(|h| h.label()).collect();
        wrong.push(format!(
            "the chain was rewritten since the checkpoint of {}: the first rewritten record is \
             {} ({}), {} record(s) in all — someone who could remove the admission policies \
             rewrote history, and the hash chain alone cannot show it",
            v.taken_at,
            Untrusted(&first.name),
            how.join(" and "),
            v.rewritten.len()
        ));
    }
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
    if let Some(path) = &args.checkpoint_out {
        // Never over a rewrite just found: the new checkpoint would launder it.
        if report.checkpoint.as_ref().is_none_or(|v| v.holds) {
            let c = checkpoint::take(&records, &server, chain.intact, chrono::Utc::now());
            checkpoint::write(path, &c)?;
            match &c.head {
                Some(h) => say!(
                    "Checkpoint written to {}: head {} (sequence {}, {}); keep it outside the \
                     cluster and check later with: kubectl breakglass audit --checkpoint {}{on}",
                    path.display(),
                    Untrusted(&h.name),
                    h.sequence,
                    h.digest,
                    path.display()
                ),
                None => say!("Checkpoint written to {} (no records yet).", path.display()),
            }
        } else {
            say!(
                "No checkpoint written to {}: the chain was rewritten since the last one.",
                path.display()
            );
        }
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
