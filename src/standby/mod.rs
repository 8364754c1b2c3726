//! Standby credentials (issue 13): a per-person ServiceAccount token, minted with the
//! person's own OIDC identity while the identity provider works, that can do nothing but
//! the grant protocol — so an IdP outage does not stop break glass. Minting and renewal
//! (`mint`) and the admin's provisioning and revocation (`provision`) live here; what the
//! policy and records say about standby credentials is `grant::model::standby`, the cache
//! `grant::standby_cache`, and connecting through one `grant::cluster::standby`. See
//! docs/grant-protocol.md, "Standby credentials".

pub mod mint;
pub mod provision;
