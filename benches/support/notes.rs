//! The closing notes of a comparison bench's report: the quiet-machine check, whether other
//! processes disturbed a measurement, and every failed request by run.

use std::fmt::Write as _;

use super::load::RunResult;
use super::DISTURBED;

/// Appends the notes to `out`; `runs` are each measurement with the words that place it
/// (e.g. "closed loop, nginx").
pub fn closing_notes(out: &mut String, quiet: &str, runs: &[(String, &RunResult)]) {
    let _ = writeln!(out, "- Before the run: {quiet}");
    let disturbed = runs
        .iter()
        .filter_map(|(_, r)| r.cpu.foreign)
        .fold(0.0, f64::max);
    if disturbed > DISTURBED {
        let _ = writeln!(out, "- **DISTURBED: other processes used up to {disturbed:.0} % of a core during a measurement; rerun on a quiet machine before trusting these figures.**");
    }
    let errors: u64 = runs.iter().map(|(_, r)| r.stats.error_count()).sum();
    if errors == 0 {
        let _ = writeln!(out, "- Errors: none.");
        return;
    }
    let _ = writeln!(out, "- **ERRORS: {errors}**");
    for (place, run) in runs {
        for (e, n) in &run.stats.errors {
            let _ = writeln!(out, "  - {place}: {n} × {e}");
        }
    }
}
