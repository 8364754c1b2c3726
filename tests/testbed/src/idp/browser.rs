//! The approval driver: a person at a browser, going through the provider's
//! real device pages (user code form with its xsrf field, confirmation,
//! sign-in, consent) with a cookie-keeping HTTP client.

use super::client::http_client;
use anyhow::{bail, Context, Result};

/// How many pages a sign-in may take before we call it a loop.
const MAX_STEPS: usize = 8;

/// One private browser window: fresh cookies, so every approval signs in anew.
pub(super) struct Browser {
    issuer: String,
    http: reqwest::Client,
}

/// A page as the browser shows it.
struct Page {
    url: reqwest::Url,
    status: reqwest::StatusCode,
    body: String,
}

impl Browser {
    pub(super) fn new(issuer: &str, ca_pem: &str) -> Result<Browser> {
        Ok(Browser {
            issuer: issuer.to_string(),
            http: http_client(ca_pem, true)?,
        })
    }

    /// Enters the code, confirms the device, signs in as `user` and allows access.
    pub(super) async fn approve(&self, user_code: &str, user: &str) -> Result<()> {
        let xsrf = self.enter_code(user_code).await?;
        let mut page = self
            .post(
                &format!("{}/device", self.issuer),
                &[
                    ("xsrf", &xsrf),
                    ("user_code", user_code),
                    ("confirm", "yes"),
                ],
            )
            .await?;
        for _ in 0..MAX_STEPS {
            if page.title() == Some("Signed in") {
                return Ok(());
            }
            if let Some(message) = page.error_message() {
                bail!("the provider said: {message}");
            }
            if let Some(action) = page.form_action_ending("/login") {
                page = self
                    .post(&action, &[("login", user), ("password", "")])
                    .await?;
            } else if let Some(action) = page.form_action_ending("/confirm") {
                page = self.post(&action, &[]).await?;
            } else {
                bail!("unexpected page: {}", page.describe());
            }
        }
        bail!(
            "signing in took more than {MAX_STEPS} pages; the last was {}",
            page.describe()
        )
    }

    /// Enters the code and presses "Abort" on the confirmation page.
    pub(super) async fn deny(&self, user_code: &str) -> Result<()> {
        let xsrf = self.enter_code(user_code).await?;
        let page = self
            .post(
                &format!("{}/device", self.issuer),
                &[
                    ("xsrf", &xsrf),
                    ("user_code", user_code),
                    ("confirm", "yes"),
                    ("abort", "yes"),
                ],
            )
            .await?;
        match page.error_message() {
            Some(message) if message.contains("aborted") => Ok(()),
            _ => bail!("aborting did not say so: {}", page.describe()),
        }
    }

    /// Opens the verification page and submits the code; returns the form's xsrf value.
    async fn enter_code(&self, user_code: &str) -> Result<String> {
        let page = self.get(&format!("{}/device", self.issuer)).await?;
        let xsrf = page.input_value("xsrf").with_context(|| {
            format!(
                "no xsrf field on the verification page: {}",
                page.describe()
            )
        })?;
        let page = self
            .post(
                &format!("{}/device", self.issuer),
                &[("xsrf", &xsrf), ("user_code", user_code)],
            )
            .await?;
        if !page.body.contains("op.deviceConfirmForm") {
            match page.error_message() {
                Some(message) => bail!("the provider refused the code: {message}"),
                None => bail!(
                    "no confirmation page after entering the code: {}",
                    page.describe()
                ),
            }
        }
        Ok(xsrf)
    }

    async fn get(&self, url: &str) -> Result<Page> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        Page::read(response).await
    }

    async fn post(&self, url: &str, form: &[(&str, &str)]) -> Result<Page> {
        let response = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        Page::read(response).await
    }
}

impl Page {
    async fn read(response: reqwest::Response) -> Result<Page> {
        let url = response.url().clone();
        let status = response.status();
        let body = response.text().await.context("reading a page")?;
        Ok(Page { url, status, body })
    }

    fn title(&self) -> Option<&str> {
        between(&self.body, "<title>", "</title>")
    }

    fn error_message(&self) -> Option<&str> {
        between(&self.body, "<p class=\"error\">", "</p>")
    }

    /// The value of `<input ... name="NAME" value="...">`.
    fn input_value(&self, name: &str) -> Option<String> {
        let at = self.body.find(&format!("name=\"{name}\""))?;
        let rest = &self.body[at..];
        let end = rest.find('>')?;
        between(&rest[..end], "value=\"", "\"").map(str::to_string)
    }

    /// The absolute URL of the first form whose action ends with `suffix`.
    fn form_action_ending(&self, suffix: &str) -> Option<String> {
        let mut rest = self.body.as_str();
        while let Some(at) = rest.find("action=\"") {
            rest = &rest[at + "action=\"".len()..];
            let action = &rest[..rest.find('"')?];
            if action.ends_with(suffix) {
                return self.url.join(action).ok().map(String::from);
            }
        }
        None
    }

    fn describe(&self) -> String {
        let text: String = self.body.chars().take(600).collect();
        format!("{} {} {text}", self.status, self.url.path())
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}
