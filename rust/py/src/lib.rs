//! `isakmpd._core`: the Python face of the pure-Rust crates.
//!
//! Nothing here does I/O or logging; errors become the exception classes of
//! `isakmpd.errors`.

use pyo3::prelude::*;

mod codec;
mod crypto;
mod errors;
mod rsa;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    codec::register(m)?;
    crypto::register(m)?;
    rsa::register(m)?;
    Ok(())
}
