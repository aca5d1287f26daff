//! The figures of a compliance report, from a lot's verified provenance.
//!
//! The lot is verified first ([`Ledger::verify_lot`]); lot and party records are then read
//! from the store's indexes, as a trace does, and the attestations shown are the ones that
//! verification read and checked (never an index's list, so an attestation that fails a
//! check is not shown as counting). A store whose indexes disagree with its entries fails
//! that verification, and the report carries the failed verdict on its first line.

use ledger_core::finding::Verdict;
use ledger_core::id::LotId;
use ledger_core::policy::Policy;
use ledger_core::timestamp::Timestamp;
use ledger_report::{Inputs, ReportData, ReportError, Verification, figures};
use ledger_store::Store;

use crate::Ledger;
use crate::error::{Error, Result};

/// A lot's report figures and the verdict they were computed under.
#[derive(Debug, Clone)]
pub struct LotReport {
    /// Everything the report shows; render it with [`ledger_report::render()`].
    pub data: ReportData,
    /// The lot's verification verdict.
    pub verdict: Verdict,
}

impl<S: Store> Ledger<S> {
    /// Verifies `lot` under `policy` as of `as_of` and computes its report figures.
    pub fn report(&self, lot: &LotId, policy: &Policy, as_of: Timestamp) -> Result<LotReport> {
        let checked = self.verify_lot(lot, policy, as_of)?;
        let store = self.store();
        let data = figures::build(Inputs {
            trace: &checked.trace,
            state: store,
            attestations: &checked.attestations,
            policy,
            as_of,
            verification: Verification {
                verdict: checked.report.verdict,
                findings: checked.report.findings,
            },
        })
        .map_err(|e| match e {
            ReportError::State(e) => Error::from(e),
            ReportError::UnknownLot(lot) => {
                Error::NotFound(format!("lot {lot} is not in the ledger"))
            }
            other => Error::BadInput(other.to_string()),
        })?;
        Ok(LotReport {
            data,
            verdict: checked.report.verdict,
        })
    }
}
