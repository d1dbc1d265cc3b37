//! The column rules every redaction target applies, like a typical grant: `Customer.*` dropped,
//! but `Customer.Phone` masked and `Customer.EmailAddress` hashed. Names match in any ASCII
//! case, so the fuzzer's case flips still meet the rules.

use casegate::redact::{ColumnAction, Columns};

/// What replaces a masked value.
pub const MASK: &str = "[withheld]";
/// Length of a pseudonym: lowercase hex digits.
pub const PSEUDONYM_LEN: usize = 16;

const PREFIX: &str = "customer.";
const MASKED: &str = "customer.phone";
const HASHED: &str = "customer.emailaddress";

/// The rules; stateless, so the checkers can ask them too.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rules;

impl Rules {
    /// The action for a column name, as the checkers see it.
    pub fn of(column: &str) -> ColumnAction {
        if column.eq_ignore_ascii_case(MASKED) {
            ColumnAction::Mask
        } else if column.eq_ignore_ascii_case(HASHED) {
            ColumnAction::Hash
        } else if column
            .get(..PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
        {
            ColumnAction::Drop
        } else {
            ColumnAction::Keep
        }
    }
}

impl Columns for Rules {
    fn action(&mut self, column: &str) -> ColumnAction {
        Rules::of(column)
    }

    fn mask(&self) -> &str {
        MASK
    }

    /// FNV-1a, 64 bits, in hex: cheap and deterministic (the gateway's is a keyed HMAC; what
    /// matters here is that the output holds this and never the value).
    fn pseudonym(&self, value: &str) -> String {
        let hash = value.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{hash:016x}")
    }
}

/// Whether `value` is what a masked or hashed column may hold in the output: the mask, or a
/// pseudonym. `empty_ok` where the format keeps an empty value empty (XML).
pub fn redacted_value_ok(action: ColumnAction, value: &[u8], empty_ok: bool) -> bool {
    if empty_ok && value.is_empty() {
        return true;
    }
    match action {
        ColumnAction::Mask => value == MASK.as_bytes(),
        ColumnAction::Hash => {
            value.len() == PSEUDONYM_LEN
                && value
                    .iter()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        }
        ColumnAction::Keep | ColumnAction::Drop => false,
    }
}
