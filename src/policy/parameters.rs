//! A grant's parameter rules: which GetReport parameters its callers may not send, and which
//! values it fixes.

use crate::params::{GetReportQuery, Param};

/// A parameter fixed to one value for the grant's callers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pin {
    pub param: Param,
    /// As written in the policy (checked by the parameter's rules when the policy loaded).
    pub value: String,
    /// The canonical spelling; `None` when the value is the upstream's default (`CSVDelimitor`
    /// `,`), which the canonical form leaves out.
    pub canonical: Option<String>,
}

/// Forbidden and pinned parameters.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ParameterRules {
    /// In [`Param::ALL`] order.
    pub(crate) forbidden: Vec<Param>,
    /// In [`Param::ALL`] order.
    pub(crate) pins: Vec<Pin>,
}

/// Why [`ParameterRules::apply`] refused a query.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Refusal {
    Forbidden(Param),
    Pinned(Param),
}

impl ParameterRules {
    pub fn forbidden(&self) -> &[Param] {
        &self.forbidden
    }

    pub fn pins(&self) -> &[Pin] {
        &self.pins
    }

    pub fn is_forbidden(&self, p: Param) -> bool {
        self.forbidden.contains(&p)
    }

    /// Checks `query` and adds the pinned values it lacks. Forbidden parameters are checked
    /// first, then pins, each in [`Param::ALL`] order; the first fault is the answer. A value
    /// equal to the pin (after normalisation: `csv` and `CSV` are one value) is accepted.
    pub(crate) fn apply(&self, query: &mut GetReportQuery) -> Result<(), Refusal> {
        let present = |q: &GetReportQuery, p: Param| match p {
            Param::Compression => q.gzip,
            _ => q.canonical.get(p).is_some(),
        };
        if let Some(&p) = self.forbidden.iter().find(|&&p| present(query, p)) {
            return Err(Refusal::Forbidden(p));
        }
        for pin in &self.pins {
            match query.canonical.get(pin.param) {
                Some(given) if Some(given) != pin.canonical.as_deref() => {
                    return Err(Refusal::Pinned(pin.param));
                }
                Some(_) => {}
                // A pin was checked with these same rules when the policy loaded, so `set` does
                // not fail; if it ever did, refuse rather than send the query unpinned.
                None => query
                    .canonical
                    .set(pin.param, &pin.value)
                    .map_err(|_| Refusal::Pinned(pin.param))?,
            }
        }
        Ok(())
    }
}
