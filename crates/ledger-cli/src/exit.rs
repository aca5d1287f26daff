//! Exit codes, in one place (SPEC §4 and §6).

use std::process::ExitCode;

/// Success: the command did its work; for `verify`, the verdict is pass.
pub const SUCCESS: u8 = 0;
/// A failed verdict: `verify` found errors, or `append` refused the batch.
pub const FAILED: u8 = 1;
/// A usage or input error: bad arguments, unreadable files, invalid JSON, a locked ledger.
pub const ERROR: u8 = 2;

/// The exit code for a verdict: success for a pass, failed otherwise.
pub fn verdict(verdict: ledger_core::finding::Verdict) -> u8 {
    match verdict {
        ledger_core::finding::Verdict::Pass => SUCCESS,
        ledger_core::finding::Verdict::Fail => FAILED,
    }
}

/// The process exit code for `code`.
pub fn code(code: u8) -> ExitCode {
    ExitCode::from(code)
}
