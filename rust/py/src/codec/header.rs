//! `Header`: the 28-byte ISAKMP header.

use isakmp_codec::Header;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::{data_arg, encode_error};

/// The 28-byte ISAKMP header.
#[pyclass(module = "isakmpd._core", name = "Header")]
pub struct PyHeader {
    inner: Header,
}

impl From<Header> for PyHeader {
    fn from(inner: Header) -> Self {
        PyHeader { inner }
    }
}

impl PyHeader {
    pub(crate) fn inner(&self) -> &Header {
        &self.inner
    }

    pub(crate) fn set_inner(&mut self, inner: Header) {
        self.inner = inner;
    }
}

fn cookie(value: &Bound<'_, PyAny>, what: &str) -> PyResult<[u8; 8]> {
    let data = data_arg(value)?;
    <[u8; 8]>::try_from(&data[..])
        .map_err(|_| PyValueError::new_err(format!("{what} must be 8 bytes, not {}", data.len())))
}

fn nibble(value: u8, what: &str) -> PyResult<u8> {
    if value > 0x0f {
        return Err(PyValueError::new_err(format!(
            "{what} must be 0..15, not {value}"
        )));
    }
    Ok(value)
}

#[pymethods]
impl PyHeader {
    #[new]
    #[pyo3(signature = (
        icookie, rcookie = None, next_payload = 0, exchange_type = 0, flags = 0,
        message_id = 0, major = 1, minor = 0, length = 0
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        icookie: &Bound<'_, PyAny>,
        rcookie: Option<&Bound<'_, PyAny>>,
        next_payload: u8,
        exchange_type: u8,
        flags: u8,
        message_id: u32,
        major: u8,
        minor: u8,
        length: u32,
    ) -> PyResult<Self> {
        Ok(PyHeader {
            inner: Header {
                icookie: cookie(icookie, "icookie")?,
                rcookie: match rcookie {
                    Some(r) => cookie(r, "rcookie")?,
                    None => [0; 8],
                },
                next_payload,
                major: nibble(major, "major")?,
                minor: nibble(minor, "minor")?,
                exchange_type,
                flags,
                message_id,
                length,
            },
        })
    }

    #[getter]
    fn icookie<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.icookie)
    }

    #[setter]
    fn set_icookie(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.icookie = cookie(value, "icookie")?;
        Ok(())
    }

    #[getter]
    fn rcookie<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.rcookie)
    }

    #[setter]
    fn set_rcookie(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.rcookie = cookie(value, "rcookie")?;
        Ok(())
    }

    #[getter]
    fn next_payload(&self) -> u8 {
        self.inner.next_payload
    }

    #[setter]
    fn set_next_payload(&mut self, value: u8) {
        self.inner.next_payload = value;
    }

    #[getter]
    fn major(&self) -> u8 {
        self.inner.major
    }

    #[setter]
    fn set_major(&mut self, value: u8) -> PyResult<()> {
        self.inner.major = nibble(value, "major")?;
        Ok(())
    }

    #[getter]
    fn minor(&self) -> u8 {
        self.inner.minor
    }

    #[setter]
    fn set_minor(&mut self, value: u8) -> PyResult<()> {
        self.inner.minor = nibble(value, "minor")?;
        Ok(())
    }

    #[getter]
    fn exchange_type(&self) -> u8 {
        self.inner.exchange_type
    }

    #[setter]
    fn set_exchange_type(&mut self, value: u8) {
        self.inner.exchange_type = value;
    }

    #[getter]
    fn flags(&self) -> u8 {
        self.inner.flags
    }

    #[setter]
    fn set_flags(&mut self, value: u8) {
        self.inner.flags = value;
    }

    #[getter]
    fn message_id(&self) -> u32 {
        self.inner.message_id
    }

    #[setter]
    fn set_message_id(&mut self, value: u32) {
        self.inner.message_id = value;
    }

    #[getter]
    fn length(&self) -> u32 {
        self.inner.length
    }

    #[setter]
    fn set_length(&mut self, value: u32) {
        self.inner.length = value;
    }

    /// The 28 header bytes, with `length` as set.
    fn encode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = Vec::with_capacity(Header::LEN);
        self.inner.encode(&mut out).map_err(|e| encode_error(&e))?;
        Ok(PyBytes::new(py, &out))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyHeader>()
            .is_ok_and(|o| o.borrow().inner == self.inner)
    }

    fn __repr__(&self) -> String {
        let h = &self.inner;
        format!(
            "Header(icookie={}, rcookie={}, next_payload={}, exchange_type={}, flags={}, \
             message_id={:#010x}, major={}, minor={}, length={})",
            hex(&h.icookie),
            hex(&h.rcookie),
            h.next_payload,
            h.exchange_type,
            h.flags,
            h.message_id,
            h.major,
            h.minor,
            h.length
        )
    }
}

fn hex(b: &[u8]) -> String {
    let digits: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("bytes.fromhex('{digits}')")
}
