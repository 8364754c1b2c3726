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
//!
//! The digest is FNV-1a (64 bits): it tells an accidental change of CA apart, which is all
//! it is for (whoever can write the kubeconfig chooses the server anyway), and it is what
//! the cache hit can afford. SHA-256 of a 1.1 KB RSA CA cost 64k instructions there (18
//! compressions in software, as callgrind counts it), a fifth of the whole hit; this costs
//! a few per byte.

use base64::Engine as _;

/// `fnv1a64:<hex>` of `ca` (PEM), whitespace left out; an empty `ca` (a cluster trusted
/// through the system's roots, or not verified) has a fingerprint too.
pub fn fingerprint(ca: &[u8]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let digest = ca
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    format!("fnv1a64:{digest:016x}")
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

    /// FNV-1a's published test vectors (64-bit).
    #[test]
    fn is_fnv1a_64() {
        assert_eq!(fingerprint(b""), "fnv1a64:cbf29ce484222325");
        assert_eq!(fingerprint(b"a"), "fnv1a64:af63dc4c8601ec8c");
        assert_eq!(fingerprint(b"foobar"), "fnv1a64:85944171f73967e8");
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
