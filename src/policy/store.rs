//! The policy in force, and its hot reload: the whole new file is parsed and validated, then
//! swapped in atomically; a bad file leaves the old policy serving and every problem is logged.
//! A request keeps the grant it was decided with, so a swap never changes a request in flight.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::Policy;
pub use crate::config::watch::WatchGuard;
use crate::config::Problems;

/// The current policy, swapped whole on reload.
#[derive(Debug)]
pub struct PolicyStore {
    path: PathBuf,
    current: ArcSwap<Policy>,
    /// The text of the file last loaded, so an unchanged file is not reloaded.
    loaded_text: Mutex<String>,
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    Swapped,
    Unchanged,
}

impl PolicyStore {
    /// Loads the policy at `path`.
    pub fn load(path: &Path) -> Result<Self, Problems> {
        let text = read(path)?;
        let policy = Policy::parse(path, &text)?;
        Ok(Self {
            path: path.to_path_buf(),
            current: ArcSwap::from_pointee(policy),
            loaded_text: Mutex::new(text),
        })
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads, validates and swaps in the file if it changed. On any problem the old policy
    /// stays and the problems are returned (and logged, each with its file and line).
    pub fn reload(&self) -> Result<Reloaded, Problems> {
        let result = self.try_reload();
        match &result {
            Ok(Reloaded::Swapped) => {
                tracing::info!(path = %self.path.display(), grants = self.current().grants().len(), "policy reloaded")
            }
            Ok(Reloaded::Unchanged) => {}
            Err(problems) => {
                for problem in problems.iter() {
                    tracing::error!(problem = %problem, "policy reload refused; the previous policy stays in force");
                }
            }
        }
        result
    }

    fn try_reload(&self) -> Result<Reloaded, Problems> {
        let text = read(&self.path)?;
        let mut loaded = self.loaded_text.lock().unwrap_or_else(|e| e.into_inner());
        if *loaded == text {
            return Ok(Reloaded::Unchanged);
        }
        let policy = Policy::parse(&self.path, &text)?;
        self.current.store(Arc::new(policy));
        *loaded = text;
        Ok(Reloaded::Swapped)
    }
}

fn read(path: &Path) -> Result<String, Problems> {
    std::fs::read_to_string(path)
        .map_err(|e| Problems::single(path, format!("cannot read the policy file: {e}")))
}

/// Reloads `store` on SIGHUP and whenever its file's folder changes (editors replace files by
/// renaming; Kubernetes swaps ConfigMap symlinks), until the returned guard is dropped.
pub fn watch(store: Arc<PolicyStore>) -> std::io::Result<WatchGuard> {
    let watch = crate::config::watch::Watch {
        what: "policy",
        files: vec![store.path().to_path_buf()],
        poll: None,
    };
    crate::config::watch::spawn(&watch, move || {
        let _ = store.reload();
    })
}
