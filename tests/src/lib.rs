//! Shared helpers for Conclave's end-to-end tests (the tests live in `tests/tests/`).
