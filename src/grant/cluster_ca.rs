//! The cluster's CA as a fingerprint, which binds a cached elevated token to the cluster it
//! was issued by: a cluster deleted and recreated at the same URL (kind, minikube, a rebuilt
//! cluster behind the same DNS name) has a new CA, so its kubeconfig entry no longer
//! matches the token's and the cache is not served.
//!
//! Both sides read the same bytes: `request` the kubeconfig cluster entry's
//! `certificate-authority-data` (decoded) or `certificate-authority` file, and kubectl passes
//! exactly that in `KUBERNETES_EXEC_INFO` (`spec.cluster.certificate-authority-data`, when
//! the exec entry has `provideClusterInfo: true`). Whitespace is left out of the digest, so
//! line endings and a trailing newline do not matter.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `ca` (PEM), whitespace left out; an empty `ca` (a cluster trusted
/// through the system's roots, or not verified) has a fingerprint too.
pub fn fingerprint(ca: &[u8]) -> String {
    let mut hash = Sha256::new();
    for chunk in ca.split(u8::is_ascii_whitespace) {
        hash.update(chunk);
    }
    format!("sha256:{}", hex::encode(hash.finalize()))
}

/// The fingerprint of the CA kubectl names in `KUBERNETES_EXEC_INFO` (base64, as Go encodes
/// bytes in JSON; `None` when the cluster entry has no CA). Data that is not base64 gets a
/// fingerprint no CA has, so it never matches.
pub fn of_exec_info(ca_data: Option<&str>) -> String {
    let Some(text) = ca_data else {
        return fingerprint(b"");
    };
    match base64::engine::general_purpose::STANDARD.decode(text) {
        Ok(ca) => fingerprint(&ca),
        Err(_) => format!("unreadable:{}", fingerprint(text.as_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAK\nBggqhkjOPQQDAjAjMSEwHwYD\n-----END CERTIFICATE-----\n";

    #[test]
    fn kubectl_and_the_kubeconfig_agree_on_the_same_ca() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(PEM);
        assert_eq!(of_exec_info(Some(&encoded)), fingerprint(PEM.as_bytes()));
        // Line endings and a missing final newline are the same CA.
        let crlf = PEM.replace('\n', "\r\n");
        assert_eq!(
            fingerprint(crlf.trim_end().as_bytes()),
            fingerprint(PEM.as_bytes())
        );
        assert_eq!(of_exec_info(None), fingerprint(b""));
    }

    #[test]
    fn another_ca_or_garbage_never_matches() {
        let other = PEM.replace("MIIBdzCC", "MIIBeDCC");
        assert_ne!(fingerprint(other.as_bytes()), fingerprint(PEM.as_bytes()));
        assert_ne!(fingerprint(PEM.as_bytes()), fingerprint(b""));
        let garbage = of_exec_info(Some("not base64!"));
        assert!(garbage.starts_with("unreadable:"), "{garbage}");
        assert_ne!(garbage, fingerprint(b"not base64!"));
    }
}
