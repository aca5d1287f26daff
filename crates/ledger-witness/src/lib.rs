//! A C2SP transparency-log witness (c2sp.org/tlog-witness, c2sp.org/tlog-cosignature):
//! it cosigns a log's checkpoint only when it is consistent with every checkpoint of that
//! log it cosigned before, so a log cannot show two histories to two audiences without a
//! witness noticing.
//!
//! - [`protocol`]: the `add-checkpoint` request body, shared with the log side.
//! - [`witness`]: the checks and the cosignature ([`Witness::add_checkpoint`]).
//! - [`state`]: the latest cosigned checkpoint per log, durable before an answer.
//! - [`server`]: the HTTP front end (`custody witness serve`).
//! - [`client`]: a blocking client, for the log side and tests.
//! - [`log`]: the log side: ask witnesses to cosign a new checkpoint.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ledger_core::keys::SecretKey;
//! use ledger_core::note::NoteVerifier;
//! use ledger_witness::Witness;
//!
//! let log_key = SecretKey::generate(); // in practice: the log's published vkey, parsed
//! let log = NoteVerifier::new("example.com/log", *log_key.public_key().verifying_key())?;
//! let key = SecretKey::generate();
//! let witness = Witness::new("witness.example/w1", key, vec![log], "state".as_ref())?;
//! println!("{}", witness.vkey());
//! ledger_witness::server::run(witness, &Default::default(), |url| println!("listening on {url}"))?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
// Bytes from the network and files must never crash the process.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod client;
pub mod log;
pub mod protocol;
pub mod server;
pub mod state;
pub mod witness;

pub use protocol::Request;
pub use witness::{AddError, Witness};
