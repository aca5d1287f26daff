//! End-to-end tests for `custody` live in `tests/`; this library is intentionally empty.
