//! Who we are at the identity provider: the client id (and a secret where one is
//! demanded), the scopes we ask for, the audience the ID token is for, and the claims we
//! read from it.

use super::Provider;
use crate::secret::Secret;

/// The scopes always asked for: the ID token, the person's email, and a refresh token.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "offline_access"];

/// The claims the plugin reads, like the API server's `claimMappings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// The claim that names the person (default `email`).
    pub username: String,
    /// The claim that lists the person's groups (default `groups`).
    pub groups: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        ClaimNames {
            username: "email".into(),
            groups: "groups".into(),
        }
    }
}

/// The client as registered at the IdP, and what we ask it for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub client_id: String,
    /// Sent in the request body (`client_secret_post`) when set; never shown.
    pub client_secret: Option<Secret<String>>,
    /// Scopes asked for on top of [`DEFAULT_SCOPES`].
    pub extra_scopes: Vec<String>,
    /// The `aud` the ID token may carry instead of the client id; sent as `audience`.
    pub audience: Option<String>,
    pub claims: ClaimNames,
}

impl Registration {
    /// A public client that asks for the default scopes only.
    #[cfg(test)]
    pub fn public(client_id: &str) -> Registration {
        Registration {
            client_id: client_id.to_string(),
            client_secret: None,
            extra_scopes: Vec::new(),
            audience: None,
            claims: ClaimNames::default(),
        }
    }

    /// The scopes to ask `provider` for: the defaults, then the person's, each once.
    /// `offline_access` is left out when the provider publishes `scopes_supported` without
    /// it: such a provider (Google) refuses it, and hands out refresh tokens without it.
    pub fn scopes(&self, provider: &Provider) -> Vec<String> {
        let unsupported = |s: &str| {
            s == "offline_access"
                && provider
                    .scopes_supported
                    .as_ref()
                    .is_some_and(|supported| !supported.iter().any(|x| x == s))
        };
        let mut out: Vec<String> = Vec::new();
        for s in DEFAULT_SCOPES
            .iter()
            .map(|s| s.to_string())
            .chain(self.extra_scopes.iter().cloned())
        {
            if !out.contains(&s) && !unsupported(&s) {
                out.push(s);
            }
        }
        out
    }

    /// `client_id`, and `client_secret` when one is configured.
    pub(crate) fn client_auth(&self) -> Vec<(&'static str, &str)> {
        let mut form = vec![("client_id", self.client_id.as_str())];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.expose().as_str()));
        }
        form
    }

    /// Text from the IdP with the client secret cut out, should the IdP echo it.
    pub(crate) fn scrub(&self, text: String) -> String {
        match &self.client_secret {
            Some(secret) if !secret.expose().is_empty() => {
                text.replace(secret.expose().as_str(), "(client secret)")
            }
            _ => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::core::CoreJsonWebKeySet;

    fn provider(supported: Option<&[&str]>) -> Provider {
        Provider {
            issuer: "https://idp".into(),
            device_authorization_endpoint: None,
            token_endpoint: "https://idp/token".into(),
            jwks: CoreJsonWebKeySet::new(vec![]),
            scopes_supported: supported.map(|s| s.iter().map(|x| x.to_string()).collect()),
        }
    }

    #[test]
    fn defaults_first_then_the_persons_scopes_once_each() {
        let mut reg = Registration::public("c");
        reg.extra_scopes = vec!["groups".into(), "email".into(), "profile".into()];
        assert_eq!(
            reg.scopes(&provider(None)),
            ["openid", "email", "offline_access", "groups", "profile"]
        );
    }

    #[test]
    fn offline_access_only_where_the_provider_supports_it() {
        let reg = Registration::public("c");
        // Google publishes scopes_supported without offline_access and refuses it.
        assert_eq!(
            reg.scopes(&provider(Some(&["openid", "email", "profile"]))),
            ["openid", "email"]
        );
        assert_eq!(
            reg.scopes(&provider(Some(&["openid", "email", "offline_access"]))),
            ["openid", "email", "offline_access"]
        );
    }

    #[test]
    fn the_secret_is_sent_but_never_shown() {
        let mut reg = Registration::public("c");
        assert_eq!(reg.client_auth(), [("client_id", "c")]);
        reg.client_secret = Some(Secret::new("GOCSPX-s3cr3t".into()));
        assert_eq!(
            reg.client_auth(),
            [("client_id", "c"), ("client_secret", "GOCSPX-s3cr3t")]
        );
        assert!(!format!("{reg:?}").contains("s3cr3t"));
        assert_eq!(
            reg.scrub("bad secret GOCSPX-s3cr3t for c".into()),
            "bad secret (client secret) for c"
        );
    }
}
