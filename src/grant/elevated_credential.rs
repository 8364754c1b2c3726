//! The elevated exec credential: the hot path kubectl runs before every command on a
//! `<context>-breakglass` context. Cache read, expiry check, print; no network, no runtime.
//! Only a miss with a person at the terminal (`spec.interactive`) offers to break the glass.

use super::elevated_cache::{self, Miss};
use crate::cli::{CredentialArgs, GlobalArgs, RequestArgs};
use crate::exec_credential;
use std::io::{BufRead, Write};

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
            let fail_fast = anyhow::anyhow!(
                "no active break-glass grant for {context} — run: kubectl breakglass request --context {context} --reason \"...\"{why}"
            );
            if !info.interactive {
                return Err(fail_fast);
            }
            match offer(global, context, role)? {
                false => return Err(fail_fast),
                true => {
                    let now = chrono::Utc::now() + MARGIN;
                    match elevated_cache::load(store.as_ref(), server, role, account, now)? {
                        Ok(entry) => entry,
                        Err(_) => anyhow::bail!(
                            "the new grant is not for {account} on {server}, whom context {context}-breakglass \
                             serves; log in as {account} and run: kubectl breakglass request --context {context} --reason \"...\""
                        ),
                    }
                }
            }
        }
    };
    exec_credential::write(&info, &elevated_cache::token(&entry), entry.expires_at)?;
    Ok(())
}

/// Asks the person at the terminal for a reason (and ticket) and breaks the glass for
/// `role` on `context`; `false` when they decline.
fn offer(global: &GlobalArgs, context: &str, role: &str) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    let ask = |prompt: &str| -> anyhow::Result<String> {
        say_partial!("{prompt}");
        std::io::stderr().flush()?;
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        Ok(line.trim().to_string())
    };
    say!("kubectl-breakglass: no active break-glass grant for {context}.");
    let reason = ask(&format!(
        "Break the glass now as {role}? Why (recorded in the cluster; Enter to cancel): "
    ))?;
    if reason.is_empty() {
        return Ok(false);
    }
    let ticket = ask("Ticket or incident id (Enter for none): ")?;
    let global = GlobalArgs {
        context: Some(context.to_string()),
        ..global.clone()
    };
    let args = RequestArgs {
        reason: Some(reason),
        ticket: (!ticket.is_empty()).then_some(ticket),
        role: Some(role.to_string()),
        duration: None,
        // Rewrites the context kubectl is using with the same content.
        no_kubeconfig: false,
        additional: false,
        output: None,
    };
    super::request::run(&global, &args)?;
    Ok(true)
}
