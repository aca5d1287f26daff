//! Custody's core: the custody event model, the canonical codec, hashing, signatures, the
//! RFC 6962 Merkle tree and the verification rules. This crate performs no IO.
#![forbid(unsafe_code)]

pub mod codec;
pub mod event;
pub mod finding;
pub mod hash;
pub mod id;
pub mod input;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod policy;
pub mod provenance;
pub mod quantity;
pub mod rules;
pub mod state;
pub mod statement;
pub mod timestamp;
pub mod validate;
pub mod verify;

pub use hash::Digest;
