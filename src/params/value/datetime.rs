//! Dates (`From`, `Until`, `periodFrom`, `periodUntil`) and date-times (`FromTime`, `UntilTime`).

use std::borrow::Cow;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};

use super::{number, Reason};

const DATE_SHAPE: Reason = "must be a calendar date YYYY-MM-DD, e.g. 2024-01-31";
const DATE_REAL: Reason = "is not a real calendar date; give one that exists, as YYYY-MM-DD";
const DATE_TIME_SHAPE: Reason = "must be a date and time YYYY-MM-DD hh:mm:ss \
    (or YYYY-MM-DDThh:mm:ss, with an optional fraction of a second), e.g. 2024-01-31 23:59:59";
const DATE_TIME_REAL: Reason =
    "is not a real date and time; give one that exists, as YYYY-MM-DD hh:mm:ss";

/// Which way a fraction of a second goes: outwards, so the window only ever grows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Round {
    /// FromTime: the start moves earlier (the fraction is dropped).
    Down,
    /// UntilTime: the end moves later (a non-zero fraction becomes the next whole second).
    Up,
}

/// Exactly `YYYY-MM-DD`, a day that exists; kept as given (it is already canonical).
pub(super) fn date(value: Cow<'_, str>) -> Result<Cow<'_, str>, Reason> {
    match parse_date(value.as_bytes()) {
        Ok(_) => Ok(value),
        Err(Bad::Shape) => Err(DATE_SHAPE),
        Err(Bad::Real) => Err(DATE_REAL),
    }
}

/// `YYYY-MM-DD hh:mm:ss`, `YYYY-MM-DDThh:mm:ss` or `YYYY-MM-DDThh:mm:ss.f` (1 to 9 digits),
/// normalised to `YYYY-MM-DD hh:mm:ss`, any fraction rounded the way `round` says.
pub(super) fn date_time(value: Cow<'_, str>, round: Round) -> Result<Cow<'_, str>, Reason> {
    let b = value.as_bytes();
    if b.len() < 19 || !matches!(b[10], b' ' | b'T') {
        return Err(DATE_TIME_SHAPE);
    }
    let fraction = match &b[19..] {
        [] => &[][..],
        [b'.', digits @ ..]
            if b[10] == b'T'
                && (1..=9).contains(&digits.len())
                && digits.iter().all(u8::is_ascii_digit) =>
        {
            digits
        }
        _ => return Err(DATE_TIME_SHAPE),
    };
    let mut at = match (parse_date(&b[..10]), parse_time(&b[11..19])) {
        (Ok(date), Ok(time)) => date.and_time(time),
        // The layout hint first: "2024-02-30Tnonsense" is a shape problem before a calendar one.
        (Err(Bad::Shape), _) | (_, Err(Bad::Shape)) => return Err(DATE_TIME_SHAPE),
        _ => return Err(DATE_TIME_REAL),
    };
    if b[10] == b' ' {
        // Already canonical: a fraction is only allowed after 'T'.
        return Ok(value);
    }
    if round == Round::Up && fraction.iter().any(|&d| d != b'0') {
        // Past 9999-12-31 23:59:59 the form has no spelling; nothing is recorded there anyway.
        if let Some(next) = at
            .checked_add_signed(TimeDelta::seconds(1))
            .filter(|next| next.year() <= 9999)
        {
            at = next;
        }
    }
    Ok(Cow::Owned(format_date_time(at)))
}

/// Why a date or time was refused.
#[derive(Clone, Copy, Debug)]
enum Bad {
    /// Not the required layout.
    Shape,
    /// The right layout, but no such day or time (2023-02-29, 24:00:00).
    Real,
}

/// Exactly `YYYY-MM-DD`, checked byte by byte first because chrono also takes `2024-1-5`.
fn parse_date(s: &[u8]) -> Result<NaiveDate, Bad> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *s else {
        return Err(Bad::Shape);
    };
    let (Some(y), Some(m), Some(d)) = (
        number(&[y0, y1, y2, y3]),
        number(&[m0, m1]),
        number(&[d0, d1]),
    ) else {
        return Err(Bad::Shape);
    };
    let y = i32::try_from(y).map_err(|_| Bad::Shape)?;
    NaiveDate::from_ymd_opt(y, m, d).ok_or(Bad::Real)
}

/// Exactly `hh:mm:ss`, a time that exists (no leap second).
fn parse_time(s: &[u8]) -> Result<NaiveTime, Bad> {
    let [h0, h1, b':', m0, m1, b':', s0, s1] = *s else {
        return Err(Bad::Shape);
    };
    let (Some(h), Some(m), Some(s)) = (number(&[h0, h1]), number(&[m0, m1]), number(&[s0, s1]))
    else {
        return Err(Bad::Shape);
    };
    NaiveTime::from_hms_opt(h, m, s).ok_or(Bad::Real)
}

fn format_date_time(at: NaiveDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let table = [
            ("2022-09-21", Ok("2022-09-21")),
            ("2024-02-29", Ok("2024-02-29")),
            ("2000-02-29", Ok("2000-02-29")),
            ("9999-12-31", Ok("9999-12-31")),
            ("0000-01-01", Ok("0000-01-01")),
            ("2024-1-5", Err(DATE_SHAPE)),
            ("2024-01-01 ", Err(DATE_SHAPE)),
            ("24-01-01", Err(DATE_SHAPE)),
            ("2024/01/01", Err(DATE_SHAPE)),
            ("+024-01-01", Err(DATE_SHAPE)),
            ("2024-01-01T00:00:00", Err(DATE_SHAPE)),
            ("2023-02-29", Err(DATE_REAL)),
            ("1900-02-29", Err(DATE_REAL)),
            ("2024-13-01", Err(DATE_REAL)),
            ("2024-04-31", Err(DATE_REAL)),
            ("2024-00-10", Err(DATE_REAL)),
        ];
        for (input, want) in table {
            let got = date(Cow::Borrowed(input));
            assert_eq!(got.as_deref(), want.as_deref(), "{input:?}");
            assert!(matches!(got, Ok(Cow::Borrowed(_)) | Err(_)), "borrowed");
        }
    }

    #[test]
    fn date_times() {
        use Round::{Down, Up};
        #[rustfmt::skip]
        let table = [
            ("2022-09-21 00:00:01", Down, Ok("2022-09-21 00:00:01")),
            ("2022-09-21T00:00:01", Down, Ok("2022-09-21 00:00:01")),
            ("2022-09-21T00:00:01.999999999", Down, Ok("2022-09-21 00:00:01")),
            ("2022-09-21 23:59:59", Up, Ok("2022-09-21 23:59:59")),
            ("2022-09-21T23:59:59.000", Up, Ok("2022-09-21 23:59:59")),
            ("2022-09-21T10:00:00.1", Up, Ok("2022-09-21 10:00:01")),
            ("2023-12-31T23:59:59.5", Up, Ok("2024-01-01 00:00:00")),
            ("2024-02-28T23:59:59.5", Up, Ok("2024-02-29 00:00:00")),
            ("9999-12-31T23:59:59.5", Up, Ok("9999-12-31 23:59:59")),
            ("2022-09-21", Down, Err(DATE_TIME_SHAPE)),
            ("2022-09-21 00:00", Down, Err(DATE_TIME_SHAPE)),
            ("2022-09-21 00:00:01.5", Down, Err(DATE_TIME_SHAPE)),
            ("2022-09-21t00:00:01", Down, Err(DATE_TIME_SHAPE)),
            ("2022-09-21T00:00:01.", Down, Err(DATE_TIME_SHAPE)),
            ("2022-09-21T00:00:01.1234567890", Down, Err(DATE_TIME_SHAPE)),
            ("2022-09-21T00:00:01.5a", Down, Err(DATE_TIME_SHAPE)),
            ("2022-09-21T00:00:01Z", Down, Err(DATE_TIME_SHAPE)),
            ("2022-09-21T00:00:01+01:00", Down, Err(DATE_TIME_SHAPE)),
            ("2022-09-21 0:00:01", Up, Err(DATE_TIME_SHAPE)),
            ("2022-09-21 00-00-01", Up, Err(DATE_TIME_SHAPE)),
            ("2023-02-29Tnonsense", Up, Err(DATE_TIME_SHAPE)),
            ("2023-02-29 00:00:00", Up, Err(DATE_TIME_REAL)),
            ("2022-09-21 24:00:00", Up, Err(DATE_TIME_REAL)),
            ("2022-09-21 23:60:00", Up, Err(DATE_TIME_REAL)),
            ("2022-09-21 23:59:60", Up, Err(DATE_TIME_REAL)),
        ];
        for (input, round, want) in table {
            let got = date_time(Cow::Borrowed(input), round);
            assert_eq!(got.as_deref(), want.as_deref(), "{input:?} {round:?}");
        }
        // The canonical spelling passes through without a copy.
        let canonical = date_time(Cow::Borrowed("2022-09-21 00:00:01"), Up);
        assert!(matches!(canonical, Ok(Cow::Borrowed(_))));
    }
}
