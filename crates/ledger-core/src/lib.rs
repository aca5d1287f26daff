//! Custody's core: the custody event model, the canonical codec, hashing, signatures, the
//! RFC 6962 Merkle tree and the verification rules. This crate performs no IO.
#![forbid(unsafe_code)]

pub mod codec;
pub mod event;
pub mod hash;
pub mod id;
pub mod keys;
pub mod quantity;
pub mod statement;
pub mod timestamp;

pub use hash::Digest;
