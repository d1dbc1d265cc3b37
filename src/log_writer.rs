//! The writer behind the log and the audit stream: request threads append whole lines to a
//! shared buffer; one thread writes that buffer out in batches.
//!
//! tracing-appender's non-blocking writer, used before, hands each line through a channel to
//! a thread that writes and flushes whenever the channel runs dry. A gateway that keeps up
//! therefore made one `write` system call per audit event, plus the wake-ups of that thread
//! (on the cache-hit path, a quarter of a request's CPU: `cargo bench --bench cache_hit`).
//! Here the writer thread wakes every [`INTERVAL`], or as soon as [`BATCH`] bytes are waiting,
//! and writes all of them at once.
//!
//! Nothing is dropped: when [`LIMIT`] bytes wait unwritten (the disk or the pipe behind
//! stdout has stalled), appending waits for the writer, as it waited for room in the channel
//! before. Lines reach the output at most [`INTERVAL`] after they were written, and all of
//! them when the [`FlushGuard`] is dropped (at exit).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// The longest a line waits in the buffer.
pub const INTERVAL: Duration = Duration::from_millis(20);
/// Bytes waiting at which the writer is woken before its interval is up. Each wake is a context
/// switch away from the threads serving requests: at 80,000 audited requests a second (about
/// 1 KB each) a 64 KiB batch woke it 1,200 times a second. Not much larger, so that the buffer
/// being filled stays in the CPU's cache.
const BATCH: usize = 256 * 1024;
/// Bytes waiting at which appending waits for the writer.
const LIMIT: usize = 16 * 1024 * 1024;

#[derive(Debug, Default)]
struct Pending {
    lines: Vec<u8>,
    closed: bool,
}

#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Woken when a batch is ready or at close.
    ready: Condvar,
    /// Woken when the writer has taken the pending lines.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves plain bytes behind: still usable.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Appends lines for the writer thread; cheap to clone. Each `write` call's bytes stay
/// together (tracing's formatters write an event in one call).
#[derive(Debug, Clone)]
pub struct LineWriter {
    shared: Arc<Shared>,
}

/// Writes out what is left and stops the writer thread when dropped.
#[derive(Debug)]
#[must_use = "lines still buffered are lost unless the guard is dropped at exit"]
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LineWriter {
    /// Starts a writer thread named `name` that writes to `out`.
    pub fn spawn<W: Write + Send + 'static>(
        name: &str,
        out: W,
    ) -> std::io::Result<(LineWriter, FlushGuard)> {
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn({
            let shared = Arc::clone(&shared);
            move || write_out(&shared, out)
        })?;
        Ok((
            LineWriter {
                shared: Arc::clone(&shared),
            },
            FlushGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }

    /// Appends `line` (kept together), waiting while [`LIMIT`] bytes are unwritten.
    pub fn append(&self, line: &[u8]) {
        let mut pending = self.shared.lock();
        while pending.lines.len() >= LIMIT && !pending.closed {
            pending = self
                .shared
                .room
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let before = pending.lines.len();
        pending.lines.extend_from_slice(line);
        // Only the append that fills a batch wakes the writer: a wake is a system call.
        let wake = before < BATCH && pending.lines.len() >= BATCH;
        drop(pending);
        if wake {
            self.shared.ready.notify_one();
        }
    }
}

/// The writer thread: takes the waiting lines as one batch and writes them.
fn write_out<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::new();
    loop {
        let mut pending = shared.lock();
        if pending.lines.len() < BATCH && !pending.closed {
            pending = shared
                .ready
                .wait_timeout(pending, INTERVAL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let closed = pending.closed;
        std::mem::swap(&mut batch, &mut pending.lines);
        drop(pending);
        shared.room.notify_all();
        if !batch.is_empty() {
            // A failed write is the output's to report (the audit file counts and logs its
            // failures); the writer goes on with the next batch.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
        }
        if closed {
            return;
        }
    }
}

impl Write for LineWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LineWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        self.clone()
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An output the test reads, and can hold stalled.
    #[derive(Clone, Default)]
    struct Output {
        bytes: Arc<Mutex<Vec<u8>>>,
        stall: Arc<Mutex<()>>,
        writes: Arc<Mutex<usize>>,
    }

    impl Write for Output {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _held = self.stall.lock().unwrap();
            self.bytes.lock().unwrap().extend_from_slice(buf);
            *self.writes.lock().unwrap() += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Output {
        fn text(&self) -> String {
            String::from_utf8(self.bytes.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_and_all_of_them() {
        let output = Output::default();
        let (writer, guard) = LineWriter::spawn("test-writer", output.clone()).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let mut writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        writer
                            .write_all(
                                format!("thread {t} line {i} {}\n", "x".repeat(40)).as_bytes(),
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = output.text();
        let mut seen = vec![0usize; 8];
        for line in text.lines() {
            let words: Vec<&str> = line.split(' ').collect();
            assert_eq!(words.len(), 5, "a line was torn: {line:?}");
            let t: usize = words[1].parse().unwrap();
            let i: usize = words[3].parse().unwrap();
            assert_eq!(i, seen[t], "thread {t}'s lines out of order or lost");
            seen[t] += 1;
        }
        assert_eq!(seen, vec![5_000; 8]);
        // Batched: far fewer writes than lines.
        assert!(*output.writes.lock().unwrap() < 40_000 / 10);
    }

    #[test]
    fn a_line_reaches_the_output_without_waiting_for_exit() {
        let output = Output::default();
        let (mut writer, _guard) = LineWriter::spawn("test-writer", output.clone()).unwrap();
        writer.write_all(b"one line\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while output.text().is_empty() {
            assert!(Instant::now() < deadline, "the line was never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(output.text(), "one line\n");
    }

    #[test]
    fn a_stalled_output_makes_writers_wait_and_loses_nothing() {
        let output = Output::default();
        let stall = output.stall.lock().unwrap();
        let (writer, guard) = LineWriter::spawn("test-writer", output.clone()).unwrap();
        let line = vec![b'y'; 1024];
        let appended = Arc::new(Mutex::new(0usize));
        let appender = std::thread::spawn({
            let (mut writer, line, appended) = (writer.clone(), line, Arc::clone(&appended));
            move || {
                // Twice the limit and then some: cannot all fit while the output is stalled.
                for _ in 0..(2 * LIMIT / 1024 + 100) {
                    writer.write_all(&line).unwrap();
                    *appended.lock().unwrap() += 1;
                }
            }
        });
        // The appender stops short of the end while the output is held...
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = 0;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = *appended.lock().unwrap();
            if now == last && now > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the appender never stopped");
            last = now;
        }
        assert!(
            last < 2 * LIMIT / 1024 + 100,
            "nothing held the appender back"
        );
        // ...and finishes once it flows again, every byte written.
        drop(stall);
        appender.join().unwrap();
        drop(writer);
        drop(guard);
        assert_eq!(
            output.bytes.lock().unwrap().len(),
            (2 * LIMIT / 1024 + 100) * 1024
        );
    }
}
