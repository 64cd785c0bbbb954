//! The codec half of `isakmpd._core`: classes for the header, attributes, proposals,
//! transforms and every payload, and the parse/encode functions (contract in
//! `python/isakmpd/_core.pyi`).
//!
//! Parsing builds the Python objects straight from the borrowed parse result of
//! `isakmp-codec`; encoding borrows the objects' bytes for the flat payloads and copies
//! only the small nested values of SA payloads. Malformed wire data raises
//! `isakmpd.errors.MessageError`; values that cannot be encoded raise `ValueError`,
//! objects of the wrong class `TypeError`.

use std::borrow::Cow;

use isakmp_codec::{EncodeError, InvalidMessage};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyMemoryView};

use crate::errors::message_error;

mod chain;
mod header;
mod payloads;
mod sa;

use header::PyHeader;

/// `isakmpd.errors.MessageError` for a codec error.
pub(crate) fn invalid(py: Python<'_>, e: &InvalidMessage) -> PyErr {
    let offset = e.offset().and_then(|o| i64::try_from(o).ok()).unwrap_or(-1);
    message_error(py, e.notify(), &e.reason(), offset)
}

/// `ValueError` for a value that does not fit the wire.
pub(crate) fn encode_error(e: &EncodeError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// True for `bytes`, `bytearray` and `memoryview`.
fn is_bytes_like(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
        || obj.is_instance_of::<PyMemoryView>()
}

/// A `bytes` value for a field: `bytes` as is (immutable, so shared), `bytearray` and
/// `memoryview` copied; anything else is a TypeError naming `what`.
pub(crate) fn bytes_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Py<PyBytes>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.clone().unbind());
    }
    if is_bytes_like(obj) {
        let copy = obj.py().get_type::<PyBytes>().call1((obj,))?;
        return Ok(copy.cast_into::<PyBytes>()?.unbind());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes, not {}",
        type_name(obj)
    )))
}

/// A `bytes` field or argument: accepts `bytes` (kept, it is immutable), `bytearray` and
/// `memoryview` (copied); reads back as `bytes`.
pub(crate) struct Bytes(Py<PyBytes>);

impl Bytes {
    pub(crate) fn new(py: Python<'_>, data: &[u8]) -> Self {
        Bytes(PyBytes::new(py, data).unbind())
    }

    pub(crate) fn as_bytes<'a>(&'a self, py: Python<'_>) -> &'a [u8] {
        self.0.as_bytes(py)
    }

    pub(crate) fn bind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyBytes> {
        self.0.bind(py)
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for Bytes {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Bytes(b.to_owned().unbind()));
        }
        bytes_arg(&obj, "value")
            .map(Bytes)
            .map_err(|_| PyTypeError::new_err(format!("expected bytes, not {}", type_name(&obj))))
    }
}

impl<'py> IntoPyObject<'py> for &Bytes {
    type Target = PyBytes;
    type Output = Bound<'py, PyBytes>;
    type Error = std::convert::Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(self.0.bind(py).clone())
    }
}

/// The bytes of a data argument: borrowed from `bytes`, copied from `bytearray` or
/// `memoryview`.
fn data_arg<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    let copy = bytes_arg(obj, "data")?;
    Ok(Cow::Owned(copy.as_bytes(obj.py()).to_vec()))
}

/// A new list of the items of `seq`, each of which must be a `T`.
pub(crate) fn list_of<'py, T: pyo3::PyTypeCheck>(
    seq: &Bound<'py, PyAny>,
    what: &str,
    item: &str,
) -> PyResult<Py<PyList>> {
    if seq.is_instance_of::<pyo3::types::PyString>() || is_bytes_like(seq) {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a sequence of {item}"
        )));
    }
    let list = PyList::new(seq.py(), seq.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
    check_items::<T>(&list, what, item)?;
    Ok(list.unbind())
}

/// TypeError unless every item of `list` is a `T`.
pub(crate) fn check_items<T: pyo3::PyTypeCheck>(
    list: &Bound<'_, PyList>,
    what: &str,
    item: &str,
) -> PyResult<()> {
    for obj in list.iter() {
        if !obj.is_instance_of::<T>() {
            let got = type_name(&obj);
            return Err(PyTypeError::new_err(format!(
                "{what} must hold {item}, not {got}"
            )));
        }
    }
    Ok(())
}

/// Parse and check the header of a whole datagram.
#[pyfunction]
fn parse_header(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<PyHeader> {
    let data = data_arg(data)?;
    let header = isakmp_codec::Header::parse(&data).map_err(|e| invalid(py, &e))?;
    Ok(PyHeader::from(header))
}

/// Parse the payload chain that starts with payload type `first`.
#[pyfunction]
#[pyo3(signature = (first, data, allow_trailing = false))]
fn parse_payloads<'py>(
    py: Python<'py>,
    first: u8,
    data: &Bound<'py, PyAny>,
    allow_trailing: bool,
) -> PyResult<Bound<'py, PyList>> {
    let data = data_arg(data)?;
    let parsed =
        isakmp_codec::parse_payloads(first, &data, allow_trailing).map_err(|e| invalid(py, &e))?;
    chain::to_list(py, &parsed)
}

/// parse_header + parse_payloads for an unencrypted message.
#[pyfunction]
fn parse_message<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
) -> PyResult<(PyHeader, Bound<'py, PyList>)> {
    let data = data_arg(data)?;
    let (header, parsed) = isakmp_codec::parse_message(&data).map_err(|e| invalid(py, &e))?;
    Ok((PyHeader::from(header), chain::to_list(py, &parsed)?))
}

/// Encode a chain; sets `raw` on each payload.
#[pyfunction]
#[pyo3(signature = (payloads, next_after = 0))]
fn encode_payloads<'py>(
    py: Python<'py>,
    payloads: &Bound<'py, PyAny>,
    next_after: u8,
) -> PyResult<Bound<'py, PyBytes>> {
    let items = chain::items(payloads)?;
    let mut out = Vec::new();
    let spans = chain::encode_chain(&items, next_after, &mut out)?;
    chain::set_raws(&items, &out, &spans)?;
    Ok(PyBytes::new(py, &out))
}

/// Header + payload chain (or body bytes), with the length computed; sets the header's
/// `length`, and with payloads its `next_payload` and their `raw`.
#[pyfunction]
fn encode_message<'py>(
    py: Python<'py>,
    header: &Bound<'py, PyHeader>,
    payloads: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut h = header.borrow().inner().clone();
    let mut out = Vec::new();
    if is_bytes_like(payloads) {
        let body = data_arg(payloads)?;
        out.reserve(isakmp_codec::Header::LEN + body.len());
        isakmp_codec::encode_message_body(&h, &body, &mut out).map_err(|e| encode_error(&e))?;
        h.length = isakmp_codec::set_message_length(&mut out).map_err(|e| encode_error(&e))?;
    } else {
        let items = chain::items(payloads)?;
        h.next_payload = match items.first() {
            Some(first) => chain::payload_type_of(first)?,
            None => isakmp_codec::payload_type::NONE,
        };
        h.encode(&mut out).map_err(|e| encode_error(&e))?;
        let spans = chain::encode_chain(&items, isakmp_codec::payload_type::NONE, &mut out)?;
        h.length = isakmp_codec::set_message_length(&mut out).map_err(|e| encode_error(&e))?;
        chain::set_raws(&items, &out, &spans)?;
    }
    header.borrow_mut().set_inner(h);
    Ok(PyBytes::new(py, &out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHeader>()?;
    sa::register(m)?;
    payloads::register(m)?;
    m.add_function(wrap_pyfunction!(parse_header, m)?)?;
    m.add_function(wrap_pyfunction!(parse_payloads, m)?)?;
    m.add_function(wrap_pyfunction!(parse_message, m)?)?;
    m.add_function(wrap_pyfunction!(encode_payloads, m)?)?;
    m.add_function(wrap_pyfunction!(encode_message, m)?)?;
    Ok(())
}
