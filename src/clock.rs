//! The current time, injectable so expiry logic is testable.

use chrono::{DateTime, Utc};

/// Tells the time.
pub trait Clock {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
