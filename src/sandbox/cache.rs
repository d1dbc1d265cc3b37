//! The small cache of rendered bodies that keeps the sandbox cheap enough to be a latency
//! baseline. Only reports of a fixed size pass through it; the huge report is streamed.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;

use bytes::Bytes;

use super::render::{gzip, render, Rendering};
use super::reports::Report;

/// Everything that determines a response body's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RenderKey {
    pub(crate) report: Report,
    pub(crate) rendering: Rendering,
    pub(crate) gzip: bool,
}

impl RenderKey {
    fn produce(&self) -> Bytes {
        let body = render(self.report, &self.rendering);
        Bytes::from(if self.gzip { gzip(&body) } else { body })
    }
}

/// At most this many bodies are kept...
const CACHE_ENTRIES: usize = 64;
/// ...and at most this many bytes (the large report's XML alone is about 45 MB).
const CACHE_BYTES: usize = 256 * 1024 * 1024;

/// Rendered bodies, first in first out. Two concurrent misses on one key both render: harmless.
#[derive(Default)]
pub(crate) struct RenderCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    bodies: HashMap<RenderKey, Bytes>,
    order: VecDeque<RenderKey>,
    bytes: usize,
}

impl fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock().expect("render cache poisoned");
        f.debug_struct("RenderCache")
            .field("entries", &inner.bodies.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

impl RenderCache {
    /// The body for `key`, rendered now unless cached. The large report renders on a blocking
    /// thread: it takes tens of milliseconds.
    pub(crate) async fn get_or_render(&self, key: RenderKey) -> Bytes {
        if let Some(body) = self
            .inner
            .lock()
            .expect("render cache poisoned")
            .bodies
            .get(&key)
        {
            return body.clone();
        }
        let body = if key.report == Report::Large {
            let owned = key.clone();
            tokio::task::spawn_blocking(move || owned.produce())
                .await
                .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
        } else {
            key.produce()
        };
        self.insert(key, body.clone());
        body
    }

    /// Renders `key` now, so that its first request is as fast as the next ones.
    pub(crate) fn warm(&self, key: RenderKey) {
        let body = key.produce();
        self.insert(key, body);
    }

    fn insert(&self, key: RenderKey, body: Bytes) {
        if body.len() > CACHE_BYTES {
            return;
        }
        let mut inner = self.inner.lock().expect("render cache poisoned");
        while inner.bodies.len() >= CACHE_ENTRIES || inner.bytes + body.len() > CACHE_BYTES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(evicted) = inner.bodies.remove(&oldest) {
                inner.bytes -= evicted.len();
            }
        }
        inner.bytes += body.len();
        if let Some(replaced) = inner.bodies.insert(key.clone(), body) {
            inner.bytes -= replaced.len();
        } else {
            inner.order.push_back(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded_and_keeps_the_latest() {
        let cache = RenderCache::default();
        let key = |n: u8| RenderKey {
            report: Report::Example,
            rendering: Rendering::Xml {
                request_id: format!("{n}"),
            },
            gzip: false,
        };
        for n in 0..(CACHE_ENTRIES as u8 + 10) {
            cache.warm(key(n));
        }
        let inner = cache.inner.lock().unwrap();
        assert_eq!(inner.bodies.len(), CACHE_ENTRIES);
        assert_eq!(inner.order.len(), CACHE_ENTRIES);
        assert!(inner.bodies.contains_key(&key(CACHE_ENTRIES as u8 + 9)));
        assert!(!inner.bodies.contains_key(&key(0)));
        assert_eq!(
            inner.bytes,
            inner.bodies.values().map(Bytes::len).sum::<usize>()
        );
    }
}
