//! The elevated exec credential: the hot path kubectl runs before every command on a
//! `<context>-breakglass` context. Cache read, expiry check, print; no network, no runtime.

use super::elevated_cache::{self, Miss};
use crate::cli::{CredentialArgs, GlobalArgs};
use crate::exec_credential;

/// Tokens this close to expiry are not served: kubectl would use them past their end.
const MARGIN: chrono::Duration = chrono::Duration::seconds(2);

/// Serves the cached break-glass token for the context, or fails fast saying what to run.
pub fn run(global: &GlobalArgs, args: &CredentialArgs) -> anyhow::Result<()> {
    let info = exec_credential::read_exec_info()?;
    let (server, role, account, context) = match (
        args.server.as_deref(),
        args.role.as_deref(),
        args.account.as_deref(),
        args.origin_context.as_deref(),
    ) {
        (Some(s), Some(r), Some(a), Some(c)) => (s, r, a, c),
        _ => anyhow::bail!(
            "--elevated needs --server, --role, --account and --origin-context; \
             re-create the context with: kubectl breakglass request --reason \"...\""
        ),
    };
    let store = crate::token_cache::open(global.token_cache)?;
    let now = chrono::Utc::now() + MARGIN;
    let entry = match elevated_cache::load(store.as_ref(), server, role, account, now)? {
        Ok(entry) => entry,
        Err(miss) => {
            let why = match miss {
                Miss::Absent => String::new(),
                Miss::Unreadable => " (the cached entry is unreadable)".to_string(),
                Miss::Foreign => " (the cached entry belongs to another grant)".to_string(),
                Miss::Expired(at) => format!(
                    " (the last one expired at {})",
                    super::record::timestamp(at)
                ),
            };
            anyhow::bail!(
                "no active break-glass grant for {context} — run: kubectl breakglass request --context {context} --reason \"...\"{why}"
            );
        }
    };
    exec_credential::write(&info, &elevated_cache::token(&entry), entry.expires_at)?;
    Ok(())
}
