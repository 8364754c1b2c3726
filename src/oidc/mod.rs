//! Talking to the OpenID provider: discovery, the device authorization grant
//! (RFC 8628), refresh, and ID-token verification.
//!
//! Discovery, polling and refresh are small hand-written requests on
//! `reqwest` rather than `openidconnect`'s device flow: that one retries
//! network errors until the code expires, offers no progress hook and
//! cannot tell a revoked refresh token from an unreachable IdP, all of which
//! the person needs to see. ID-token verification (JWKS signature, iss,
//! aud, exp) is `openidconnect`'s.

mod device;
mod discovery;
mod error;
mod http;
mod refresh;
mod registration;
mod tokens;
mod verify;

pub use device::{poll_device_token, start_device_flow, DeviceAuthorization, PollEvent};
pub use discovery::{discover, Provider};
pub use error::OidcError;
pub use http::client;
pub use refresh::refresh;
pub use registration::{ClaimNames, Registration};
pub use tokens::TokenResponse;
pub use verify::{verify_id_token, PersonClaims, VerifiedIdToken, CLOCK_LEEWAY};
