//! The way in to iCasework: a slot among `max_concurrent`, then a request's worth of the global
//! rate, both waited for until one deadline. A request that cannot get through in time is
//! refused (503 with Retry-After) rather than queued without end: callers time out anyway, and
//! an ever-growing queue only delays the moment iCasework is overloaded.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::rate::UpstreamRate;
use crate::upstream::error::{ThrottleReason, UpstreamError};

/// What Retry-After says to a request that found every slot taken: slots free up as reports
/// finish, which takes seconds, not minutes.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct Gate {
    /// Held from sending the request to the last byte of its body (or its failure).
    slots: Arc<Semaphore>,
    rate: Option<UpstreamRate>,
}

impl Gate {
    pub(crate) fn new(max_concurrent: usize, rate: Option<UpstreamRate>) -> Self {
        Gate {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            rate,
        }
    }

    /// Waits for a slot (first come, first served) and then for the rate, until `until`.
    pub(crate) async fn enter(
        &self,
        until: Instant,
    ) -> Result<OwnedSemaphorePermit, UpstreamError> {
        let slot = tokio::time::timeout_at(until, Arc::clone(&self.slots).acquire_owned()).await;
        let slot = match slot {
            Ok(Ok(slot)) => slot,
            // Timed out; the semaphore is never closed.
            _ => {
                return Err(UpstreamError::Throttled {
                    reason: ThrottleReason::Concurrency,
                    retry_after: BUSY_RETRY_AFTER,
                })
            }
        };
        if let Some(rate) = &self.rate {
            rate.acquire(until)
                .await
                .map_err(|retry_after| UpstreamError::Throttled {
                    reason: ThrottleReason::GlobalRate,
                    retry_after,
                })?;
        }
        Ok(slot)
    }

    /// Requests holding a slot now.
    #[cfg(test)]
    pub(crate) fn in_use(&self, max_concurrent: usize) -> usize {
        max_concurrent - self.slots.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Rate;

    #[tokio::test(start_paused = true)]
    async fn waits_for_a_slot_until_the_deadline() {
        let gate = Gate::new(2, None);
        let a = gate.enter(Instant::now()).await.unwrap();
        let _b = gate.enter(Instant::now()).await.unwrap();
        assert_eq!(gate.in_use(2), 2);
        let refused = gate
            .enter(Instant::now() + Duration::from_millis(100))
            .await;
        assert!(matches!(
            refused,
            Err(UpstreamError::Throttled {
                reason: ThrottleReason::Concurrency,
                ..
            })
        ));
        let waiting = gate.enter(Instant::now() + Duration::from_secs(5));
        let release = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            drop(a);
        };
        let (entered, ()) = tokio::join!(waiting, release);
        assert!(entered.is_ok(), "a slot freed within the wait is taken");
    }

    #[tokio::test]
    async fn the_rate_refuses_what_it_cannot_admit_in_time() {
        let gate = Gate::new(
            10,
            Some(UpstreamRate::new(Rate::parse("2/minute").unwrap(), None)),
        );
        let _a = gate.enter(Instant::now()).await.unwrap();
        let _b = gate.enter(Instant::now()).await.unwrap();
        match gate.enter(Instant::now() + Duration::from_millis(50)).await {
            Err(UpstreamError::Throttled {
                reason: ThrottleReason::GlobalRate,
                retry_after,
            }) => assert!(retry_after > Duration::from_secs(20), "{retry_after:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(gate.in_use(10), 2, "a refused request gives its slot back");
    }
}
