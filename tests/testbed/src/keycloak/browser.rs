//! The person at a browser approving a device code at Keycloak: the verification link
//! with the code filled in, the sign-in form, the consent page ("Yes").

use super::PASSWORD;
use anyhow::{bail, Context, Result};

/// How many pages a sign-in may take before we call it a loop.
const MAX_STEPS: usize = 6;

pub(super) struct Browser {
    issuer: String,
    http: reqwest::Client,
}

struct Page {
    url: reqwest::Url,
    status: reqwest::StatusCode,
    body: String,
}

impl Browser {
    pub(super) fn new(issuer: &str, ca_pem: &str) -> Result<Browser> {
        let http = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes())?)
            .cookie_store(true)
            .no_proxy()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("building the browser's HTTPS client")?;
        Ok(Browser {
            issuer: issuer.to_string(),
            http,
        })
    }

    /// Opens the code's link, signs in as `user`, grants access, lands on "successful".
    pub(super) async fn approve(&self, user_code: &str, user: &str) -> Result<()> {
        let url = format!("{}/device?user_code={user_code}", self.issuer);
        let mut page = self.get(&url).await?;
        for _ in 0..MAX_STEPS {
            if page.body.contains("Device Login Successful") {
                return Ok(());
            }
            if let Some(action) = page.form_action("id=\"kc-form-login\"") {
                if page.body.contains("Invalid username or password") {
                    bail!("Keycloak refused the sign-in of {user}");
                }
                page = self
                    .post(&action, &[("username", user), ("password", PASSWORD)])
                    .await?;
            } else if let Some(action) = page.form_action("/login-actions/consent") {
                let code = page
                    .hidden("code")
                    .with_context(|| format!("no code on the consent page: {}", page.describe()))?;
                page = self
                    .post(&action, &[("code", &code), ("accept", "Yes")])
                    .await?;
            } else {
                bail!("unexpected page: {}", page.describe());
            }
        }
        bail!(
            "signing in took more than {MAX_STEPS} pages; the last was {}",
            page.describe()
        )
    }

    async fn get(&self, url: &str) -> Result<Page> {
        let r = self
            .http
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        Page::read(r).await
    }

    async fn post(&self, url: &str, form: &[(&str, &str)]) -> Result<Page> {
        let r = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        Page::read(r).await
    }
}

impl Page {
    async fn read(r: reqwest::Response) -> Result<Page> {
        let url = r.url().clone();
        let status = r.status();
        let body = r.text().await.context("reading a page")?;
        Ok(Page { url, status, body })
    }

    /// The absolute action URL of the first `<form ...>` tag containing `marker`.
    fn form_action(&self, marker: &str) -> Option<String> {
        let mut rest = self.body.as_str();
        while let Some(at) = rest.find("<form") {
            rest = &rest[at..];
            let tag = &rest[..rest.find('>')?];
            if tag.contains(marker) {
                let from = tag.find("action=\"")? + "action=\"".len();
                let to = tag[from..].find('"')? + from;
                let action = tag[from..to].replace("&amp;", "&");
                return self.url.join(&action).ok().map(String::from);
            }
            rest = &rest[1..];
        }
        None
    }

    /// The value of the hidden input `name`.
    fn hidden(&self, name: &str) -> Option<String> {
        let at = self.body.find(&format!("name=\"{name}\""))?;
        let start = self.body[..at].rfind('<')?;
        let tag = &self.body[start..start + self.body[start..].find('>')?];
        let from = tag.find("value=\"")? + "value=\"".len();
        let to = tag[from..].find('"')? + from;
        Some(tag[from..to].to_string())
    }

    fn describe(&self) -> String {
        let text: String = self.body.chars().take(600).collect();
        format!("{} {} {text}", self.status, self.url)
    }
}
