//! hyper's timer for one connection: the header read timeout without a timer-wheel insert and
//! removal per request.
//!
//! hyper asks its timer for a new sleep each time an HTTP/1 connection starts waiting for a
//! request head, and drops it once the head is in. With hyper-util's `TokioTimer` every request
//! therefore makes a tokio `Sleep` (an allocation and the runtime's handle), files it in the
//! runtime's timer wheel under the time driver's lock, polls it, and takes it out again
//! (benches/README.md, "A kept header timer"). A connection waits for one head at a time, so
//! this timer keeps the connection's tokio `Sleep` from one head to the next. The next head's
//! deadline is later than the kept one, which is still filed and will wake the connection's task
//! when it comes due; so nothing is done until then, and then the sleep is moved on to the later
//! deadline (once per timeout at most, not once per request). A sleep never ends before its own
//! deadline.
//!
//! While a head is awaited the sleep is that head's alone: it is taken out of the connection's
//! slot and put back when hyper drops it, so two sleeps alive at once (hyper holds one, but
//! nothing depends on that) each get their own. A kept sleep may come due between heads, during
//! a long request; that wakes the connection's task once for nothing, and the next head moves
//! it to its own deadline before waiting on it, so it never ends a connection early.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

type Slot = Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>;

/// Set on each connection's HTTP/1 builder (one per connection: the kept sleep belongs to it).
#[derive(Debug, Clone, Default)]
pub(super) struct ConnectionTimer {
    kept: Slot,
}

impl hyper::rt::Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let sleep = self
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Box::pin(KeptSleep {
            sleep,
            deadline: deadline.into(),
            set: false,
            kept: Arc::clone(&self.kept),
        })
    }

    /// As `TokioTimer`'s: tokio's clock, which tests may pause.
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// A sleep until `deadline` on the connection's kept tokio `Sleep` (made on the first poll if
/// the slot was empty), which goes back to the slot when this is dropped.
struct KeptSleep {
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    deadline: tokio::time::Instant,
    /// Whether the first poll has looked at `sleep` yet (nothing is done before it, so a head
    /// that is already in when hyper first looks never touches the timer at all).
    set: bool,
    kept: Slot,
}

impl Future for KeptSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let deadline = this.deadline;
        let Some(sleep) = &mut this.sleep else {
            let sleep = this
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline)));
            this.set = true;
            return sleep.as_mut().poll(cx);
        };
        if !this.set {
            this.set = true;
            // The kept sleep was polled by this connection's task after it was last moved, so
            // while it has not come due it will wake the task at its deadline; if that is no
            // later than this head's, nothing needs doing until then (below). This is the
            // usual case: one head's deadline, then the next, a little later.
            if !sleep.is_elapsed() && sleep.deadline() <= deadline {
                return Poll::Pending;
            }
            sleep.as_mut().reset(deadline);
        }
        match sleep.as_mut().poll(cx) {
            // An earlier head's deadline came due, not this one's: sleep on to this one.
            Poll::Ready(()) if sleep.deadline() < deadline => {
                sleep.as_mut().reset(deadline);
                sleep.as_mut().poll(cx)
            }
            done => done,
        }
    }
}

impl hyper::rt::Sleep for KeptSleep {}

impl Drop for KeptSleep {
    fn drop(&mut self) {
        if let Some(sleep) = self.sleep.take() {
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            if kept.is_none() {
                *kept = Some(sleep);
            }
        }
    }
}

impl std::fmt::Debug for KeptSleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptSleep")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use hyper::rt::Timer;

    use super::*;

    /// The connection's task as the sleeps see it: one waker, which counts its wake-ups.
    #[derive(Default)]
    struct Task(AtomicUsize);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Connection {
        task: Arc<Task>,
        timer: ConnectionTimer,
    }

    impl Connection {
        fn new() -> Self {
            Self {
                task: Arc::default(),
                timer: ConnectionTimer::default(),
            }
        }

        fn pending(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>) -> bool {
            let waker = Waker::from(Arc::clone(&self.task));
            sleep
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        }

        fn woken(&self) -> usize {
            self.task.0.load(Ordering::SeqCst)
        }
    }

    async fn wait(millis: u64) {
        tokio::time::advance(Duration::from_millis(millis)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_ends_at_its_deadline_and_not_before() {
        let c = Connection::new();
        let mut sleep = c.timer.sleep(Duration::from_secs(30));
        assert!(c.pending(&mut sleep));
        wait(29_990).await;
        assert!(c.pending(&mut sleep));
        assert_eq!(c.woken(), 0);
        wait(20).await;
        assert_eq!(c.woken(), 1, "the task is woken when it is due");
        assert!(!c.pending(&mut sleep), "30 s passed");
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_head_gets_its_own_deadline_from_the_kept_sleep() {
        let c = Connection::new();
        let mut first = c.timer.sleep(Duration::from_secs(30));
        assert!(c.pending(&mut first));
        // The head came in after 10 s: hyper drops the sleep, the connection keeps it.
        wait(10_000).await;
        drop(first);
        assert!(
            c.timer.kept.lock().unwrap().is_some(),
            "kept for the next head"
        );
        // The next head is awaited from 10 s: its deadline is 40 s.
        let mut next = c.timer.sleep(Duration::from_secs(30));
        assert!(c.pending(&mut next));
        // At 30 s the first head's deadline wakes the task; the next head still has 10 s.
        wait(20_500).await;
        assert_eq!(c.woken(), 1);
        assert!(c.pending(&mut next), "not before its own deadline");
        wait(9_000).await;
        assert!(c.pending(&mut next));
        assert_eq!(c.woken(), 1);
        // At 40 s it is due, and the task is woken for it.
        wait(1_000).await;
        assert_eq!(c.woken(), 2, "woken at its own deadline");
        assert!(!c.pending(&mut next));
    }

    #[tokio::test(start_paused = true)]
    async fn many_heads_in_a_row_each_get_the_full_timeout() {
        let c = Connection::new();
        for _ in 0..50 {
            let mut sleep = c.timer.sleep(Duration::from_secs(30));
            assert!(c.pending(&mut sleep));
            wait(1_000).await;
            assert!(c.pending(&mut sleep));
        }
        // 50 s in: the last head was awaited from 49 s, so it ends at 79 s, not before.
        let mut sleep = c.timer.sleep(Duration::from_secs(30));
        wait(29_900).await;
        assert!(c.pending(&mut sleep));
        wait(200).await;
        assert!(!c.pending(&mut sleep));
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_sleep_that_came_due_between_heads_does_not_end_the_next_one() {
        let c = Connection::new();
        let mut sleep = c.timer.sleep(Duration::from_secs(1));
        assert!(c.pending(&mut sleep));
        drop(sleep);
        // A request that took 5 s: the kept sleep's old deadline passed meanwhile.
        wait(5_000).await;
        let mut sleep = c.timer.sleep(Duration::from_secs(1));
        assert!(c.pending(&mut sleep), "a fresh second for the next head");
        wait(1_100).await;
        assert!(!c.pending(&mut sleep));
    }

    #[tokio::test(start_paused = true)]
    async fn two_sleeps_alive_at_once_each_keep_their_own_deadline() {
        let c = Connection::new();
        let mut short = c.timer.sleep(Duration::from_secs(1));
        let mut long = c.timer.sleep(Duration::from_secs(10));
        assert!(c.pending(&mut short) && c.pending(&mut long));
        wait(1_100).await;
        assert!(!c.pending(&mut short), "the short one ended on time");
        assert!(c.pending(&mut long));
        drop(short);
        wait(9_000).await;
        assert!(!c.pending(&mut long));
        drop(long);
        assert!(c.timer.kept.lock().unwrap().is_some());
    }
}
