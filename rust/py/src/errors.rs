//! Mapping of Rust errors onto the exception classes of `isakmpd.errors`.
//!
//! The classes live in Python so that both languages raise the same ones;
//! they are looked up once per error, which only happens on bad input.

use pyo3::prelude::*;

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("isakmpd.errors")?.getattr(name)
}

/// `isakmpd.errors.MessageError(notify, reason, offset)`; offset -1 if unknown.
pub fn message_error(py: Python<'_>, notify: u16, reason: &str, offset: i64) -> PyErr {
    match class(py, "MessageError").and_then(|c| c.call1((notify, reason, offset))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// `isakmpd.errors.CryptoError(reason, notify)`; notify 0 when not a peer's fault.
pub fn crypto_error(py: Python<'_>, reason: &str, notify: u16) -> PyErr {
    match class(py, "CryptoError").and_then(|c| c.call1((reason, notify))) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}
