//! The person's own identity: which IdP, the cached login, and how to get a
//! valid ID token (cache → refresh under a lock → device flow).

pub mod cluster_check;
mod device_login;
pub mod entry;
pub mod token_notes;

pub use crate::idp::{IdpOptions, PartialIdp};
pub use device_login::Browser;

use crate::global::Global;
use crate::oidc::{self, ClaimNames, OidcError, Provider, Registration, VerifiedIdToken};
use crate::secret::Secret;
use crate::token_cache::{self, CacheError, CacheKey, TokenStore};
use chrono::{DateTime, Utc};
use entry::Entry;
use std::path::PathBuf;

/// Where the person logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpSettings {
    /// OIDC issuer URL.
    pub issuer: String,
    /// OIDC client id.
    pub client_id: String,
    /// A private CA for the issuer.
    pub ca_file: Option<PathBuf>,
    /// Scopes, client secret, claims and audience, as given.
    pub options: IdpOptions,
}

impl IdpSettings {
    /// The client as the IdP knows it, with the defaults filled in.
    pub fn registration(&self) -> Registration {
        let defaults = ClaimNames::default();
        Registration {
            client_id: self.client_id.clone(),
            client_secret: self.options.client_secret.clone(),
            extra_scopes: self.options.scopes.clone(),
            audience: self.options.audience.clone(),
            claims: ClaimNames {
                username: self
                    .options
                    .username_claim
                    .clone()
                    .unwrap_or(defaults.username),
                groups: self.options.groups_claim.clone().unwrap_or(defaults.groups),
            },
        }
    }
}

/// Options from the command line win, field by field, over those of the exec entry.
fn merge_options(flags: &IdpOptions, entry: IdpOptions) -> IdpOptions {
    IdpOptions {
        scopes: if flags.scopes.is_empty() {
            entry.scopes
        } else {
            flags.scopes.clone()
        },
        client_secret: flags.client_secret.clone().or(entry.client_secret),
        username_claim: flags.username_claim.clone().or(entry.username_claim),
        groups_claim: flags.groups_claim.clone().or(entry.groups_claim),
        audience: flags.audience.clone().or(entry.audience),
    }
}

/// A valid ID token and who it says the person is.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The ID token, to present to the API server as a bearer token.
    pub id_token: Secret<String>,
    /// `email`, else `sub`.
    pub email: String,
    /// `groups`.
    pub groups: Vec<String>,
    /// Stop using the token at this time (its `exp` minus a safety margin).
    pub expires_at: DateTime<Utc>,
}

/// Why there is no identity to serve without asking the person.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Nothing usable cached, and we may not ask.
    #[error("not logged in to {issuer} ({why}) — run: {hint}")]
    NotLoggedIn {
        issuer: String,
        why: String,
        hint: String,
    },
    /// The IdP answered a refresh with no ID token, and we may not ask.
    #[error("the identity provider {issuer} answered the refresh of your login without an ID token (it sends only an access token on refresh), so there is no new ID token for the cluster — log in again: {hint}")]
    RefreshWithoutIdToken { issuer: String, hint: String },
    /// The identity provider could not be asked (unreachable, or failing) and the cached ID
    /// token has expired: the one case where `request` may break the glass with the standby
    /// credential instead (never when simply logged out or refused).
    #[error(
        "cannot refresh your login to {issuer} (the cached ID token expired at {expired}); try \
         again, or run: {hint}"
    )]
    IdpUnavailable {
        issuer: String,
        expired: String,
        hint: String,
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Refuses an issuer that is not `https://`: ID and refresh tokens never travel in plain text.
pub fn require_https(issuer: &str) -> anyhow::Result<()> {
    let scheme_ok = issuer
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if !scheme_ok {
        anyhow::bail!(
            "the issuer {issuer:?} is not an https:// URL: OAuth tokens are never sent in plain \
             text, not even to localhost; use the identity provider's https:// issuer URL (with \
             --ca-file PATH for a private CA)"
        );
    }
    Ok(())
}

/// The IdP for a command: flags win, else the context's exec entry.
pub fn idp_settings(global: &Global, flags: &PartialIdp) -> anyhow::Result<IdpSettings> {
    let settings = idp_settings_unchecked(global, flags)?;
    require_https(&settings.issuer)?;
    Ok(settings)
}

fn idp_settings_unchecked(global: &Global, flags: &PartialIdp) -> anyhow::Result<IdpSettings> {
    if let (Some(issuer), Some(client_id)) = (&flags.issuer, &flags.client_id) {
        return Ok(IdpSettings {
            issuer: issuer.clone(),
            client_id: client_id.clone(),
            ca_file: flags.ca_file.clone(),
            options: flags.options.clone(),
        });
    }
    let loaded = crate::kubeconfig::load(global).map_err(|e| {
        match e.downcast_ref::<crate::kubeconfig::NoKubeconfig>() {
            // Without a kubeconfig the IdP can still be named on the command line.
            Some(missing) => anyhow::anyhow!(
                "{}; pass --kubeconfig PATH, or name the identity provider with --issuer URL --client-id ID",
                missing.what()
            ),
            None => e,
        }
    })?;
    let ctx = loaded.context(global.context.as_deref())?;
    let from_ctx = ctx.idp.clone().unwrap_or_default();
    let missing = |what: &str| {
        anyhow::anyhow!(
            "no OIDC {what} for context {:?}: its user {:?} does not run `kubectl-breakglass credential --issuer URL --client-id ID`; \
             pass --issuer URL --client-id ID (and --ca-file PATH for a private CA), or choose a break-glass context with --context",
            ctx.name,
            ctx.user_name
        )
    };
    Ok(IdpSettings {
        issuer: flags
            .issuer
            .clone()
            .or(from_ctx.issuer)
            .ok_or_else(|| missing("issuer"))?,
        client_id: flags
            .client_id
            .clone()
            .or(from_ctx.client_id)
            .ok_or_else(|| missing("client id"))?,
        ca_file: flags.ca_file.clone().or(from_ctx.ca_file),
        options: merge_options(&flags.options, from_ctx.options),
    })
}

/// The command that logs in again, for error messages.
pub fn login_hint(settings: &IdpSettings, context_name: &str) -> String {
    if !context_name.is_empty() {
        return format!("kubectl breakglass login --context {context_name}");
    }
    let mut hint = format!(
        "kubectl breakglass login --issuer {} --client-id {}",
        settings.issuer, settings.client_id
    );
    if let Some(ca) = &settings.ca_file {
        hint.push_str(&format!(" --ca-file {}", ca.display()));
    }
    let o = &settings.options;
    for scope in &o.scopes {
        hint.push_str(&format!(" --scope {scope}"));
    }
    if o.client_secret.is_some() {
        // The person has it; it is never printed.
        hint.push_str(" --client-secret SECRET");
    }
    for (flag, value) in [
        ("--username-claim", &o.username_claim),
        ("--groups-claim", &o.groups_claim),
        ("--audience", &o.audience),
    ] {
        if let Some(v) = value {
            hint.push_str(&format!(" {flag} {v}"));
        }
    }
    hint
}

/// The hot path: the cached entry if its ID token may still be served.
/// No network, no async runtime.
pub fn cached_fresh(
    settings: &IdpSettings,
    store: &dyn TokenStore,
    now: DateTime<Utc>,
    context_name: &str,
) -> anyhow::Result<Option<Entry>> {
    let entry = load_cached(settings, store, context_name)?;
    Ok(entry.filter(|e| e.is_fresh(now)))
}

/// The current account's cached entry, fresh or not; no network.
pub fn cached(
    settings: &IdpSettings,
    store: &dyn TokenStore,
    context_name: &str,
) -> anyhow::Result<Option<Entry>> {
    load_cached(settings, store, context_name)
}

/// The current account's cached entry; a keyring that holds it but cannot be reached
/// now (locked, another session's) is named with what to do, never taken for "absent".
fn load_cached(
    settings: &IdpSettings,
    store: &dyn TokenStore,
    context_name: &str,
) -> anyhow::Result<Option<Entry>> {
    entry::load(store, &settings.issuer, &settings.client_id).map_err(|e| match e {
        CacheError::Unreachable { backend, reason } => anyhow::anyhow!(
            "{} holding your login to {} is locked or gone ({reason}) — unlock it, or run: {}",
            token_cache::label(backend),
            settings.issuer,
            login_hint(settings, context_name)
        ),
        e => e.into(),
    })
}

/// A valid ID token: cached, else refreshed (one refresh for all concurrent
/// callers), else — only when `interactive` — a device-flow login on stderr.
pub async fn person_identity(
    settings: &IdpSettings,
    store: &dyn TokenStore,
    interactive: bool,
    context_name: &str,
) -> anyhow::Result<Identity> {
    if let Some(e) = cached_fresh(settings, store, Utc::now(), context_name)? {
        return Ok(identity(&e));
    }
    let _lock = token_cache::lock(&CacheKey::current_account(
        &settings.issuer,
        &settings.client_id,
    ))?;
    // Whoever held the lock before us may have refreshed already.
    let cached = load_cached(settings, store, context_name)?;
    if let Some(e) = cached.as_ref().filter(|e| e.is_fresh(Utc::now())) {
        return Ok(identity(e));
    }
    let http = oidc::client(settings.ca_file.as_deref())?;
    let mut provider: Option<Provider> = None;
    let why = match cached
        .as_ref()
        .and_then(|e| e.refresh_token.clone().map(|rt| (e, rt)))
    {
        None if cached.is_some() => {
            "the cached login has expired and has no refresh token".to_string()
        }
        None => "no cached login".to_string(),
        Some((old, refresh_token)) => {
            // The IdP cannot be asked (down, unreachable, erring): a token that has not really
            // expired still works at the API server, so it is served until it does — an IdP
            // outage must not stop anyone revoking their own grant.
            let cannot = |e: anyhow::Error| match still_valid(old, Utc::now()) {
                Some(until) => {
                    say!(
                        "warning: cannot refresh your login to {} ({}); using the cached ID token \
                         until it expires at {}",
                        settings.issuer,
                        crate::untrusted::Untrusted(&format!("{e:#}")),
                        until.to_rfc3339()
                    );
                    Ok(Identity {
                        expires_at: until,
                        ..identity(old)
                    })
                }
                // Standby hook (issue 13): `request` falls back to the standby credential on
                // exactly this kind — the IdP unreachable or failing.
                None => Err(IdentityError::IdpUnavailable {
                    issuer: settings.issuer.clone(),
                    expired: old.expires().to_rfc3339(),
                    hint: login_hint(settings, context_name),
                    cause: e.into(),
                }
                .into()),
            };
            let p = match discover(&http, settings).await {
                Ok(p) => p,
                Err(e) => return cannot(e),
            };
            let reg = settings.registration();
            match oidc::refresh(&http, &p, &reg, &refresh_token).await {
                Ok(tokens) => {
                    // A rotated refresh token replaces the old one now, whatever else the
                    // answer holds: the old one is spent at the IdP.
                    let refresh_token = tokens.refresh_token.or_else(|| old.refresh_token.clone());
                    match tokens.id_token {
                        Some(id_token) => {
                            match verified_entry(&p, settings, id_token, refresh_token.clone()) {
                                Ok((fresh, _)) => {
                                    entry::save(
                                        store,
                                        &settings.issuer,
                                        &settings.client_id,
                                        &fresh,
                                    )?;
                                    return Ok(identity(&fresh));
                                }
                                Err(e) => {
                                    keep_refresh_token(store, settings, old, refresh_token)?;
                                    return Err(e.into());
                                }
                            }
                        }
                        None => {
                            keep_refresh_token(store, settings, old, refresh_token)?;
                            if !interactive {
                                return Err(IdentityError::RefreshWithoutIdToken {
                                    issuer: settings.issuer.clone(),
                                    hint: login_hint(settings, context_name),
                                }
                                .into());
                            }
                            provider = Some(p);
                            "the refresh answer had no ID token".to_string()
                        }
                    }
                }
                Err(OidcError::RefreshRejected { .. }) => {
                    provider = Some(p);
                    "refresh token expired or revoked".to_string()
                }
                Err(e) => return cannot(e.into()),
            }
        }
    };
    if !interactive {
        let hint = match store.name() {
            // Nothing is ever cached: only an interactive call can log in.
            "none" => "choose a token cache other than `none` (--token-cache / BREAKGLASS_TOKEN_CACHE), then: ".to_string()
                + &login_hint(settings, context_name),
            // The opt-in file is not where a plain `login` looks.
            "file" => login_hint(settings, context_name) + " --token-cache file",
            _ => login_hint(settings, context_name),
        };
        return Err(IdentityError::NotLoggedIn {
            issuer: settings.issuer.clone(),
            why,
            hint,
        }
        .into());
    }
    let provider = match provider {
        Some(p) => p,
        None => discover(&http, settings).await?,
    };
    say!(
        "kubectl-breakglass: not logged in to {} ({why}); starting a device login.",
        settings.issuer
    );
    let (fresh, _) = device_login(&http, &provider, settings, Browser::Never).await?;
    entry::save(store, &settings.issuer, &settings.client_id, &fresh)?;
    Ok(identity(&fresh))
}

/// Saves a rotated refresh token beside the old ID token, so that it is not lost when the
/// rest of a refresh answer cannot be used.
fn keep_refresh_token(
    store: &dyn TokenStore,
    settings: &IdpSettings,
    old: &Entry,
    refresh_token: Option<Secret<String>>,
) -> anyhow::Result<()> {
    if refresh_token != old.refresh_token {
        let kept = Entry {
            refresh_token,
            ..old.clone()
        };
        entry::save(store, &settings.issuer, &settings.client_id, &kept)?;
    }
    Ok(())
}

/// A device-flow login, verified: the cache entry and what the token says.
async fn device_login(
    http: &reqwest::Client,
    provider: &Provider,
    settings: &IdpSettings,
    browser: Browser,
) -> Result<(Entry, VerifiedIdToken), OidcError> {
    let reg = settings.registration();
    let tokens = device_login::run(http, provider, &reg, browser).await?;
    let id_token = tokens.id_token.ok_or_else(|| OidcError::Missing {
        what: "id_token",
        client_id: settings.client_id.clone(),
    })?;
    verified_entry(provider, settings, id_token, tokens.refresh_token)
}

/// What `login` did.
#[derive(Debug)]
pub struct LoginOutcome {
    /// Who is now logged in.
    pub identity: Identity,
    /// What the ID token says, for the checks `login` reports.
    pub token: VerifiedIdToken,
    /// Whether the IdP issued a refresh token.
    pub has_refresh_token: bool,
    /// The account whose cached login this one replaced, if another.
    pub replaced: Option<String>,
}

/// A fresh login through the device flow (`kubectl breakglass login`), cached
/// on success. Another account's login for the same IdP is removed: one
/// person is logged in per issuer + client, and no stale refresh token lingers.
pub async fn login(
    settings: &IdpSettings,
    store: &dyn TokenStore,
    browser: Browser,
) -> Result<LoginOutcome, LoginError> {
    let failed = |e: &dyn std::error::Error| LoginError::Failed {
        issuer: settings.issuer.clone(),
        why: with_causes(e),
    };
    let http = oidc::client(settings.ca_file.as_deref()).map_err(|e| failed(&e))?;
    let provider = oidc::discover(&http, &settings.issuer)
        .await
        .map_err(|e| failed(&e))?;
    let (fresh, token) = device_login(&http, &provider, settings, browser)
        .await
        .map_err(|e| failed(&e))?;
    let _lock = token_cache::lock(&CacheKey::current_account(
        &settings.issuer,
        &settings.client_id,
    ))
    .map_err(|e| failed(&e))?;
    let not_cached = |source: CacheError| LoginError::NotCached {
        store: token_cache::describe(store),
        source,
    };
    let previous =
        entry::current_account(store, &settings.issuer, &settings.client_id).map_err(not_cached)?;
    entry::save(store, &settings.issuer, &settings.client_id, &fresh).map_err(not_cached)?;
    let mut replaced = None;
    if let Some(old) = previous.filter(|old| *old != fresh.account) {
        store
            .delete(&CacheKey::identity(
                &settings.issuer,
                &settings.client_id,
                &old,
            ))
            .map_err(|e| failed(&e))?;
        replaced = Some(old);
    }
    Ok(LoginOutcome {
        identity: identity(&fresh),
        token,
        has_refresh_token: fresh.refresh_token.is_some(),
        replaced,
    })
}

/// Why `login` failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The identity provider, the device flow or the cache lock failed: nothing was cached.
    #[error("login to {issuer} failed: {why}")]
    Failed { issuer: String, why: String },
    /// The login itself worked, but the tokens could not be kept.
    #[error("logged in, but cannot cache the tokens in {store}")]
    NotCached { store: String, source: CacheError },
}

/// An error and each of its causes, in one line.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push_str(&format!(": {c}"));
        cause = c.source();
    }
    out
}

async fn discover(http: &reqwest::Client, settings: &IdpSettings) -> anyhow::Result<Provider> {
    Ok(oidc::discover(http, &settings.issuer).await?)
}

/// Verifies the ID token and makes the cache entry; nothing is stored on failure.
fn verified_entry(
    provider: &Provider,
    settings: &IdpSettings,
    id_token: Secret<String>,
    refresh_token: Option<Secret<String>>,
) -> Result<(Entry, VerifiedIdToken), OidcError> {
    let claims = oidc::verify_id_token(
        provider,
        &settings.registration(),
        id_token.expose(),
        Utc::now(),
    )?;
    let entry = Entry {
        v: 1,
        account: claims
            .person
            .username
            .clone()
            .unwrap_or_else(|| claims.subject.clone()),
        email: claims.email.clone(),
        groups: claims.person.groups.clone(),
        id_token,
        issued_at: claims.issued_at.timestamp(),
        expires_at: claims.expires_at.timestamp(),
        refresh_token,
        clock_skew: claims.clock_skew.num_seconds(),
    };
    Ok((entry, claims))
}

/// Tokens this close to their real expiry are not served even in an IdP outage: kubectl
/// would present them past their end.
const LAST_RESORT_MARGIN: chrono::Duration = chrono::Duration::seconds(2);

/// The real expiry of the cached ID token, if it is still comfortably ahead of `now`.
fn still_valid(e: &Entry, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let until = e.expires();
    (until - LAST_RESORT_MARGIN > now).then_some(until)
}

fn identity(e: &Entry) -> Identity {
    Identity {
        id_token: e.id_token.clone(),
        email: e.account.clone(),
        groups: e.groups.clone(),
        expires_at: e.refresh_at(),
    }
}
