//! The sandbox's report data: the vendor's example row, verbatim, and a deterministic generator
//! for the large and the huge report.
//!
//! Every report has the example's columns, in the example's order, duplicates included
//! (`CaseDetails.TotalRedress` and `CaseDetailsComplaint.TotalPaid` appear twice, as upstream).

use std::borrow::Cow;

mod large;

use super::{
    REPORT_EMPTY, REPORT_EXAMPLE, REPORT_HUGE, REPORT_LARGE, REPORT_NOT_SHARED, REPORT_XML_ERROR,
};

/// The example row of `getreport-api.txt`: (column, value), in the documented order.
///
/// `Customer.Address` is taken from the JSON example, which keeps the CRs the XML example lost.
pub(crate) const EXAMPLE_ROW: &[(&str, &str)] = &[
    ("CaseDetails.TotalRedress", "0.00"),
    ("CaseDetailsComplaint.Details", "drffddfdv"),
    (
        "CaseDetailsComplaint.ServiceGreatgrandparentName",
        "Adult social care",
    ),
    ("CaseDetailsComplaint.Source", "Received directly"),
    ("CaseDetails.TestValue", "Test1"),
    ("CaseDetailsComplaint.TotalPaid", "104.93"),
    ("CaseDetails.TotalRedress", "0.00"),
    ("CaseDetails.CaseId", "453781"),
    ("CaseDetails.Reference", ""),
    ("CaseDetails.ParentCaseId", ""),
    ("CaseDetails.CaseType", "Complaint"),
    ("CaseDetails.FormType", "Complaint"),
    ("CaseDetails.Rating", ""),
    ("CaseDetails.Confidential", "No"),
    ("CaseDetails.AssignedTo", "Basic External"),
    ("CaseDetails.AssignedToId", "EXT-BASICUSER"),
    ("CaseDetails.Department", ""),
    ("CaseDetails.AssignedToJobTitle", ""),
    ("CaseDetails.AssignedToAddress", ""),
    ("CaseDetails.Team", "Resident Experience Team"),
    ("CaseDetails.TeamCode", "HFINTOUCHTEAM"),
    ("CaseDetails.Directorate", "Adult social care"),
    ("CaseDetails.Service", "Assessment and care coordination"),
    ("CaseDetails.PrimaryClassificationId", ""),
    ("CaseDetails.PrimaryClassificationIdId", ""),
    ("CaseDetails.PrimaryCause", ""),
    ("CaseDetailsComplaint.TotalVindiciaRefund", ""),
    ("CaseDetailsComplaint.TotalRefundToCard", ""),
    ("CaseDetailsComplaint.TotalRefund", ""),
    ("CaseDetailsComplaint.TotalPaid", "104.93"),
    ("CaseDetailsComplaint.TotalGoodwill", ""),
    ("CaseDetailsComplaint.TotalComp", ""),
    ("CaseDetailsComplaint.TotalCheque", ""),
    ("CaseDetails.TotalCompensation", "104.93"),
    ("CaseStatus.Status", "New case"),
    ("CaseStatus.CurrentTargetDate", ""),
    ("CaseStatus.CurrentTargetDays", ""),
    ("CaseStatus.CurrentStage", "Corporate stage 1"),
    ("CaseStatus.CurrentOutcome", ""),
    ("CaseStatus.CurrentOutcomeDate", ""),
    ("CaseStatus.CurrentStageOutcome", ""),
    ("CaseStatus.CurrentStageOutcomeDate", ""),
    ("CaseStatusReceipt.Method", "Phone"),
    ("CaseStatusReceipt.CreatedBy", "Support User"),
    ("CaseStatusReceipt.DateReceived", "2022-06-08"),
    ("CaseStatusReceipt.TimeCreated", "2022-06-08T11:33:41"),
    ("CaseStatusTouchTimes.FirstTouchTime", "2022-06-08T11:33:41"),
    (
        "CaseStatusTouchTimes.LastUpdatedTime",
        "2022-08-25T17:30:03",
    ),
    ("CaseStatusTouchTimes.LastTouchTime", "2022-08-25T17:30:03"),
    ("CaseStatusAcceptance.DateAccepted", ""),
    ("CaseStatusRejection.DateReturned", ""),
    ("CaseStatusRejection.ReturnedReason", ""),
    ("CaseStatusWithdrawal.DateWithdrawn", ""),
    ("CaseStatusWithdrawal.WithdrawnReason", ""),
    ("CaseStatusClosure.DateClosed", ""),
    ("CaseStatusClosure.ClosureInTarget", ""),
    ("CaseStageCorporateStage1.TargetDays", "15"),
    ("CaseStageCorporateStage1.DateDue", "2022-06-29"),
    ("CaseStageCorporateStage1.Outcome", ""),
    ("CaseStageCorporateStage1.OutcomeDetails", ""),
    ("CaseStageCorporateStage1.OutcomeBy", ""),
    ("CaseStageCorporateStage1.DateCompleted", ""),
    ("CaseStageCorporateStage1.ResponseInTarget", ""),
    ("CaseStageCorporateStage2.TargetDays", "20"),
    ("CaseStageCorporateStage2.DateReceived", ""),
    ("CaseStageCorporateStage2.DateDue", ""),
    ("CaseStageCorporateStage2.Outcome", ""),
    ("CaseStageCorporateStage2.OutcomeDetails", ""),
    ("CaseStageCorporateStage2.OutcomeBy", ""),
    ("CaseStageCorporateStage2.DateCompleted", ""),
    ("CaseStageCorporateStage2.ResponseInTarget", ""),
    ("CaseStageStage3.TargetDays", ""),
    ("CaseStageStage3.DateReceived", ""),
    ("CaseStageStage3.DateDue", ""),
    ("CaseStageStage3.Outcome", ""),
    ("CaseStageStage3.OutcomeDetails", ""),
    ("CaseStageStage3.OutcomeBy", ""),
    ("CaseStageStage3.DateCompleted", ""),
    ("CaseStageStage3.ResponseInTarget", ""),
    ("CaseStageOmbudsman.TargetDays", ""),
    ("CaseStageOmbudsman.DateReceived", ""),
    ("CaseStageOmbudsman.DateDue", ""),
    ("CaseStageOmbudsman.Outcome", ""),
    ("CaseStageOmbudsman.OutcomeDetails", ""),
    ("CaseStageOmbudsman.OutcomeBy", ""),
    ("CaseStageOmbudsman.DateCompleted", ""),
    ("CaseStageOmbudsman.ResponseInTarget", ""),
    ("Customer.Reference", "214521"),
    ("Customer.Title", "Mr"),
    ("Customer.FullName", "Bloggs, Fred"),
    ("Customer.FirstName", "Fred"),
    ("Customer.LastName", "Bloggs"),
    ("Customer.Address", "Test\r\na\r\nb\r\ncsss\r\nd"),
    ("Customer.Town", ""),
    ("Customer.County", ""),
    ("Customer.Postcode", ""),
    ("Customer.EmailAddress", "prasad.iyer@civica.co.uk"),
    ("CustomerSatisfaction.OverallRating", ""),
    ("Customer.Mobile", "test"),
    ("Customer.Organisation", "test"),
    ("Customer.Phone", "test"),
    ("Customer.Notes", ""),
    ("Customer.ContactLanguage", ""),
    ("Customer.DateOfBirth", ""),
    ("Customer.Category", "Resident"),
    ("Customer.Stage1ShortPay", ""),
    ("Customer.ContactMethod", ""),
    ("Customer.ContactTime", ""),
    ("Customer.Stage3ShortPay", ""),
    ("Customer.Stage4ShortPay", ""),
    ("Customer.Stage2ShortPay", ""),
];

/// The number of rows of [`REPORT_LARGE`](super::REPORT_LARGE).
pub(crate) const LARGE_ROWS: usize = 5_000;

/// A report the sandbox can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Report {
    /// The one-row example of the vendor's documentation.
    Example,
    /// [`LARGE_ROWS`] generated rows of realistic, fake PII.
    Large,
    /// No rows.
    Empty,
    /// The large report's rows, this many of them (bench and soak input; never served by id).
    Generated(usize),
    /// The large report's rows until the body is [`SandboxConfig::huge_bytes`] long: no fixed
    /// row count, rendered while it streams and never whole (see `stream.rs`).
    ///
    /// [`SandboxConfig::huge_bytes`]: super::SandboxConfig::huge_bytes
    Huge,
}

/// Why a report id cannot be served; each maps to one upstream error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// 8051: no such report.
    NotFound,
    /// 8052: the report exists but is not shared with the API key's user.
    NotShared,
    /// 8061: upstream fails while transforming the report.
    XmlError,
}

/// Finds the report with this id.
pub(crate) fn lookup(id: u64) -> Result<Report, Unavailable> {
    match id {
        REPORT_EXAMPLE => Ok(Report::Example),
        REPORT_LARGE => Ok(Report::Large),
        REPORT_EMPTY => Ok(Report::Empty),
        REPORT_HUGE => Ok(Report::Huge),
        REPORT_NOT_SHARED => Err(Unavailable::NotShared),
        REPORT_XML_ERROR => Err(Unavailable::XmlError),
        _ => Err(Unavailable::NotFound),
    }
}

/// The columns every report has, in order.
pub(crate) fn columns() -> impl ExactSizeIterator<Item = &'static str> {
    EXAMPLE_ROW.iter().map(|(column, _)| *column)
}

impl Report {
    /// How many rows the report has; `None` for [`Report::Huge`], whose length is a size.
    pub(crate) fn row_count(self) -> Option<usize> {
        match self {
            Report::Example => Some(1),
            Report::Large => Some(LARGE_ROWS),
            Report::Empty => Some(0),
            Report::Generated(rows) => Some(rows),
            Report::Huge => None,
        }
    }

    /// The values of row `index` (< [`row_count`](Self::row_count)), one per column.
    pub(crate) fn row(self, index: usize) -> Vec<Cow<'static, str>> {
        match self {
            Report::Example => EXAMPLE_ROW.iter().map(|(_, v)| Cow::Borrowed(*v)).collect(),
            Report::Large | Report::Generated(_) | Report::Huge => large::row(index),
            Report::Empty => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_maps_every_special_id() {
        assert_eq!(lookup(REPORT_EXAMPLE), Ok(Report::Example));
        assert_eq!(lookup(REPORT_LARGE), Ok(Report::Large));
        assert_eq!(lookup(REPORT_EMPTY), Ok(Report::Empty));
        assert_eq!(lookup(REPORT_HUGE), Ok(Report::Huge));
        assert_eq!(lookup(REPORT_NOT_SHARED), Err(Unavailable::NotShared));
        assert_eq!(lookup(REPORT_XML_ERROR), Err(Unavailable::XmlError));
        assert_eq!(lookup(123), Err(Unavailable::NotFound));
    }
}
