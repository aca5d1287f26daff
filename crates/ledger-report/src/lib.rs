//! Custody's compliance reports: turns a verified provenance trace into report figures
//! (origins by mine and country, recycled content, carbon footprint, due diligence, chain of
//! custody) and renders them as JSON, CSV, HTML, Graphviz DOT, GS1 EPCIS 2.0 JSON-LD or
//! battery-passport sections.
//!
//! The crate performs no IO: the caller verifies the lot, hands over the trace and the state
//! it was verified against, and writes the returned text where it likes. Every renderer reads
//! the same [`figures::ReportData`], so the formats cannot disagree; `docs/reports.md` gives
//! the method of every figure and the schema of every format.
//!
//! ```no_run
//! # fn demo(inputs: ledger_report::figures::Inputs<'_>) -> Result<(), ledger_report::ReportError> {
//! use ledger_report::{Format, figures, render};
//! let data = figures::build(inputs)?;
//! let html = render(&data, Format::Html)?;
//! assert!(html.contains(data.lot.as_str()));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod eventhash;
pub mod figures;
pub mod gs1;
pub mod ldjson;
pub mod num;
pub mod render;

use ledger_core::id::LotId;
use ledger_core::state::StateError;

pub use figures::{Inputs, ReportData, Verification};

/// The `schema` value of the JSON report; bumped on any incompatible change.
pub const JSON_SCHEMA: &str = "custody-report/1";
/// The `schema` value of the battery-passport export.
pub const PASSPORT_SCHEMA: &str = "custody-passport/1";

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The product lot is not in the state the trace was verified against.
    #[error("lot {0} is not in the ledger")]
    UnknownLot(LotId),
    /// Ledger state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// A value cannot be put into the EPCIS event hash (for example a number too large for
    /// the reference implementation's floating point).
    #[error("cannot compute the EPCIS event hash: {0}")]
    EventHash(String),
    /// JSON serialization failed.
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The Digital Link URL does not fit in a QR code.
    #[error("cannot draw the passport QR code: {0}")]
    Qr(String),
}

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// The versioned JSON report (`custody-report/1`).
    Json,
    /// CSV tables (origins, smelters and refiners, suppliers' due diligence, ...).
    Csv,
    /// One self-contained HTML page with the provenance graph as inline SVG.
    Html,
    /// Graphviz DOT of the provenance graph.
    Dot,
    /// A GS1 EPCIS 2.0 JSON-LD `EPCISDocument`.
    Epcis,
    /// Battery Pass (v1.2.0) shaped carbon footprint, circularity and due-diligence sections.
    Passport,
}

impl Format {
    /// Every format, in the order the CLI lists them.
    pub const ALL: [Format; 6] = [
        Format::Json,
        Format::Csv,
        Format::Html,
        Format::Dot,
        Format::Epcis,
        Format::Passport,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Html => "html",
            Format::Dot => "dot",
            Format::Epcis => "epcis",
            Format::Passport => "passport",
        }
    }

    /// Parses a command-line name.
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Renders the report in `format`, with passport QR codes pointing at
/// [`gs1::DEFAULT_BASE_URL`].
pub fn render(data: &ReportData, format: Format) -> Result<String, ReportError> {
    render_for(data, format, gs1::DEFAULT_BASE_URL)
}

/// Renders the report in `format`; the HTML and passport formats of a lot bound to a GTIN
/// and serial carry the QR code of its Digital Link URL under `base_url`.
pub fn render_for(
    data: &ReportData,
    format: Format,
    base_url: &str,
) -> Result<String, ReportError> {
    match format {
        Format::Json => render::json::render(data),
        Format::Csv => Ok(render::csv::render(data)),
        Format::Html => render::html::render(data, base_url),
        Format::Dot => Ok(render::dot::render(data)),
        Format::Epcis => render::epcis::render(data),
        Format::Passport => render::passport::render(data, base_url),
    }
}
