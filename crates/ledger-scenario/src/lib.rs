//! Scenarios for Custody that are not production paths: the demo supply chain of
//! `fixtures/demo/`, the deterministic **test** keys it and the tests sign with, and the
//! synthetic ledgers `custody bench` measures. Everything here goes through the same engine
//! ([`ledger::Ledger`]) suppliers and operators use.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bench;
pub mod demo;
pub mod synth;

pub use demo::{TestKeys, test_key};

/// Why a scenario could not be built: the engine refused or failed, or the scenario's own
/// data is invalid (a bug in the fixtures, reported with what is wrong).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The engine failed.
    #[error(transparent)]
    Ledger(#[from] ledger::Error),
    /// The store could not be created or opened.
    #[error(transparent)]
    Store(#[from] ledger_store::StoreError),
    /// The scenario's data is invalid.
    #[error("the scenario is invalid: {0}")]
    Invalid(String),
}

/// Scenario data errors all become [`ScenarioError::Invalid`].
macro_rules! invalid_from {
    ($($t:ty),*) => {$(
        impl From<$t> for ScenarioError {
            fn from(e: $t) -> ScenarioError {
                ScenarioError::Invalid(e.to_string())
            }
        }
    )*};
}

invalid_from!(
    ledger_core::id::IdError,
    ledger_core::codec::CodecError,
    ledger_core::timestamp::TimestampError,
    serde_json::Error,
    std::num::TryFromIntError
);

/// The scenario crate's result type.
pub type Result<T, E = ScenarioError> = std::result::Result<T, E>;
