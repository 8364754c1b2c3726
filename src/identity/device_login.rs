//! The device flow as the person sees it, all on stderr: URL, code, QR code,
//! browser, progress.

use crate::oidc::{self, DeviceAuthorization, PollEvent, Provider, Registration, TokenResponse};
use crate::untrusted::Untrusted;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Whether to try opening a browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// Open one if there is a display.
    IfPossible,
    /// Never (`--no-browser`, or called from kubectl).
    Never,
}

/// Runs the device flow, talking to the person on stderr.
pub async fn run(
    http: &reqwest::Client,
    provider: &Provider,
    reg: &Registration,
    browser: Browser,
) -> Result<TokenResponse, oidc::OidcError> {
    let auth = oidc::start_device_flow(http, provider, reg).await?;
    let tty = std::io::stderr().is_terminal();
    show_instructions(&provider.issuer, &auth, browser, tty);
    let mut last_note = Duration::ZERO;
    let mut on_progress = |event: PollEvent| {
        let mut err = std::io::stderr().lock();
        match event {
            PollEvent::Pending { elapsed, remaining } => {
                if tty {
                    let _ = write!(
                        err,
                        "\r\x1b[2KWaiting for approval… {} elapsed, code valid for {} more",
                        short(elapsed),
                        short(remaining)
                    );
                } else if elapsed >= last_note + Duration::from_secs(60) {
                    last_note = elapsed;
                    let _ = writeln!(
                        err,
                        "Still waiting for approval ({} left)…",
                        short(remaining)
                    );
                }
            }
            PollEvent::SlowDown { interval } => {
                let _ = writeln!(
                    err,
                    "{}The identity provider asked to poll less often: every {}s.",
                    cr(tty),
                    interval.as_secs()
                );
            }
            PollEvent::Retrying { attempt, reason } => {
                let _ = writeln!(
                    err,
                    "{}Retrying ({attempt}) after: {}",
                    cr(tty),
                    Untrusted(&reason)
                );
            }
        }
    };
    let result = oidc::poll_device_token(http, provider, reg, &auth, &mut on_progress).await;
    if tty {
        crate::human::terminal_control("\r\x1b[2K");
    }
    result
}

fn cr(tty: bool) -> &'static str {
    if tty {
        "\r\x1b[2K"
    } else {
        ""
    }
}

fn short(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn show_instructions(issuer: &str, auth: &DeviceAuthorization, browser: Browser, tty: bool) {
    let mut text = format!(
        "To log in to {issuer}, open\n\n    {}\n\nand enter the code\n\n    {}\n\n",
        Untrusted(&auth.verification_uri),
        Untrusted(&auth.user_code)
    );
    if let Some(complete) = &auth.verification_uri_complete {
        text.push_str(&format!(
            "(or open {}, which has the code filled in)\n",
            Untrusted(complete)
        ));
        if tty {
            if let Some(qr) = qr(complete) {
                text.push_str(&qr);
            }
        }
    }
    let target = auth
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&auth.verification_uri);
    match browser {
        Browser::Never => {}
        Browser::IfPossible => match crate::browser::unavailable_reason() {
            Some(why) => text.push_str(&format!("Not opening a browser: {why}.\n")),
            None => match crate::browser::open(target) {
                Ok(()) => text.push_str("Opened it in your browser.\n"),
                Err(e) => text.push_str(&format!(
                    "Could not open a browser ({e}); open the URL yourself.\n"
                )),
            },
        },
    }
    text.push_str(&format!(
        "The code is valid for {}. Waiting for approval (checking every {}s)…\n",
        short(auth.expires_in),
        auth.interval.as_secs()
    ));
    say_partial!("{text}");
}

fn qr(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    let image = code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    Some(format!("\n{image}\n\n"))
}
