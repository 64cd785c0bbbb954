//! RSA signatures of RSA_SIG authentication in `isakmpd._core`, over
//! `isakmp_crypto::rsa`.
//!
//! The private key's DER is copied into a buffer zeroized after parsing;
//! signing and verification run with the GIL released on copies of the
//! arguments.

use isakmp_crypto::rsa::verify_raw;
use isakmp_crypto::{RsaError, RsaPrivateKey};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zeroize::Zeroizing;

use crate::errors::crypto_error;

fn err(py: Python<'_>, e: RsaError) -> PyErr {
    crypto_error(py, &e.to_string(), 0)
}

/// An RSA private key read from PKCS#8 or PKCS#1 DER.
#[pyclass(module = "isakmpd._core", name = "RsaKey", frozen)]
struct PyRsaKey {
    inner: RsaPrivateKey,
}

#[pymethods]
impl PyRsaKey {
    #[new]
    fn new(py: Python<'_>, der: &[u8]) -> PyResult<Self> {
        let der = Zeroizing::new(der.to_vec());
        let inner = py
            .detach(|| RsaPrivateKey::from_der(&der))
            .map_err(|e| err(py, e))?;
        Ok(PyRsaKey { inner })
    }

    /// Modulus size in bits.
    #[getter]
    fn bits(&self) -> usize {
        self.inner.bits()
    }

    /// PKCS#1 v1.5 type-1 signature over `data` itself (no DigestInfo).
    fn sign_raw<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let data = data.to_vec();
        let inner = &self.inner;
        let sig = py
            .detach(|| inner.sign_raw(&data))
            .map_err(|e| err(py, e))?;
        Ok(PyBytes::new(py, &sig))
    }

    /// The public key as SubjectPublicKeyInfo DER.
    fn public_der<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let der = self.inner.public_der().map_err(|e| err(py, e))?;
        Ok(PyBytes::new(py, &der))
    }

    fn __repr__(&self) -> String {
        format!("<RsaKey {} bits>", self.inner.bits())
    }
}

/// Whether `sig` is the raw PKCS#1 v1.5 signature of `data` under the
/// SPKI or PKCS#1 public key `public_der`; CryptoError for an unreadable key.
#[pyfunction]
fn rsa_verify_raw(py: Python<'_>, public_der: &[u8], data: &[u8], sig: &[u8]) -> PyResult<bool> {
    let (public_der, data, sig) = (public_der.to_vec(), data.to_vec(), sig.to_vec());
    py.detach(|| verify_raw(&public_der, &data, &sig))
        .map_err(|e| err(py, e))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRsaKey>()?;
    m.add_function(wrap_pyfunction!(rsa_verify_raw, m)?)?;
    Ok(())
}
