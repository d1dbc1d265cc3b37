//! Golden files: the example report of getreport-api.txt (the sandbox's report 10800) redacted
//! under two grants of `policies/example.toml`, loaded as the gateway loads it, in every format,
//! compared byte for byte with `tests/fixtures/golden/example.<grant>.<format>`.
//!
//! `analytics` drops `Customer.*` but hashes the email address and masks the phone;
//! `casework-leads` is an allow-list grant that also masks the phone. The gateway refuses
//! `analytics` XML (its `formats` are json and csv); its XML file still pins the redactor's
//! output under those column rules.
//!
//! After an intended change, `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the files
//! instead of comparing; review the diff by eye before committing it.

use std::path::Path;

use casegate::params::Format;
use casegate::policy::PolicyStore;
use casegate::redact::{for_format, ColumnPlan, CsvSettings, Pipeline};
use casegate::sandbox::{report_body, REPORT_EXAMPLE};

const GRANTS: [&str; 2] = ["analytics", "casework-leads"];
const FORMATS: [(Format, &str); 3] = [
    (Format::Xml, "xml"),
    (Format::Json, "json"),
    (Format::Csv, "csv"),
];

/// The example report in `format`, redacted by the pipeline under `grant`'s column rules.
fn redact(store: &PolicyStore, grant: &str, format: Format, extension: &str) -> Vec<u8> {
    let policy = store.current();
    let grant = policy
        .grants()
        .iter()
        .find(|g| g.name == grant)
        .unwrap_or_else(|| panic!("no grant {grant} in policies/example.toml"));
    let plan = ColumnPlan::new(grant.clone());
    // As a caller of `analytics` asks (its policy pins CSVHeader=yes); comma-delimited.
    let csv = CsvSettings {
        delimiter: b',',
        header: true,
        footer: false,
    };
    let mut pipeline = Pipeline::new(for_format(format, plan, csv), false, false);
    let body = report_body(REPORT_EXAMPLE, extension).unwrap();
    let mut out = Vec::new();
    pipeline.feed(&body, &mut out).unwrap();
    pipeline.finish(&mut out).unwrap();
    out
}

#[test]
fn example_report_under_example_grants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let store =
        PolicyStore::load(&root.join("policies/example.toml")).unwrap_or_else(|p| panic!("{p}"));
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for grant in GRANTS {
        for (format, extension) in FORMATS {
            let got = redact(&store, grant, format, extension);
            let path = root.join(format!("tests/fixtures/golden/example.{grant}.{extension}"));
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
            if got != want {
                let line = got
                    .split(|&b| b == b'\n')
                    .zip(want.split(|&b| b == b'\n'))
                    .position(|(g, w)| g != w)
                    .map_or("at the end".to_owned(), |l| format!("at line {}", l + 1));
                stale.push(format!("{} differs {line}", path.display()));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nUPDATE_GOLDEN=1 cargo test --test golden rewrites them; review the diff",
        stale.join("\n")
    );
}
