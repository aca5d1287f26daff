//! End-to-end tests for `custody` live in `tests/tests/`; this library is empty.
//!
//! The tests drive the real binary found by `assert_cmd` in the target directory, so run
//! them with `cargo test --workspace` (which builds `custody` first), not `-p custody-tests`
//! alone, which would run them against whatever binary was built last.
