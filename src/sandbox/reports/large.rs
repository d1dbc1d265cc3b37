//! The deterministic generator behind the large report.

use std::borrow::Cow;

use chrono::{Duration, NaiveDate};

/// SplitMix64: tiny, fast and stable forever, unlike `rand`'s generators whose output may change
/// between versions; the large report must be byte-identical across builds.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// True once in `n` times.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// (as displayed, as used in e-mail addresses)
const FIRST_NAMES: &[(&str, &str)] = &[
    ("Fred", "fred"),
    ("Zoë", "zoe"),
    ("Łukasz", "lukasz"),
    ("Siân", "sian"),
    ("José", "jose"),
    ("Aoife", "aoife"),
    ("Mohammed", "mohammed"),
    ("Priya", "priya"),
    ("Chloé", "chloe"),
    ("Björn", "bjorn"),
    ("Oluwaseun", "oluwaseun"),
    ("Mary-Jane", "maryjane"),
    ("Wei", "wei"),
    ("Grace", "grace"),
    ("Tomasz", "tomasz"),
    ("Ngozi", "ngozi"),
];

const LAST_NAMES: &[(&str, &str)] = &[
    ("Bloggs", "bloggs"),
    ("O'Brien", "obrien"),
    ("Kowalski", "kowalski"),
    ("Nowak", "nowak"),
    ("Smith", "smith"),
    ("Jones", "jones"),
    ("Davies", "davies"),
    ("Müller", "muller"),
    ("Ní Bhriain", "nibhriain"),
    ("Patel", "patel"),
    ("Okafor", "okafor"),
    ("García", "garcia"),
    ("Wójcik", "wojcik"),
    ("Evans", "evans"),
    ("Brown", "brown"),
    ("Zhang", "zhang"),
];

const TITLES: &[&str] = &["Mr", "Mrs", "Ms", "Miss", "Dr", "Mx", ""];
const STREETS: &[&str] = &[
    "Acacia Avenue",
    "High Street",
    "Church Lane",
    "Station Road",
    "Ffordd y Môr",
    "Mill Lane",
];
const TOWNS: &[&str] = &[
    "Northtown",
    "Southport",
    "Llanfair",
    "Kingsbridge",
    "Ashford",
    "",
];
const COUNTIES: &[&str] = &["Kent", "Gwynedd", "West Yorkshire", "County Durham", ""];
const DOMAINS: &[&str] = &["example.org", "example.com", "mail.example.net"];
const CASE_TYPES: &[&str] = &["Complaint", "Compliment", "Comment", "Enquiry"];
const DIRECTORATES: &[&str] = &[
    "Adult social care",
    "Children's services",
    "Housing & regeneration",
    "Environment",
    "Finance <Revenues>",
];
const SOURCES: &[&str] = &[
    "Received directly",
    "Via councillor",
    "Via MP",
    "Online form",
];
const SERVICES: &[&str] = &[
    "Assessment and care coordination",
    "Council tax",
    "Waste, recycling & street cleaning",
    "Parking \"permits\"",
];
const TEAMS: &[(&str, &str)] = &[
    ("Resident Experience Team", "HFINTOUCHTEAM"),
    ("Complaints & Feedback", "CFTEAM"),
    ("Revenues, Benefits", "REVBEN"),
];
const STAFF: &[(&str, &str)] = &[
    ("Basic External", "EXT-BASICUSER"),
    ("Support User", "SUPPORT"),
    ("Anna Kowalczyk", "AKOWALCZYK"),
    ("Rhys ap Gwilym", "RAPGWILYM"),
];
const STATUSES: &[&str] = &["New case", "In progress", "Closed", "Withdrawn"];
const STAGES: &[&str] = &["Corporate stage 1", "Corporate stage 2", "Ombudsman"];
const METHODS: &[&str] = &["Phone", "Email", "Web", "Letter", "In person"];
const CATEGORIES: &[&str] = &["Resident", "Business", "Visitor"];
const LANGUAGES: &[&str] = &["English", "Cymraeg", "Polski", ""];
const CONTACT_METHODS: &[&str] = &["Email", "Phone", "Letter", ""];
const CONTACT_TIMES: &[&str] = &["Morning", "Afternoon", "Any time", ""];
const DETAILS: &[&str] = &[
    "Bin not collected again, third time this month",
    "Rated the service < 3 stars & wants a call back",
    "Said the letter was \"unacceptable\"",
    "Missed visit on Tuesday,\r\nno one phoned to rearrange",
    "Carer arrived late; client's medication delayed",
    "Wants a refund of £104.93 for the permit",
    "Neighbour's hedge > 3m, blocks light",
];
const NOTES: &[&str] = &[
    "",
    "",
    "Prefers \"letters\", not email",
    "Hard of hearing: use text relay",
    "Call after 5pm <urgent>",
    "Has a lasting power of attorney & carer",
];
const ORGANISATIONS: &[&str] = &[
    "",
    "",
    "",
    "Smith & Sons Ltd",
    "\"Quick\" Removals",
    "Acme, Inc.",
];

fn money(rng: &mut SplitMix64) -> String {
    let pence = rng.below(50_000);
    format!("{}.{:02}", pence / 100, pence % 100)
}

fn date(base: NaiveDate, days: usize) -> NaiveDate {
    base + Duration::days(days as i64)
}

/// Row `index` of the large report: deterministic, realistic and deliberately awkward
/// (markup characters, quotes, commas, CRLFs, non-ASCII, empty values).
pub(super) fn row(index: usize) -> Vec<Cow<'static, str>> {
    let mut rng = SplitMix64(0x00c0_ffee_0000_0000 ^ index as u64);
    let (first, first_ascii) = rng.pick(FIRST_NAMES);
    let (last, last_ascii) = rng.pick(LAST_NAMES);
    let case_type = rng.pick(CASE_TYPES);
    let (team, team_code) = rng.pick(TEAMS);
    let (staff, staff_id) = rng.pick(STAFF);
    let directorate = rng.pick(DIRECTORATES);
    let paid = money(&mut rng);
    let redress = if rng.one_in(3) {
        money(&mut rng)
    } else {
        "0.00".to_owned()
    };
    let base = NaiveDate::from_ymd_opt(2022, 1, 3).expect("a valid date");
    let received = date(base, rng.below(900));
    let (h, m, s) = (8 + rng.below(10), rng.below(60), rng.below(60));
    let created = format!("{received}T{h:02}:{m:02}:{s:02}");
    let updated = format!(
        "{}T{:02}:{:02}:17",
        date(received, rng.below(90)),
        9 + rng.below(9),
        rng.below(60)
    );
    let house = 1 + rng.below(220);
    let address = match rng.below(4) {
        0 => format!("{house} {}\r\n{}", rng.pick(STREETS), rng.pick(TOWNS)),
        1 => format!(
            "Flat {}\r\n{house} {}\r\nOld Town",
            1 + rng.below(12),
            rng.pick(STREETS)
        ),
        2 => format!("{house}, {}", rng.pick(STREETS)),
        _ => String::new(),
    };
    let email = if rng.one_in(6) {
        String::new()
    } else {
        format!(
            "{first_ascii}.{last_ascii}{}@{}",
            rng.below(100),
            rng.pick(DOMAINS)
        )
    };
    let mobile = if rng.one_in(4) {
        String::new()
    } else {
        format!("07700 900{:03}", rng.below(1000))
    };
    let phone = if rng.one_in(3) {
        String::new()
    } else {
        format!("+44 20 7946 0{:03}", rng.below(1000))
    };
    let postcode = format!(
        "{}{} {}{}{}",
        rng.pick(&["AB", "CF", "LL", "ME", "NE", "SW"]),
        1 + rng.below(20),
        rng.below(10),
        rng.pick(&['A', 'B', 'D', 'H', 'N', 'W']),
        rng.pick(&['E', 'F', 'G', 'L', 'P', 'Z']),
    );
    let birth = date(
        NaiveDate::from_ymd_opt(1940, 1, 1).expect("a valid date"),
        rng.below(23_000),
    );

    super::columns()
        .map(|column| -> Cow<'static, str> {
            match column {
                "CaseDetails.CaseId" => (500_000 + index).to_string().into(),
                "CaseDetails.Reference" if !rng.one_in(5) => {
                    format!("CMP-{:06}", 100_000 + index).into()
                }
                "CaseDetails.ParentCaseId" if rng.one_in(10) => {
                    (500_000 + index / 2).to_string().into()
                }
                "CaseDetails.CaseType" | "CaseDetails.FormType" => case_type.into(),
                "CaseDetails.TotalRedress" => redress.clone().into(),
                "CaseDetailsComplaint.TotalPaid" | "CaseDetails.TotalCompensation" => {
                    paid.clone().into()
                }
                "CaseDetailsComplaint.Details" => rng.pick(DETAILS).into(),
                "CaseDetailsComplaint.ServiceGreatgrandparentName" | "CaseDetails.Directorate" => {
                    directorate.into()
                }
                "CaseDetailsComplaint.Source" => rng.pick(SOURCES).into(),
                "CaseDetails.TestValue" => format!("Test{}", index % 7).into(),
                "CaseDetails.Confidential" => (if rng.one_in(8) { "Yes" } else { "No" }).into(),
                "CaseDetails.AssignedTo" | "CaseStatusReceipt.CreatedBy" => staff.into(),
                "CaseDetails.AssignedToId" => staff_id.into(),
                "CaseDetails.Team" => team.into(),
                "CaseDetails.TeamCode" => team_code.into(),
                "CaseDetails.Service" => rng.pick(SERVICES).into(),
                "CaseStatus.Status" => rng.pick(STATUSES).into(),
                "CaseStatus.CurrentStage" => rng.pick(STAGES).into(),
                "CaseStatusReceipt.Method" => rng.pick(METHODS).into(),
                "CaseStatusReceipt.DateReceived" => received.to_string().into(),
                "CaseStatusReceipt.TimeCreated" | "CaseStatusTouchTimes.FirstTouchTime" => {
                    created.clone().into()
                }
                "CaseStatusTouchTimes.LastUpdatedTime" | "CaseStatusTouchTimes.LastTouchTime" => {
                    updated.clone().into()
                }
                "CaseStageCorporateStage1.DateDue" => date(received, 21).to_string().into(),
                "Customer.Reference" => (200_000 + index * 7).to_string().into(),
                "Customer.Title" => rng.pick(TITLES).into(),
                "Customer.FullName" => format!("{last}, {first}").into(),
                "Customer.FirstName" => first.into(),
                "Customer.LastName" => last.into(),
                "Customer.Address" => address.clone().into(),
                "Customer.Town" => rng.pick(TOWNS).into(),
                "Customer.County" => rng.pick(COUNTIES).into(),
                "Customer.Postcode" if !rng.one_in(7) => postcode.clone().into(),
                "Customer.EmailAddress" => email.clone().into(),
                "Customer.Mobile" => mobile.clone().into(),
                "Customer.Phone" => phone.clone().into(),
                "Customer.Organisation" => rng.pick(ORGANISATIONS).into(),
                "Customer.Notes" => rng.pick(NOTES).into(),
                "Customer.ContactLanguage" => rng.pick(LANGUAGES).into(),
                "Customer.DateOfBirth" if !rng.one_in(3) => birth.to_string().into(),
                "Customer.Category" => rng.pick(CATEGORIES).into(),
                "Customer.ContactMethod" => rng.pick(CONTACT_METHODS).into(),
                "Customer.ContactTime" => rng.pick(CONTACT_TIMES).into(),
                "CustomerSatisfaction.OverallRating" if rng.one_in(4) => {
                    (1 + rng.below(5)).to_string().into()
                }
                _ => example_value(column).into(),
            }
        })
        .collect()
}

/// The example's value for `column` (the first, for duplicated columns).
fn example_value(column: &str) -> &'static str {
    super::EXAMPLE_ROW
        .iter()
        .find(|(c, _)| *c == column)
        .map_or("", |(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::super::{columns, EXAMPLE_ROW, LARGE_ROWS};
    use super::*;

    #[test]
    fn rows_are_deterministic_and_awkward() {
        assert_eq!(row(42), row(42));
        let rows: Vec<_> = (0..LARGE_ROWS).map(row).collect();
        assert!(rows.iter().all(|row| row.len() == EXAMPLE_ROW.len()));
        let all = |needle: &str| rows.iter().flatten().any(|value| value.contains(needle));
        for needle in [
            "&", "<", "\"", ",", "'", "\r\n", "Zoë", "Łukasz", "@", "07700",
        ] {
            assert!(all(needle), "no value contains {needle:?}");
        }
        assert!(rows.iter().flatten().any(|value| value.is_empty()));
        let full_name = columns().position(|c| c == "Customer.FullName").unwrap();
        let names: std::collections::HashSet<_> = rows.iter().map(|row| &row[full_name]).collect();
        assert!(names.len() > 100, "only {} distinct names", names.len());
    }
}
