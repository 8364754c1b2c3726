//! The pure model of a grant: what records, seals, the policy (standby credentials' part
//! included), the hash chain, durations and tokens are, with no cluster calls and no I/O.

pub mod admin;
pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod duration;
pub mod events;
pub mod jwt;
pub mod plausibility;
pub mod policy;
pub mod record;
pub mod seal;
pub mod standby;
pub mod view;
