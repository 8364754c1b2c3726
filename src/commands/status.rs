//! `kubectl breakglass status`: live grants — yours, or everyone's with `--all`.

use crate::cli::{GlobalArgs, StatusArgs};
use crate::grant::{chain, output, protocol, revoke, status};
use crate::untrusted::Untrusted;

/// Runs `status`.
pub fn run(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<()> {
    output::runtime()?.block_on(async {
        // Standby hook (issue 13): the standby credential when the IdP is down.
        use crate::standby::connect::{connect, Path};
        let (cluster, me) = connect(global, Path::Person, false).await?;
        let records = protocol::list_records(&cluster).await?;
        // An expired grant of yours leaves no seal a new token could be bound to.
        revoke::sweep_expired_own(&cluster, &records, &me.username).await;
        let rows = status::live(&records, &me.username, args.all, chrono::Utc::now());
        if let Some(w) = chain::warning(&records, &cluster.server, &cluster.context) {
            say!("warning: {w}");
        }
        // A grant of yours someone else revoked before it would have expired: say who.
        for note in status::revoked_by_others(&records, &me.username, chrono::Utc::now()) {
            say!("{note}");
        }
        match args.output {
            Some(format) => output::print(format, &rows),
            None if rows.is_empty() => {
                let whose = if args.all {
                    "No live break-glass grants".to_string()
                } else {
                    format!(
                        "{} holds no live break-glass grant",
                        Untrusted(&me.username)
                    )
                };
                say!("{whose} on {}.", cluster.context);
                Ok(())
            }
            None => output::text_out(&status::table(&rows, args.all)),
        }
    })
}
