//! Custody's core: the custody event model, the canonical codec, hashing, signatures, the
//! RFC 6962 Merkle tree and the verification rules. This crate performs no IO.
#![forbid(unsafe_code)]
// Bytes from outside (files, the store, other parties) must never crash the process. The
// workspace warns on these lints (errors under CI's `-D warnings`); in a library crate they
// are errors in every build. Tests may use them (`clippy.toml`).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bundle;
pub mod check;
pub mod codec;
pub mod completeness;
pub mod event;
pub mod finding;
pub mod hash;
pub mod held;
pub mod id;
pub mod input;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod plan;
pub mod plural;
pub mod policy;
pub mod provenance;
pub mod quantity;
pub mod rules;
pub mod schema;
pub mod state;
pub mod statement;
pub mod subjects;
pub mod timestamp;
pub mod transparency;
pub mod validate;
pub mod verify;
pub mod witnesses;

pub use hash::Digest;
