//! `kubectl breakglass status`: live grants — yours, or everyone's with `--all`.

use crate::cli::StatusArgs;
use crate::global::Global;
use crate::grant::cluster::standby::Via;
use crate::grant::{cluster, status};
use crate::output;
use crate::untrusted::Untrusted;

/// Runs `status`.
pub fn run(global: &Global, args: StatusArgs) -> anyhow::Result<()> {
    crate::runtime::current_thread()?.block_on(async {
        // Standby hook (issue 13): the standby credential when the IdP is down.
        let cluster = cluster::standby::connect_via(global, Via::Person).await?;
        let status::Seen {
            me,
            rows,
            warnings,
            notes,
        } = status::status(&cluster, args.all).await?;
        for w in warnings {
            say!("warning: {w}");
        }
        // A grant of yours someone else revoked before it would have expired: say who.
        for note in notes {
            say!("{note}");
        }
        match args.output {
            Some(format) => output::print(format.into(), &rows),
            None if rows.is_empty() => {
                let whose = if args.all {
                    "No live break-glass grants".to_string()
                } else {
                    format!(
                        "{} holds no live break-glass grant",
                        Untrusted(&me.username)
                    )
                };
                say!("{whose} on {}.", cluster.context());
                Ok(())
            }
            None => output::text_out(&output::grant_tables::status(&rows, args.all)),
        }
    })
}
