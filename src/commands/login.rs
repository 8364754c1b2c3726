//! `kubectl breakglass login`: device-code login, verified and cached.

use crate::cli::LoginArgs;
use crate::global::Global;
use crate::identity::token_notes::TokenNote;
use crate::identity::{self, Browser};
use crate::untrusted::Untrusted;

/// Runs `login`.
pub fn run(global: &Global, args: LoginArgs) -> anyhow::Result<()> {
    let settings = identity::idp_settings(global, &args.idp.plain())?;
    let store = crate::token_cache::open_for_login(global.token_cache)?;
    say!(
        "Tokens will be cached in {}.",
        crate::token_cache::describe(store.as_ref())
    );
    let browser = if args.no_browser {
        Browser::Never
    } else {
        Browser::IfPossible
    };
    let runtime = crate::runtime::current_thread()?;
    let outcome = runtime.block_on(identity::login(&settings, store.as_ref(), browser))?;
    if let Some(old) = &outcome.replaced {
        say!(
            "Removed the cached login of {} for this identity provider.",
            Untrusted(old)
        );
    }
    let who = outcome.identity;
    let groups = if who.groups.is_empty() {
        "(none)".to_string()
    } else {
        Untrusted(&who.groups.join(", ")).to_string()
    };
    let left = who.expires_at - chrono::Utc::now();
    say!(
        "Logged in to {} as {}\n  groups: {groups}\n  ID token used until {} ({} from now), then refreshed automatically.",
        settings.issuer,
        Untrusted(&who.email),
        who.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        crate::grant::model::duration::human(std::time::Duration::from_secs(left.num_seconds().max(0) as u64)),
    );
    let notes = TokenNote::of(
        &outcome.token.person,
        &settings.registration().claims,
        outcome.has_refresh_token,
        outcome.token.clock_skew.num_seconds(),
    );
    for note in notes {
        say!("{}: {note}", note.label());
    }
    // Standby hook (issue 13): with a fresh ID token, renew the standby credential.
    runtime.block_on(crate::standby::mint::after_login(global));
    Ok(())
}
