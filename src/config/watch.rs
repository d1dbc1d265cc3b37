//! Watching files that reload while casegate serves (the policy, the TLS certificate): on
//! SIGHUP, whenever one of their folders changes, and, when asked, every so often.
//!
//! Folders are watched rather than files because editors replace a file by renaming a new one
//! over it and Kubernetes swaps ConfigMap and Secret volumes by replacing a symlink: a watch on
//! the old file would see neither. What to do on a change is the caller's `reload`, which must
//! itself skip unchanged files (events arrive for every file in the folder).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What is watched, for the logs ("policy", "TLS certificate").
pub(crate) struct Watch {
    pub(crate) what: &'static str,
    /// The files; their folders are watched.
    pub(crate) files: Vec<PathBuf>,
    /// Also reload this often: for filesystems that send no events (NFS, some FUSE mounts)
    /// and for when the folder watch cannot be set up (inotify limits).
    pub(crate) poll: Option<Duration>,
}

/// Calls `reload` on SIGHUP, after a change in a watched folder (a burst of events settles for
/// 100 ms first) and every `poll`, until the returned guard is dropped. A folder watch that
/// cannot be set up is logged and left out: SIGHUP and the poll still reload.
pub(crate) fn spawn(
    watch: &Watch,
    mut reload: impl FnMut() + Send + 'static,
) -> std::io::Result<WatchGuard> {
    let (file_tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let watcher = folder_watcher(watch, file_tx);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let what = watch.what;
    let poll = watch.poll;
    let task = tokio::spawn(async move {
        let mut ticks = poll.map(|every| {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        });
        loop {
            #[cfg(unix)]
            let hup = hangup.recv();
            #[cfg(not(unix))]
            let hup = std::future::pending::<Option<()>>();
            let tick = async {
                match ticks.as_mut() {
                    Some(ticks) => ticks.tick().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(()) = rx.recv() => {
                    // Let a burst of file events (write, rename, chmod) settle first.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    while rx.try_recv().is_ok() {}
                }
                Some(()) = hup => tracing::info!(what, "SIGHUP received: reloading"),
                _ = tick => {}
            }
            reload();
        }
    });
    Ok(WatchGuard {
        _watcher: watcher,
        task,
    })
}

fn folder_watcher(
    watch: &Watch,
    file_tx: tokio::sync::mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    let what = watch.what;
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            // A full channel means a reload is already due: dropping this event loses nothing.
            let _ = file_tx.try_send(());
        }
    })
    .inspect_err(|e| tracing::warn!(what, error = %e, "cannot watch files; reload with SIGHUP"))
    .ok()?;
    let mut folders: Vec<&Path> = watch
        .files
        .iter()
        .map(|file| {
            file.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
        })
        .collect();
    folders.sort();
    folders.dedup();
    for folder in folders {
        if let Err(e) =
            notify::Watcher::watch(&mut watcher, folder, notify::RecursiveMode::NonRecursive)
        {
            tracing::warn!(what, folder = %folder.display(), error = %e, "cannot watch a folder; reload with SIGHUP");
        }
    }
    Some(watcher)
}

/// Keeps a watch alive; dropping it stops watching.
#[derive(Debug)]
pub struct WatchGuard {
    _watcher: Option<notify::RecommendedWatcher>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}
