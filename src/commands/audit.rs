//! `kubectl breakglass audit`: every grant record with its audit-log key, and the hash
//! chain verified; a broken chain is listed in full, then fails the command.

use crate::cli::{AuditArgs, AuditFormat};
use crate::global::Global;
use crate::grant::audit::{self, CREDENTIAL_ID_KEY};
use crate::grant::cluster;
use crate::grant::history::History;
use crate::grant::model::checkpoint::{self, Link};
use crate::grant::model::duration;
use crate::output::{self, audit_jsonl, grant_tables, safe_format};
use crate::streamed::Streamed;
use crate::untrusted::Untrusted;
use std::io::Write as _;

/// Runs `audit`.
pub fn run(global: &Global, args: AuditArgs) -> anyhow::Result<()> {
    let since = args
        .since
        .as_deref()
        .map(|s| duration::parse_flag("--since", s))
        .transpose()?;
    let runtime = crate::runtime::current_thread()?;
    let cluster = runtime.block_on(cluster::connect_shared(global, false))?;
    let (context, server) = (cluster.context().to_string(), cluster.server().to_string());
    let checkpoint = args
        .checkpoint
        .as_ref()
        .map(|path| checkpoint::read(path, &server))
        .transpose()?;
    let history = History::new(&runtime, &*cluster, audit::page_size());
    // A table's widths need every row: measured in the first walk, written in the second.
    let table = args.output.is_none();
    let mut widths = output::Columns::default();
    widths.measure(&grant_tables::audit_header());
    let audited = audit::audit(
        &history,
        since,
        checkpoint.as_ref(),
        chrono::Utc::now(),
        &mut |e| {
            if table {
                widths.measure(&grant_tables::audit_row(e))
            }
        },
    )?;
    let mut out = output::stdout();
    match args.output {
        Some(AuditFormat::Json) => {
            let records = Streamed::new(audited.entries());
            if let Err(e) = safe_format::json_to(&mut out, &audited.report(&records)) {
                return Err(records.failure().map_or_else(|| e.into(), Into::into));
            }
        }
        Some(AuditFormat::Yaml) => {
            let head = audited.report(Vec::<audit::Entry>::new());
            let records = audited
                .entries()
                .map(|e| anyhow::Ok(serde_json::to_value(e?)?));
            safe_format::yaml_to(&mut out, &head, "records", records)?;
        }
        Some(AuditFormat::Jsonl) => {
            let at = crate::grant::model::record::timestamp(chrono::Utc::now());
            let found = &audited.found;
            let verdicts = audit_jsonl::Verdicts::of(&found.chain, &found.implausible);
            for g in audited.shown() {
                let g = g?;
                let line = audit_jsonl::line(&g, &audited.entry(&g), &verdicts, &server, &at)?;
                out.write_all(line.as_bytes())?;
            }
        }
        None if audited.found.shown == 0 => {
            let when = args
                .since
                .as_deref()
                .map(|s| format!(" started in the last {s}"))
                .unwrap_or_default();
            say!("No grant records{when} on {context}.");
        }
        None => {
            out.write_all(widths.line(&grant_tables::audit_header()).as_bytes())?;
            for e in audited.entries() {
                out.write_all(widths.line(&grant_tables::audit_row(&e?)).as_bytes())?;
            }
            out.flush()?;
            say!(
                "To see what a grant did: kubectl breakglass review NAME --audit-log PATH (the API \
                 server's audit log; it joins on {CREDENTIAL_ID_KEY} = the CREDENTIAL-ID column)."
            );
        }
    }
    out.flush()?;
    let report = &audited.found;
    let forbidden = &report.seals_forbidden;
    let on = crate::grant::context_flag(&context);
    let seals = &report.seals;
    if let Some(why) = &forbidden {
        say!(
            "Seals not checked: the cluster's RBAC does not let you list them ({}); requesters \
             may with deploy/05-requester-rbac.yaml of this version, break-glass admins always",
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
            let links = Streamed::new(audited.all().map(|g| g.map(|g| Link::of(&g))));
            let now = chrono::Utc::now();
            let c = checkpoint::taken(&links, report.head.as_ref(), &server, chain.intact, now);
            if let Err(e) = checkpoint::write(path, &c) {
                return Err(links.failure().map_or_else(|| e.into(), Into::into));
            }
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
