//! The person at a browser approving a device code at Dex: the code page, then the
//! password database's sign-in form (the approval screen is skipped by configuration).

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

    /// Enters `user_code`, signs in as `email` and lands on "Login Successful".
    pub(super) async fn approve(&self, user_code: &str, email: &str) -> Result<()> {
        let page = self.get(&format!("{}/device", self.issuer)).await?;
        let action = page
            .form_action()
            .with_context(|| format!("no code form on {}", page.describe()))?;
        let mut page = self.post(&action, &[("user_code", user_code)]).await?;
        for _ in 0..MAX_STEPS {
            if page.body.contains("Login Successful") {
                return Ok(());
            }
            if page.body.contains("Invalid or Expired User Code") {
                bail!("Dex refused the code {user_code} as invalid or expired");
            }
            if page.body.contains("name=\"password\"") {
                if page.body.contains("dex-error-box") {
                    bail!("Dex refused the sign-in of {email}: {}", page.describe());
                }
                let action = page
                    .form_action()
                    .with_context(|| format!("no sign-in form on {}", page.describe()))?;
                page = self
                    .post(&action, &[("login", email), ("password", PASSWORD)])
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

    /// The absolute URL of the page's (first) form.
    fn form_action(&self) -> Option<String> {
        let at = self.body.find("action=\"")? + "action=\"".len();
        let end = self.body[at..].find('"')? + at;
        let action = self.body[at..end].replace("&amp;", "&");
        self.url.join(&action).ok().map(String::from)
    }

    fn describe(&self) -> String {
        let text: String = self.body.chars().take(600).collect();
        format!("{} {} {text}", self.status, self.url)
    }
}
