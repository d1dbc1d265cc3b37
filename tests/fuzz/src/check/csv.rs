//! The CSV output, re-read with the csv crate: the first record is the header (the targets
//! always ask for it), and each field is judged by its header's name.

use casegate::redact::ColumnAction;

use crate::rules::{redacted_value_ok, Rules};

/// Checks `out`, written with `delimiter`; `complete` when the redactor accepted the whole
/// body, `footer` when it was asked to pass a row-count footer.
pub fn check(out: &[u8], delimiter: u8, footer: bool, complete: bool) {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(out);
    let mut records: Vec<csv::ByteRecord> = reader
        .byte_records()
        .collect::<Result<_, _>>()
        .expect("the redacted CSV parses");
    if footer && complete {
        // The footer is written last, and only by a complete run.
        let count = records
            .pop()
            .expect("a complete report with a footer has one");
        assert!(
            count.len() == 1 && !count[0].is_empty() && count[0].iter().all(u8::is_ascii_digit),
            "the footer is one field of digits"
        );
    }
    let mut records = records.into_iter();
    // A header of only dropped columns is a blank line, which readers skip; its rows are
    // blank too.
    let Some(header) = records.next() else {
        return;
    };
    let actions: Vec<ColumnAction> = header
        .iter()
        .map(|name| {
            let name = std::str::from_utf8(name).expect("header names in the output are UTF-8");
            let action = Rules::of(name);
            assert!(
                action != ColumnAction::Drop,
                "a dropped column is in the output header: {name}"
            );
            action
        })
        .collect();
    for record in records {
        assert_eq!(
            record.len(),
            actions.len(),
            "a row has another number of fields than the header"
        );
        for (action, value) in actions.iter().zip(record.iter()) {
            if *action != ColumnAction::Keep {
                assert!(
                    redacted_value_ok(*action, value, false),
                    "a {action:?} column holds something else: {:?}",
                    String::from_utf8_lossy(value)
                );
            }
        }
    }
}
