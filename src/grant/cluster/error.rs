//! What can go wrong talking to the cluster, by kind: callers decide on the variant, never
//! on the wording, and each variant's message says what to do.

/// A failed cluster call, with the step that failed (`doing`) and the next step to take.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// 401: the credentials presented are not accepted.
    #[error(
        "{doing}: the cluster at {server} does not accept your credentials (401 {message}); \
         log in again: kubectl breakglass login --context {context}"
    )]
    Unauthorized {
        doing: String,
        server: String,
        context: String,
        message: String,
    },
    /// 403: RBAC forbids the call.
    #[error(
        "{doing}: forbidden by the cluster's RBAC ({message}); ask a cluster admin \
         (the break-glass RBAC is installed with: kubectl apply -f deploy/)"
    )]
    Forbidden { doing: String, message: String },
    /// 404: the object (or its resource) is not there.
    #[error("{doing}: the cluster answered 404 {reason} ({message})")]
    NotFound {
        doing: String,
        reason: String,
        message: String,
    },
    /// 409: the name is taken (or the object changed meanwhile).
    #[error("{doing}: the cluster answered 409 {reason} ({message})")]
    Conflict {
        doing: String,
        reason: String,
        message: String,
    },
    /// Any other answer from the API server (a 422 from an admission policy, a 500 …).
    #[error("{doing}: the cluster answered {code} {reason} ({message})")]
    Answered {
        doing: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// 410 to a read at a snapshot: the API server no longer holds that version of the
    /// records (it compacts old versions after a few minutes).
    #[error(
        "{doing}: the API server no longer holds the snapshot of the records being read \
         (410 Gone: it keeps old versions for a few minutes only, and records changed \
         meanwhile); run the command again"
    )]
    SnapshotGone { doing: String },
    /// The server's certificate is signed by a CA the kubeconfig does not name.
    #[error(
        "{doing}: the cluster at {server} presented a TLS certificate signed by a CA this \
         machine does not trust (UnknownIssuer); the context {context}'s cluster entry in \
         the kubeconfig needs that CA: set certificate-authority (a PEM file) or \
         certificate-authority-data, e.g. kubectl config set-cluster CLUSTER \
         --certificate-authority=ca.crt --embed-certs"
    )]
    UnknownCa {
        doing: String,
        server: String,
        context: String,
    },
    /// The server's certificate is refused for another reason (expired, another name …).
    #[error(
        "{doing}: the cluster at {server} presented a TLS certificate this machine \
         refuses ({problem}); check that the context {context}'s server URL is the \
         cluster's and that its certificate-authority in the kubeconfig is current"
    )]
    BadCertificate {
        doing: String,
        server: String,
        context: String,
        problem: String,
    },
    /// No answer at all: network, proxy, timeout. The outcome of a write is unknown.
    #[error(
        "{doing}: no answer from the cluster at {server} ({cause}); check your network and \
         the context's server, then try again"
    )]
    Unreachable {
        doing: String,
        server: String,
        cause: String,
    },
    /// No client could be built from the kubeconfig's cluster entry.
    #[error("cannot build a client for {server}: {cause}")]
    NoClient { server: String, cause: String },
    /// The cluster side (CRD, policy, RBAC objects) is not installed.
    #[error("{0}")]
    NotInstalled(String),
    /// The caller may not read the grant records: not a requester, not an admin.
    #[error(
        "reading the grant records: the cluster at {server} does not let you: only members of \
         {groups} and break-glass admins (group breakglass-admins) may; if you should break \
         glass, ask your identity-provider admin to add you"
    )]
    NotARequester { server: String, groups: String },
}

impl ClusterError {
    /// Turns a client error into the kind the caller decides on.
    pub fn from_kube(err: kube::Error, server: &str, context: &str, doing: &str) -> Self {
        let doing = doing.to_string();
        if let kube::Error::Api(s) = &err {
            let (reason, message) = (s.reason.clone(), s.message.clone());
            return match s.code {
                401 => ClusterError::Unauthorized {
                    doing,
                    server: server.to_string(),
                    context: context.to_string(),
                    message,
                },
                403 => ClusterError::Forbidden { doing, message },
                404 => ClusterError::NotFound {
                    doing,
                    reason,
                    message,
                },
                409 => ClusterError::Conflict {
                    doing,
                    reason,
                    message,
                },
                code => ClusterError::Answered {
                    doing,
                    code,
                    reason,
                    message,
                },
            };
        }
        match certificate_problem(&err) {
            Some(rustls::CertificateError::UnknownIssuer) => ClusterError::UnknownCa {
                doing,
                server: server.to_string(),
                context: context.to_string(),
            },
            Some(problem) => ClusterError::BadCertificate {
                doing,
                server: server.to_string(),
                context: context.to_string(),
                problem: format!("{problem:?}"),
            },
            None => ClusterError::Unreachable {
                doing,
                server: server.to_string(),
                cause: cause(&err),
            },
        }
    }

    /// The HTTP status, when the API server answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClusterError::Unauthorized { .. } => Some(401),
            ClusterError::Forbidden { .. } => Some(403),
            ClusterError::NotFound { .. } => Some(404),
            ClusterError::Conflict { .. } => Some(409),
            ClusterError::Answered { code, .. } => Some(*code),
            ClusterError::SnapshotGone { .. } => Some(410),
            _ => None,
        }
    }

    /// Whether the API server answered at all (else a write may or may not have happened).
    pub fn answered(&self) -> bool {
        self.code().is_some()
    }
}

/// The server certificate's fault when the TLS handshake failed on it. Found by type along
/// the error's sources; an `io::Error` hides the error it wraps from `source()` (it returns
/// that error's own source), so its inner error is looked at too.
fn certificate_problem<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::CertificateError> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(rustls::Error::InvalidCertificate(problem)) = e.downcast_ref::<rustls::Error>()
        {
            return Some(problem);
        }
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if let Some(found) = inner.and_then(|i| certificate_problem(i)) {
            return Some(found);
        }
        cur = e.source();
    }
    None
}

/// The error and its innermost cause, the one that names what happened on the wire (kube's
/// and hyper's layers in between repeat or wrap it).
fn cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = err;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    if std::ptr::addr_eq(innermost, err) {
        err.to_string()
    } else {
        format!("{err}: {innermost}")
    }
}

/// Turns a client error into the kind the caller decides on (see [`ClusterError::from_kube`]).
pub fn explain(err: kube::Error, server: &str, context: &str, doing: &str) -> ClusterError {
    ClusterError::from_kube(err, server, context, doing)
}
