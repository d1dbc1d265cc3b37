//! Re-reading a redactor's output as a client would, with the format's standard parser, and
//! asserting what the grant promises: no dropped column appears, and a masked or hashed column
//! holds the mask or a pseudonym and nothing else.
//!
//! Each checker takes the output of a complete run (every call `Ok`: the whole document) or of
//! a failed one (whole, redacted rows up to the failure; the checker closes the document the
//! way the client's parser would need it). Only what the redactors promise for *any* input is
//! asserted, so a legitimate report can never fail a check.

pub mod csv;
pub mod json;
pub mod xml;
