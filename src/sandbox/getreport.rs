//! `GET /getreport`: upstream's checks in upstream's order, then the report from the cache, or
//! streamed while it renders for the huge report.

use chrono::{NaiveDate, NaiveDateTime};
use http::{header, HeaderMap, HeaderValue, Method, Request, Response};
use hyper::body::Incoming;
use md5::{Digest, Md5};

use super::cache::RenderKey;
use super::render::{CsvOptions, Rendering};
use super::reports::{self, Report, Unavailable};
use super::response::{header_safe, AppError, ChunkedBody};
use super::stream::ReportStream;
use super::{Sandbox, REPORT_EXAMPLE};

/// The RequestId of the vendor's example, used when the example is asked for without filters.
pub(crate) const EXAMPLE_REQUEST_ID: &str = "51221195af5536c367accafeaedd91";

/// The accepted `Units` / `periodUnits` values, compared case-insensitively.
const UNITS: &[&str] = &[
    "Year to date",
    "Month to date",
    "Week to date",
    "Next weeks",
    "Next days",
    "Previous year",
    "Previous month",
    "Previous quarter",
    "Previous financial year",
    "Previous municipal year",
    "Today",
];

/// Timeframe and filter parameters: validated, then ignored (the data is fixed), except that
/// they feed the RequestId. In this order in the RequestId's hash.
const FILTERS: &[&str] = &[
    "units",
    "periodunits",
    "multiples",
    "periodmultiples",
    "fromtime",
    "from",
    "periodfrom",
    "untiltime",
    "until",
    "perioduntil",
    "attributefilter",
    "attributefilter2",
    "attributefilter3",
    "keywords",
];

/// The query string, names lower-cased (upstream's names are case-insensitive).
#[derive(Debug)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes());
        Self(
            pairs
                .map(|(name, value)| (name.to_ascii_lowercase(), value.into_owned()))
                .collect(),
        )
    }

    /// The first value given for `name` (lower case); an empty value counts as none.
    fn get(&self, name: &str) -> Option<&str> {
        let (_, value) = self.0.iter().find(|(n, _)| n == name)?;
        Some(value.as_str()).filter(|value| !value.is_empty())
    }
}

/// Handles `GET /getreport` and `GET /getreport?db={account}`.
pub(crate) async fn handle(sandbox: &Sandbox, request: Request<Incoming>) -> Response<ChunkedBody> {
    if !sandbox.config.report_delay.is_zero() {
        tokio::time::sleep(sandbox.config.report_delay).await;
    }
    respond(sandbox, &request)
        .await
        .unwrap_or_else(AppError::into_response)
}

async fn respond(
    sandbox: &Sandbox,
    request: &Request<Incoming>,
) -> Result<Response<ChunkedBody>, AppError> {
    if request.method() != Method::GET {
        return Err(AppError::bad_request(8000, "Invalid HTTP Method."));
    }
    let query = Query::parse(request.uri().query());
    if let Some(db) = query.get("db").filter(|db| *db != sandbox.config.account) {
        let info = format!(
            "API not available here - please use https://uat.icasework.com/getreport?db={}",
            header_safe(db)
        );
        return Err(AppError::bad_request(8001, info));
    }
    authenticate(sandbox, request.headers(), &query)?;
    let Some(report_id) = query.get("reportid") else {
        return Err(AppError::bad_request(
            8003,
            "Required parameter ReportId was not supplied.",
        ));
    };
    let (format, gzip) = validate(&query)?;
    let id = report_id.parse::<u64>().map_err(|_| not_found(report_id))?;
    let report = reports::lookup(id).map_err(|unavailable| match unavailable {
        Unavailable::NotFound => not_found(report_id),
        Unavailable::NotShared => AppError::bad_request(
            8052,
            format!("Report {id} is not shared and cannot be accessed with this API key"),
        ),
        Unavailable::XmlError => AppError::bad_request(
            8061,
            "An unexpected error occurred during XML transformation",
        ),
    })?;
    let rendering = match format {
        Format::Xml => Rendering::Xml {
            request_id: request_id(id, &query),
        },
        Format::Json => Rendering::Json,
        Format::Csv(options) => Rendering::Csv(options),
    };
    let content_type = rendering.content_type();
    let body = if report == Report::Huge {
        // Never whole in memory, so never in the cache either.
        let size = sandbox.config.huge_bytes;
        ChunkedBody::streamed(ReportStream::new(report, rendering, size, gzip))
    } else {
        let key = RenderKey {
            report,
            rendering,
            gzip,
        };
        ChunkedBody::new(sandbox.renders.get_or_render(key).await)
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if gzip && sandbox.config.gzip_content_encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(response)
}

fn not_found(report_id: &str) -> AppError {
    AppError::bad_request(8051, format!("Report {} not found", header_safe(report_id)))
}

/// Bearer token (header, or upstream's `access_token` parameter), else Key + Signature.
fn authenticate(sandbox: &Sandbox, headers: &HeaderMap, query: &Query) -> Result<(), AppError> {
    let invalid_token = || AppError::forbidden("Invalid token (6)");
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        let token = authorization
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        return match token {
            Some(token) if sandbox.tokens.is_valid(token) => Ok(()),
            _ => Err(invalid_token()),
        };
    }
    if let Some(token) = query.get("access_token") {
        return if sandbox.tokens.is_valid(token) {
            Ok(())
        } else {
            Err(invalid_token())
        };
    }
    let (key, signature) = (query.get("key"), query.get("signature"));
    if key.is_none() && signature.is_none() {
        return Err(invalid_token());
    }
    let today = chrono::Utc::now().with_timezone(&sandbox.config.signature_time_zone);
    let expected = signature_for(
        query.get("reportid").unwrap_or_default(),
        &today.format("%Y-%m-%d").to_string(),
        &sandbox.config.secret_key,
    );
    if key == Some(sandbox.config.api_key.as_str()) && signature == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(AppError::forbidden("Incorrect key or signature"))
    }
}

/// `md5hex({ReportId}{YYYY-MM-DD}{secret key})`, lower-case.
pub(crate) fn signature_for(report_id: &str, date: &str, secret_key: &str) -> String {
    let digest = Md5::new()
        .chain_update(report_id)
        .chain_update(date)
        .chain_update(secret_key)
        .finalize();
    hex(&digest)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 30 lower-case hex digits, a function of the report and its filters only: the same request
/// gets the same RequestId, so rendered bodies can be cached.
fn request_id(report: u64, query: &Query) -> String {
    let filters: Vec<(&str, &str)> = FILTERS
        .iter()
        .filter_map(|name| Some((*name, query.get(name)?)))
        .collect();
    if report == REPORT_EXAMPLE && filters.is_empty() {
        return EXAMPLE_REQUEST_ID.to_owned();
    }
    let mut hasher = Md5::new();
    hasher.update(format!("reportid={report}\n"));
    for (name, value) in filters {
        hasher.update(format!("{name}={value}\n"));
    }
    let mut id = hex(&hasher.finalize());
    id.truncate(30);
    id
}

#[derive(Debug)]
enum Format {
    Xml,
    Json,
    Csv(CsvOptions),
}

/// Checks every parameter whose value upstream constrains; returns the format and whether to
/// gzip. A bad value is 8099 naming the parameter.
fn validate(query: &Query) -> Result<(Format, bool), AppError> {
    let invalid = |name: &str, hint: &str| {
        AppError::bad_request(8099, format!("Invalid value for parameter {name}: {hint}"))
    };
    let flag = |param: &str, name: &str| match query.get(param).map(str::to_ascii_lowercase) {
        None => Ok(false),
        Some(value) => match value.as_str() {
            "yes" | "true" => Ok(true),
            "no" | "false" => Ok(false),
            _ => Err(invalid(name, "expected yes or true")),
        },
    };
    let gzip = match query.get("compression") {
        None => false,
        Some(value) if value.eq_ignore_ascii_case("gzip") => true,
        Some(_) => return Err(invalid("Compression", "expected gzip")),
    };
    let mut csv = CsvOptions {
        header: flag("csvheader", "CSVHeader")?,
        footer: flag("csvfooter", "CSVFooter")?,
        ..CsvOptions::default()
    };
    if let Some(delimiter) = query.get("csvdelimitor") {
        csv.delimiter = match delimiter.as_bytes() {
            [byte] if byte.is_ascii() && !matches!(byte, b'"' | b'\r' | b'\n') => *byte,
            _ => return Err(invalid("CSVDelimitor", "expected one ASCII character")),
        };
    }
    if let Some(fields) = query.get("csvfields") {
        let columns: Vec<&str> = reports::columns().collect();
        let mut keep = Vec::new();
        for field in fields
            .split(',')
            .map(str::trim)
            .filter(|field| !field.is_empty())
        {
            // A duplicated column name selects its first occurrence.
            let at = columns
                .iter()
                .position(|column| column.eq_ignore_ascii_case(field));
            keep.push(at.ok_or_else(|| invalid("CSVFields", "unknown column"))?);
        }
        csv.fields = Some(keep).filter(|keep| !keep.is_empty());
    }
    let format = match query.get("format").map(str::to_ascii_lowercase).as_deref() {
        None | Some("xml") => Format::Xml,
        Some("json") => Format::Json,
        Some("csv") => Format::Csv(csv),
        Some(_) => return Err(invalid("Format", "expected csv, json or xml")),
    };
    for (param, name) in [("units", "Units"), ("periodunits", "periodUnits")] {
        if let Some(units) = query.get(param) {
            if !UNITS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(units.trim()))
            {
                return Err(invalid(name, "not a known unit"));
            }
        }
    }
    for (param, name) in [
        ("multiples", "Multiples"),
        ("periodmultiples", "periodMultiples"),
    ] {
        if query
            .get(param)
            .is_some_and(|value| value.parse::<u32>().is_err())
        {
            return Err(invalid(name, "expected a whole number"));
        }
    }
    let dates = [
        ("from", "From"),
        ("periodfrom", "periodFrom"),
        ("until", "Until"),
        ("perioduntil", "periodUntil"),
    ];
    for (param, name) in dates {
        let date = query
            .get(param)
            .map(|value| NaiveDate::parse_from_str(value, "%Y-%m-%d"));
        if matches!(date, Some(Err(_))) {
            return Err(invalid(name, "expected YYYY-MM-DD"));
        }
    }
    for (param, name) in [("fromtime", "FromTime"), ("untiltime", "UntilTime")] {
        if query.get(param).is_some_and(|value| !is_date_time(value)) {
            return Err(invalid(name, "expected YYYY-MM-DD hh:mm:ss"));
        }
    }
    Ok((format, gzip))
}

/// `YYYY-MM-DD hh:mm:ss` as documented, or `YYYY-MM-DDThh:mm:ss.sss` as some clients send.
fn is_date_time(value: &str) -> bool {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .any(|format| NaiveDateTime::parse_from_str(value, format).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_are_case_insensitive_and_first_wins() {
        let query = Query::parse(Some("REPORTID=1&reportid=2&Format=&Units=Year+to+date"));
        assert_eq!(query.get("reportid"), Some("1"));
        assert_eq!(query.get("format"), None);
        assert_eq!(query.get("units"), Some("Year to date"));
    }

    #[test]
    fn date_times_in_both_shapes() {
        assert!(is_date_time("2022-09-21 00:00:01"));
        assert!(is_date_time("2022-09-21T00:00:01.123"));
        assert!(is_date_time("2022-09-21T00:00:01"));
        assert!(!is_date_time("2022-09-21"));
        assert!(!is_date_time("2022-13-21 00:00:01"));
    }

    #[test]
    fn request_ids_are_stable_30_hex_digits() {
        let example = Query::parse(Some("ReportId=10800&Format=xml&Compression=gzip"));
        assert_eq!(request_id(REPORT_EXAMPLE, &example), EXAMPLE_REQUEST_ID);
        let filtered = Query::parse(Some("ReportId=10800&From=2022-09-21"));
        let id = request_id(REPORT_EXAMPLE, &filtered);
        assert_eq!(id.len(), 30);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(id, request_id(REPORT_EXAMPLE, &filtered));
        assert_ne!(id, request_id(10801, &filtered));
    }

    #[test]
    fn signature_is_lowercase_md5_hex() {
        // md5("108002024-01-31secret"), computed independently.
        assert_eq!(
            signature_for("10800", "2024-01-31", "secret"),
            "5b676da04f8aa2fc5f797775eaf77278"
        );
        assert_eq!(
            signature_for("", "", ""),
            "d41d8cd98f00b204e9800998ecf8427e" // md5 of the empty string
        );
    }
}
