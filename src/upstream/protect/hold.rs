//! iCasework's "not before": after a 429, or a 503 with Retry-After, every request waits until
//! the time it named, not just the one that was told.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The longest hold honoured: a Retry-After of hours would otherwise turn one odd answer into
/// an outage only a restart ends.
pub(crate) const MAX_HOLD: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
pub(crate) struct Hold {
    until: Mutex<Option<Instant>>,
}

impl Hold {
    /// No request before `now + after` (capped); a later hold already in force stays.
    pub(crate) fn set(&self, now: Instant, after: Duration) {
        let until = now + after.min(MAX_HOLD);
        let mut held = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_none_or(|h| h < until) {
            *held = Some(until);
        }
    }

    /// The time left, if a hold is in force.
    pub(crate) fn remaining(&self, now: Instant) -> Option<Duration> {
        let held = self.until.lock().unwrap_or_else(|e| e.into_inner());
        held.filter(|&until| until > now).map(|until| until - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_until_the_latest_time_named_and_caps_it() {
        let hold = Hold::default();
        let t0 = Instant::now();
        assert_eq!(hold.remaining(t0), None);
        hold.set(t0, Duration::from_secs(2));
        hold.set(t0, Duration::from_secs(1));
        assert_eq!(hold.remaining(t0), Some(Duration::from_secs(2)));
        assert_eq!(hold.remaining(t0 + Duration::from_secs(2)), None);
        hold.set(t0, Duration::from_secs(86_400));
        assert_eq!(hold.remaining(t0), Some(MAX_HOLD));
    }
}
