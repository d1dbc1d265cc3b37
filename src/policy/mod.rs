//! The policy: grants that decide which reports each authenticated caller may read, in which
//! formats, with which parameters, and what happens to their columns.
//!
//! A policy is a TOML file of `[[grant]]`s (see `policies/README.md` for every key and
//! `policies/example.toml` for a commented example). [`Policy::load`] checks it in full and
//! reports every problem with its line, as `casegate check` prints them.
//!
//! # The decision
//!
//! A grant **applies** to a request when its `who` matches the caller's verified claims (every
//! matcher holds; a missing claim never matches) **and** its `reports` cover the ReportId. The
//! **first applying grant in file order decides**, and no later grant is consulted:
//!
//! 1. the format must be one of its `formats`, else `format_not_allowed`;
//! 2. no parameter it forbids may be present, else `parameter_forbidden`;
//! 3. a parameter it pins must be absent (the pinned value is then added) or already hold the
//!    pinned value, else `parameter_pinned`;
//! 4. otherwise the request is allowed under that grant's column rules and limits.
//!
//! No applying grant: `no_grant` (default deny). Every denial is a 403 problem whose detail tells
//! the caller what to fix without naming other grants or reports.
//!
//! Put narrow grants before broad ones: a broad grant placed first decides for everyone it
//! matches, even when it then refuses the format. `casegate check` reports a grant that an earlier
//! one makes unreachable.
//!
//! Files: `raw.rs` the file as written; `validate/` raw to runtime types with every problem;
//! `matcher.rs` claims; `columns.rs` column rules and globs; `hashing.rs` keyed pseudonyms;
//! `parameters.rs` forbidden and pinned parameters; `limits.rs` quotas and cache TTL;
//! `decision.rs` the decision; `explain.rs` the reviewer's account of one; `store.rs` the policy
//! in force and its hot reload.

mod columns;
mod decision;
mod explain;
mod hashing;
mod limits;
pub(crate) use limits::{MAX_CACHE_TTL, RATE_SYNTAX};
mod matcher;
mod parameters;
mod principal;
mod raw;
mod store;
mod validate;
pub(crate) use validate::rate_and_burst;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use columns::{ColumnAction, ColumnMode, ColumnRule, ColumnRules, Pattern, RuleAction};
pub use decision::{Decision, Denial, DenyReason};
pub use explain::explain;
pub use hashing::HashKey;
pub use limits::{Limits, Rate};
pub use matcher::{ClaimMatcher, ClaimValue, Matcher, Who};
pub use parameters::{ParameterRules, Pin};
pub use principal::Principal;
pub use store::{watch, PolicyStore, Reloaded, WatchGuard};

use crate::auth::Identity;
use crate::config::{Problems, Reporter};
use crate::params::{Format, GetReportQuery, ReportId};

/// A validated policy. `Debug` never shows the hashing key.
#[derive(Debug)]
pub struct Policy {
    grants: Vec<Arc<Grant>>,
    hash_key: Option<Arc<HashKey>>,
}

impl Policy {
    /// Reads and validates the policy file at `path`, and the key file it may name.
    pub fn load(path: &Path) -> Result<Policy, Problems> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) => {
                let mut problems = Problems::default();
                Reporter::new(path, "", &mut problems)
                    .at(None, format!("cannot read the policy file: {e}"));
                Err(problems)
            }
        }
    }

    /// Validates `text` as if read from `path` (a key file is relative to its folder).
    pub fn parse(path: &Path, text: &str) -> Result<Policy, Problems> {
        validate::validate(path, text)
    }

    /// The grants in file order.
    pub fn grants(&self) -> &[Arc<Grant>] {
        &self.grants
    }

    /// Every ReportId a grant names (`reports = [...]`), for the metrics' report label.
    pub fn named_reports(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .grants
            .iter()
            .filter_map(|g| match &g.reports {
                Reports::Only(ids) => Some(ids.iter().map(|id| id.get())),
                Reports::All => None,
            })
            .flatten()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The policy's hashing key, when it has one.
    pub fn hash_key(&self) -> Option<&HashKey> {
        self.hash_key.as_deref()
    }

    /// The decision for one request (see the module docs). Never panics.
    pub fn decide(&self, identity: &Identity, query: &GetReportQuery) -> Decision {
        decision::decide(&self.grants, identity, query)
    }

    /// [`decide`](Self::decide) and [`explain`] together, with the reasons for every grant tried
    /// before the deciding one even when the request is allowed (an [`Decision::Allow`] does not
    /// carry them, so that the request path never writes them out).
    pub fn explain(&self, identity: &Identity, query: &GetReportQuery) -> String {
        let decision = self.decide(identity, query);
        let considered = match &decision {
            Decision::Allow { grant, .. } => {
                let upto = self
                    .grants
                    .iter()
                    .position(|g| Arc::ptr_eq(g, grant))
                    .unwrap_or(0);
                decision::considered(&self.grants[..upto], identity, query.canonical.report_id())
            }
            Decision::Deny(d) => d.considered.clone(),
        };
        explain::render(identity, query, &decision, Some(&considered))
    }
}

/// One grant: who, what, and on what terms. `Debug` never shows the hashing key.
#[derive(Debug)]
pub struct Grant {
    /// Unique in the policy; safe for logs and metrics (`[A-Za-z0-9_.-]`, at most 64 chars).
    pub name: String,
    pub description: Option<String>,
    /// The line of the policy file where the grant starts.
    pub line: usize,
    pub who: Who,
    pub reports: Reports,
    /// Allowed formats, in the order written; all three when the policy leaves `formats` out.
    pub formats: Vec<Format>,
    pub columns: ColumnRules,
    pub parameters: ParameterRules,
    pub limits: Limits,
}

impl Grant {
    /// Whether this grant applies: its `who` matches and its `reports` cover the report.
    pub fn applies(&self, identity: &Identity, report: ReportId) -> bool {
        self.who.matches(identity) && self.reports.covers(report)
    }
}

/// The reports a grant covers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Reports {
    /// Every report.
    All,
    /// These reports, sorted by number, distinct, at least one.
    Only(Vec<ReportId>),
}

impl Reports {
    pub fn covers(&self, id: ReportId) -> bool {
        match self {
            Reports::All => true,
            Reports::Only(ids) => ids.binary_search_by_key(&id.get(), |r| r.get()).is_ok(),
        }
    }

    /// Every report `other` covers, `self` covers.
    pub(crate) fn covers_all(&self, other: &Reports) -> bool {
        match (self, other) {
            (Reports::All, _) => true,
            (Reports::Only(_), Reports::All) => false,
            (Reports::Only(_), Reports::Only(ids)) => ids.iter().all(|&id| self.covers(id)),
        }
    }
}

impl fmt::Display for Reports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reports::All => f.write_str("all reports"),
            Reports::Only(ids) => {
                f.write_str(if ids.len() == 1 {
                    "report "
                } else {
                    "reports "
                })?;
                for (i, id) in ids.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{id}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
