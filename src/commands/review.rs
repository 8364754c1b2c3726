//! `kubectl breakglass review GRANT --audit-log PATH`: what a grant did, from the API
//! server's audit log, joined to its record.

use crate::cli::{ReviewArgs, ReviewFormat};
use crate::global::Global;
use crate::grant::cluster;
use crate::output::{self, Format};
use crate::review::{self, input, report};

/// Runs `review`.
pub fn run(global: &Global, args: ReviewArgs) -> anyhow::Result<()> {
    if args.limit == 0 {
        anyhow::bail!(
            "--limit must be at least 1 (the summary and flags count every event anyway)"
        );
    }
    // Every log is opened before the cluster is asked: a wrong path fails at once.
    let mut sources = input::open_all(&args.audit_log)?;
    let (context, record) = crate::runtime::current_thread()?.block_on(async {
        let cluster = cluster::connect_shared(global, false).await?;
        // The one record, by name: never the whole history.
        let record = cluster::records::read_record(&cluster, &args.grant).await?;
        anyhow::Ok((cluster.context().to_string(), record))
    })?;
    let now = chrono::Utc::now();
    let r = review::review(
        record.as_ref(),
        &args.grant,
        &context,
        &mut sources,
        args.limit,
        now,
    )?;
    match args.output {
        Some(ReviewFormat::Json) => output::print(Format::Json, &r)?,
        Some(ReviewFormat::Yaml) => output::print(Format::Yaml, &r)?,
        Some(ReviewFormat::Markdown) => output::text_out(&report::markdown(&r))?,
        None => output::text_out(&report::text(&r))?,
    }
    if r.log.malformed_lines + r.log.too_long_lines > 0 {
        say!(
            "Skipped {} line(s) of the audit log that were not audit events and {} over 64 MiB.",
            r.log.malformed_lines,
            r.log.too_long_lines
        );
    }
    if let Some(n) = r.flags.get(&review::join::Flag::AfterGrantEnded) {
        say!(
            "warning: {n} call(s) were made with the token after the grant ended: the revocation \
             or expiry did not hold for them — see the flagged events"
        );
    }
    Ok(())
}
