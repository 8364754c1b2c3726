//! What can make a review impossible, each saying what to do next.

/// Why a review could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(
        "cannot read the audit log {path}: {cause} — pass the API server's --audit-log-path \
         file (or a directory of its rotated files, or - for stdin) with --audit-log"
    )]
    Unreadable {
        path: String,
        // In the message, not a #[source]: it would print twice.
        cause: std::io::Error,
    },
    #[error("the directory {path} holds no files — pass the directory of the API server's audit log files")]
    EmptyDirectory { path: String },
    #[error(
        "{path} is not a Kubernetes audit log: none of its {lines} line(s) is an audit.k8s.io/v1 \
         Event or EventList — pass the file the API server's --audit-log-path (or its audit \
         webhook) writes"
    )]
    NotAuditLog { path: String, lines: u64 },
    #[error(
        "no grant record {grant} on {context} — list the records with: kubectl breakglass audit{on}"
    )]
    UnknownGrant {
        grant: String,
        context: String,
        on: String,
    },
    #[error(
        "grant {grant} has no token id (jti): {why}, so nothing was done with it — see the record \
         with: kubectl breakglass audit{on}"
    )]
    NoJti {
        grant: String,
        why: String,
        on: String,
    },
    #[error("{0}")]
    NothingMatched(Box<NoMatch>),
}

/// A log that holds nothing of the grant: what it does cover, and when the grant was.
#[derive(Debug)]
pub struct NoMatch {
    pub grant: String,
    pub jti: String,
    pub events: u64,
    pub first: String,
    pub last: String,
    pub start: String,
    pub end: String,
}

impl std::fmt::Display for NoMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the audit log holds no event of grant {} (JTI={}): its {} event(s) run from {} to \
             {}, the grant from {} to {} — pass the log files that cover the grant's time \
             (several --audit-log flags, or the directory of rotated files)",
            self.grant, self.jti, self.events, self.first, self.last, self.start, self.end
        )
    }
}
