//! The engine's error: one enum whose variants say what a caller must decide on, so the CLI
//! maps them to exit codes and a server to HTTP statuses without reading messages.

use ledger_core::finding::{Finding, Severity};
use ledger_core::plural::counted;
use ledger_core::state::StateError;
use ledger_store::{ErrorKind, StoreError};

/// Why an engine operation failed. Messages are for people: what failed, where, and what
/// to do; never Rust debug output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Statements break custody rules; nothing was written.
    #[error("{0}")]
    Refused(Refused),
    /// Another append moved the head between the check and the write; nothing was written
    /// and the same statements can be submitted again.
    #[error("the ledger changed while appending: {0}")]
    Conflict(StoreError),
    /// The store cannot be used right now: locked by another process, unreachable, or an
    /// input/output failure.
    #[error("{0}")]
    Unavailable(StoreError),
    /// The store holds damaged or inconsistent data; `verify` says what.
    #[error("{0}")]
    Damaged(String),
    /// The caller's input cannot be used: a statement, an id, a policy, an argument.
    #[error("{0}")]
    BadInput(String),
    /// A lot, entry or event that is not in the ledger, or no ledger at all.
    #[error("{0}")]
    NotFound(String),
    /// A key that may not do what was asked (sign checkpoints, enroll parties).
    #[error("{0}")]
    NotAuthorized(String),
}

impl Error {
    /// A damaged-store error naming what was found wrong.
    pub(crate) fn damaged(what: impl std::fmt::Display) -> Error {
        Error::Damaged(format!("{what}; run custody verify"))
    }
}

/// A batch the rules refused: every error finding, with the batch index of its statement.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused: {} in the batch; nothing was appended", counted(self.findings.len(), "error finding", "error findings"))]
pub struct Refused {
    /// `(index in the batch, finding)`, errors only, in batch order.
    pub findings: Vec<(usize, Finding)>,
}

impl Refused {
    /// Keeps the error findings of statement `index`.
    pub(crate) fn add(&mut self, index: usize, findings: Vec<Finding>) {
        self.findings.extend(
            findings
                .into_iter()
                .filter(|f| f.severity == Severity::Error)
                .map(|f| (index, f)),
        );
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e.kind() {
            ErrorKind::Unavailable => Error::Unavailable(e),
            ErrorKind::Conflict => Error::Conflict(e),
            ErrorKind::NotFound => Error::NotFound(e.to_string()),
            ErrorKind::Damaged => Error::Damaged(e.to_string()),
            _ => Error::BadInput(e.to_string()),
        }
    }
}

impl From<StateError> for Error {
    fn from(e: StateError) -> Error {
        match e.into_cause::<StoreError>() {
            Ok(store) => Error::from(store),
            Err(other) => Error::Damaged(other.to_string()),
        }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
