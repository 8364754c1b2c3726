//! The audit log: one entry per request, with the authenticated user's extra fields
//! (e.g. `authentication.kubernetes.io/credential-id: JTI=...`).

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// RFC 3339 time the request was received.
    pub timestamp: String,
    /// Kubernetes verb (get, list, create, ...) or lower-case HTTP method for non-resource paths.
    pub verb: String,
    pub method: String,
    /// Path with query string.
    pub path: String,
    /// Empty when authentication failed.
    pub user: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The authenticated user when the request impersonated `user` (empty otherwise).
    pub impersonated_by: String,
    /// HTTP response code (0 when the connection was dropped).
    pub code: u16,
}

impl AuditEntry {
    /// The credential id (`JTI=<jti>`) of a service-account token, if the request used one.
    pub fn credential_id(&self) -> Option<&str> {
        self.extra
            .get("authentication.kubernetes.io/credential-id")
            .and_then(|v| v.first())
            .map(String::as_str)
    }
}
