//! `kubectl breakglass credential`: the exec credential provider.
//!
//! Identity mode serves the person's own ID token. The cache hit is the hot
//! path — kubectl runs us before every command — so it reads
//! `KUBERNETES_EXEC_INFO`, reads the current-account pointer and the entry
//! (for the default `keyring` on Linux: the pointer from the state file, the
//! entry from exactly the keyring login chose — no probing), checks the expiry
//! and prints: no kubeconfig, no network, no async runtime. Only a miss builds
//! a current-thread runtime.

use crate::cli::CredentialArgs;
use crate::exec_credential;
use crate::global::Global;
use crate::identity::{self, IdpSettings};
use crate::secret::Secret;
use anyhow::Context as _;

/// Runs `credential`.
pub fn run(global: &Global, args: CredentialArgs) -> anyhow::Result<()> {
    if args.elevated {
        return super::elevated_credential::run(global, &args);
    }
    let info = exec_credential::read_exec_info()?;
    // The exec entry carries the IdP; only a hand-made entry without it costs a kubeconfig read.
    let settings = match (&args.idp.issuer, &args.idp.client_id) {
        (Some(issuer), Some(client_id)) => {
            identity::require_https(issuer)?;
            IdpSettings {
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                ca_file: args.idp.ca_file.clone(),
                options: args.idp.options.plain(),
            }
        }
        _ => identity::idp_settings(global, &args.idp.plain())?,
    };
    let store = crate::token_cache::open(global.token_cache)?;
    let context_name = global.context.clone().unwrap_or_default();
    if let Some(entry) =
        identity::cached_fresh(&settings, store.as_ref(), chrono::Utc::now(), &context_name)?
    {
        let expires = entry.refresh_at();
        return write(&info, &entry.id_token, expires);
    }
    let id = crate::runtime::current_thread()?.block_on(identity::person_identity(
        &settings,
        store.as_ref(),
        info.interactive,
        &context_name,
    ))?;
    write(&info, &id.id_token, id.expires_at)
}

fn write(
    info: &exec_credential::ExecInfo,
    token: &Secret<String>,
    expires: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    exec_credential::write(info, token, expires)
        .context("cannot write the ExecCredential to stdout")
}
