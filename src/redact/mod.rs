//! Column-level redaction of report bodies while they stream: one plain, synchronous state
//! machine per format (`xml`, `json`, `csv`), fed chunk by chunk, testable and fuzzable without
//! HTTP. Each writes only whole rows, every value already dropped, masked, hashed or kept by the
//! grant's column rules; anything it cannot be sure of is an error, and the caller of a
//! redactor must then abort the response (fail closed).

mod body;
pub mod csv_report;
mod gzip;
pub mod json;
mod pipeline;
#[cfg(test)]
mod proptests;
pub mod xml;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

pub use self::body::RedactBody;
pub use self::gzip::{Gunzip, Gzip};
pub use self::pipeline::Pipeline;
use crate::audit::Escaped;
use crate::params::Format;
pub use crate::policy::ColumnAction;
use crate::policy::Grant;

/// What the redactors need to know about columns. The gateway uses [`ColumnPlan`]; tests and
/// fuzzers may use anything simpler.
pub trait Columns {
    /// The action for a column, by its name as the report spells it.
    fn action(&mut self, column: &str) -> ColumnAction;
    /// The text that replaces a masked value.
    fn mask(&self) -> &str;
    /// The keyed pseudonym of a (decoded) value, for hashed columns.
    fn pseudonym(&self, value: &str) -> String;
}

/// Why a body could not be redacted. Never holds a value from the report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    /// The body is not the shape the format promises (another root, nesting inside a column,
    /// a JSON value that is an object or array, an unterminated quote, ...).
    #[error("the report is not in the expected {format} shape: {what}")]
    Shape {
        format: &'static str,
        what: &'static str,
    },
    /// Text that must be UTF-8 (names, values to hash) is not.
    #[error("the report holds invalid UTF-8 in the {format} body")]
    Utf8 { format: &'static str },
    /// One row is larger than the redactor will hold at once.
    #[error("a row of the {format} report is larger than {limit} bytes")]
    RowTooLarge { format: &'static str, limit: usize },
    /// The body ended in the middle of the document.
    #[error("the {format} report ended before it was complete")]
    Truncated { format: &'static str },
}

impl RedactError {
    /// The format of the body that failed: a bounded label for metrics.
    pub fn format(&self) -> &'static str {
        match self {
            RedactError::Shape { format, .. }
            | RedactError::Utf8 { format }
            | RedactError::RowTooLarge { format, .. }
            | RedactError::Truncated { format } => format,
        }
    }

    /// Counts this failure: `outcome` is `refused` (a 502, nothing sent) or `aborted` (the
    /// transfer was cut off).
    pub fn count(&self, outcome: &'static str) {
        crate::metrics::metrics()
            .redaction_failures
            .with_label_values(&[self.format(), outcome])
            .inc();
    }
}

/// A streaming redactor for one response body.
pub trait Redactor: Send {
    /// Feeds the next chunk of the body; appends redacted output (whole rows only) to `out`.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError>;
    /// The body ended: checks that it ended complete and writes what is left.
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), RedactError>;
    /// Records written so far: rows, and the header of a CSV body. Once it is one, every
    /// column of the report has been seen (iCasework gives every row the same columns).
    fn records(&self) -> u64;
}

/// Copies a body as it is: for streams that need only the pipeline's gzip stage.
#[derive(Debug)]
pub struct Passthrough;

impl Redactor for Passthrough {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), RedactError> {
        out.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), RedactError> {
        Ok(())
    }

    fn records(&self) -> u64 {
        0
    }
}

/// Largest single row a redactor holds by default (rows are a few KiB; a multi-megabyte "row"
/// means the body is not what it claims to be).
pub const DEFAULT_MAX_ROW_BYTES: usize = 4 * 1024 * 1024;

/// The grant's column rules for one response, with each column's action remembered so glob
/// matching runs once per column name, not once per value.
#[derive(Debug)]
pub struct ColumnPlan {
    grant: Arc<Grant>,
    actions: HashMap<Box<str>, ColumnAction>,
    withheld: Withheld,
}

impl ColumnPlan {
    pub fn new(grant: Arc<Grant>) -> Self {
        Self {
            grant,
            actions: HashMap::new(),
            withheld: Withheld::default(),
        }
    }

    /// The names of the columns this plan has withheld, readable while the redactor owns it.
    pub fn withheld(&self) -> Withheld {
        self.withheld.clone()
    }
}

/// The names of the columns a response withheld (dropped, masked or hashed), as the report
/// spells them: for the response header's count and the audit log; never their values.
#[derive(Debug, Clone, Default)]
pub struct Withheld(Arc<Mutex<BTreeMap<Box<str>, ColumnAction>>>);

impl Withheld {
    fn insert(&self, column: &str, action: ColumnAction) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(column.into(), action);
    }

    /// How many distinct columns were withheld by `action`.
    pub fn count_of(&self, action: ColumnAction) -> usize {
        let names = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        names.values().filter(|a| **a == action).count()
    }

    /// How many distinct columns were withheld so far.
    pub fn count(&self) -> usize {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Their names, sorted.
    pub fn names(&self) -> Vec<String> {
        let names = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        names.keys().map(|n| n.to_string()).collect()
    }
}

impl Withheld {
    /// The names withheld so far, fixed: for a cache entry, once the body has been read.
    pub fn columns(&self) -> WithheldColumns {
        let names = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        WithheldColumns::of(names.keys().cloned().collect())
    }
}

/// The names of the columns a response withheld, fixed once the body is known: kept with cache
/// entries, and noted for the audit events of the answers made from them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WithheldColumns(Arc<ColumnNames>);

#[derive(Debug, Default, PartialEq, Eq)]
struct ColumnNames {
    names: Box<[Box<str>]>,
    /// Comma-separated, joined and escaped once: every audit event of a hit on the entry
    /// writes them.
    joined: Escaped,
}

impl WithheldColumns {
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        WithheldColumns::of(names.into_iter().map(String::into_boxed_str).collect())
    }

    fn of(names: Box<[Box<str>]>) -> Self {
        let joined = Escaped::new(&names.join(","));
        WithheldColumns(Arc::new(ColumnNames { names, joined }))
    }

    /// The names, sorted.
    pub fn names(&self) -> &[Box<str>] {
        &self.0.names
    }

    /// The names, sorted and separated by commas, as the audit log writes them.
    pub fn joined(&self) -> &Escaped {
        &self.0.joined
    }

    pub fn is_empty(&self) -> bool {
        self.0.names.is_empty()
    }
}

impl Columns for ColumnPlan {
    fn action(&mut self, column: &str) -> ColumnAction {
        if let Some(action) = self.actions.get(column) {
            return *action;
        }
        let action = self.grant.columns.action(column);
        self.actions.insert(column.into(), action);
        if action != ColumnAction::Keep {
            self.withheld.insert(column, action);
        }
        action
    }

    fn mask(&self) -> &str {
        self.grant.columns.mask_with()
    }

    fn pseudonym(&self, value: &str) -> String {
        // The policy refuses a grant that hashes without a key, so the key is there; should it
        // not be, the value is masked rather than leaked.
        match self.grant.columns.hash_key() {
            Some(key) => key.pseudonym(value),
            None => self.mask().to_owned(),
        }
    }
}

/// What the caller asked of a CSV report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvSettings {
    /// The caller's `CSVDelimitor` (ASCII; `b','` by default).
    pub delimiter: u8,
    /// The caller asked for the header row (casegate always fetches it).
    pub header: bool,
    /// The caller asked for the row-count footer.
    pub footer: bool,
}

/// The redactor for one response in `format`, applying `plan`.
pub fn for_format(format: Format, plan: ColumnPlan, csv: CsvSettings) -> Box<dyn Redactor> {
    match format {
        Format::Xml => Box::new(xml::XmlRedactor::new(plan)),
        Format::Json => Box::new(json::JsonRedactor::new(plan)),
        Format::Csv => Box::new(csv_report::CsvRedactor::new(
            plan,
            csv_report::CsvOptions {
                delimiter: csv.delimiter,
                emit_header: csv.header,
                footer: csv.footer,
                max_row_bytes: DEFAULT_MAX_ROW_BYTES,
            },
        )),
    }
}
