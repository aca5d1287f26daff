//! Custody store.
