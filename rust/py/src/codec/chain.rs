//! The base class of every payload, and the conversions between payload chains and
//! Python objects: parsed chains to new objects, objects to wire bytes.

use isakmp_codec::{payload_type as pt, Parsed, Payload, GENERIC_LEN};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::payloads::{
    PyAttributes, PyCert, PyCertReq, PyDelete, PyHash, PyId, PyKe, PyNatD, PyNatOa, PyNonce,
    PyNotify, PySig, PyUnknown, PyVendorId,
};
use super::sa::{attributes_to_py, PySa};
use super::{encode_error, type_name, Bytes};

/// What every payload class has: its type and the bytes as received (or as last
/// encoded). Not exported: the payload classes derive from it.
#[pyclass(module = "isakmpd._core", name = "PayloadBase", subclass)]
pub struct PyPayload {
    pub(crate) payload_type: u8,
    raw: Py<PyBytes>,
}

/// The base of a payload built in Python: `raw` empty until encoded.
pub(crate) fn new_base(py: Python<'_>, payload_type: u8) -> PyClassInitializer<PyPayload> {
    PyClassInitializer::from(PyPayload {
        payload_type,
        raw: PyBytes::new(py, b"").unbind(),
    })
}

#[pymethods]
impl PyPayload {
    #[getter]
    fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// Generic header and body, as received or as last encoded.
    #[getter]
    fn raw(&self, py: Python<'_>) -> Py<PyBytes> {
        self.raw.clone_ref(py)
    }

    /// `raw` without its generic header.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(
            py,
            self.raw.as_bytes(py).get(GENERIC_LEN..).unwrap_or_default(),
        )
    }

    /// Payloads of the same class are equal when they encode to the same bytes.
    fn __eq__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if !other.get_type().is(slf.get_type()) {
            return Ok(py.NotImplemented());
        }
        let equal = match (encoded(slf.as_any()), encoded(other)) {
            (Ok(a), Ok(b)) => a == b,
            _ => slf.is(other),
        };
        let Ok(result) = equal.into_pyobject(py);
        Ok(result.to_owned().into_any().unbind())
    }
}

/// Payload type and wire bytes of a payload object.
fn encoded(obj: &Bound<'_, PyAny>) -> PyResult<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    with_payload(obj, |p| {
        p.encode(pt::NONE, &mut out).map_err(|e| encode_error(&e))
    })?;
    Ok((payload_type_of(obj)?, out))
}

/// A payload object's view as a codec payload, borrowing its bytes where it can.
pub(crate) trait ToPayload {
    fn to_payload<'a>(&'a self, py: Python<'_>, payload_type: u8) -> PyResult<Payload<'a>>;
}

impl ToPayload for PySa {
    fn to_payload<'a>(&'a self, py: Python<'_>, _: u8) -> PyResult<Payload<'a>> {
        self.to_rust(py)
    }
}

pub(crate) fn new_bytes(py: Python<'_>, b: &[u8]) -> Py<PyBytes> {
    PyBytes::new(py, b).unbind()
}

/// The payload type of a payload object; TypeError for anything else.
pub(crate) fn payload_type_of(obj: &Bound<'_, PyAny>) -> PyResult<u8> {
    let base = obj.cast::<PyPayload>().map_err(|_| not_a_payload(obj))?;
    Ok(base.try_borrow()?.payload_type)
}

fn not_a_payload(obj: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!("not a payload: {}", type_name(obj)))
}

/// Calls `f` with the codec view of the payload object `obj`.
fn with_payload<R>(
    obj: &Bound<'_, PyAny>,
    f: impl FnOnce(Payload<'_>) -> PyResult<R>,
) -> PyResult<R> {
    let py = obj.py();
    let payload_type = payload_type_of(obj)?;
    macro_rules! try_classes {
        ($($cls:ty),*) => {$(
            if let Ok(b) = obj.cast::<$cls>() {
                let p = b.try_borrow()?;
                return f(p.to_payload(py, payload_type)?);
            }
        )*};
    }
    try_classes!(
        PySa,
        PyKe,
        PyId,
        PyCert,
        PyCertReq,
        PyHash,
        PySig,
        PyNonce,
        PyNotify,
        PyDelete,
        PyVendorId,
        PyNatD,
        PyNatOa,
        PyAttributes,
        PyUnknown
    );
    Err(not_a_payload(obj))
}

/// The items of a sequence of payloads.
pub(crate) fn items<'py>(seq: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if super::is_bytes_like(seq) {
        return Err(PyTypeError::new_err(
            "payloads must be a sequence of payloads",
        ));
    }
    seq.try_iter()?.collect()
}

/// Appends the chain `items`; returns where each payload's bytes are in `out`. On error
/// `out` is left as it was.
pub(crate) fn encode_chain(
    items: &[Bound<'_, PyAny>],
    next_after: u8,
    out: &mut Vec<u8>,
) -> PyResult<Vec<(usize, usize)>> {
    let types = items
        .iter()
        .map(payload_type_of)
        .collect::<PyResult<Vec<u8>>>()?;
    let mark = out.len();
    let mut spans = Vec::with_capacity(items.len());
    for (i, obj) in items.iter().enumerate() {
        let next = types.get(i + 1).copied().unwrap_or(next_after);
        let start = out.len();
        let result = with_payload(obj, |p| p.encode(next, out).map_err(|e| encode_error(&e)));
        if let Err(e) = result {
            out.truncate(mark);
            return Err(e);
        }
        spans.push((start, out.len()));
    }
    Ok(spans)
}

/// Sets `raw` of each payload object to its bytes in `out`.
pub(crate) fn set_raws(
    items: &[Bound<'_, PyAny>],
    out: &[u8],
    spans: &[(usize, usize)],
) -> PyResult<()> {
    for (obj, &(start, end)) in items.iter().zip(spans) {
        let raw = new_bytes(obj.py(), out.get(start..end).unwrap_or_default());
        obj.cast::<PyPayload>()
            .map_err(|_| not_a_payload(obj))?
            .try_borrow_mut()?
            .raw = raw;
    }
    Ok(())
}

/// Python objects for a parsed chain.
pub(crate) fn to_list<'py>(py: Python<'py>, parsed: &[Parsed<'_>]) -> PyResult<Bound<'py, PyList>> {
    let objs = parsed
        .iter()
        .map(|p| to_py(py, p))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, objs)
}

fn to_py<'py>(py: Python<'py>, parsed: &Parsed<'_>) -> PyResult<Bound<'py, PyAny>> {
    fn obj<'py, T: pyo3::PyClass<BaseType = PyPayload>>(
        py: Python<'py>,
        init: PyClassInitializer<T>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(Bound::new(py, init)?.into_any())
    }
    let b = |data: &[u8]| Bytes::new(py, data);
    let base = PyClassInitializer::from(PyPayload {
        payload_type: parsed.payload.payload_type(),
        raw: new_bytes(py, parsed.raw),
    });
    match &parsed.payload {
        Payload::Sa(p) => obj(py, base.add_subclass(PySa::from_rust(py, p)?)),
        Payload::Ke(p) => obj(py, base.add_subclass(PyKe { data: b(&p.data) })),
        Payload::Id(p) => obj(
            py,
            base.add_subclass(PyId {
                id_type: p.id_type,
                protocol: p.protocol,
                port: p.port,
                data: b(&p.data),
            }),
        ),
        Payload::Cert(p) => obj(
            py,
            base.add_subclass(PyCert {
                encoding: p.encoding,
                data: b(&p.data),
            }),
        ),
        Payload::CertReq(p) => obj(
            py,
            base.add_subclass(PyCertReq {
                cert_type: p.cert_type,
                authority: b(&p.authority),
            }),
        ),
        Payload::Hash(p) => obj(py, base.add_subclass(PyHash { data: b(&p.data) })),
        Payload::Sig(p) => obj(py, base.add_subclass(PySig { data: b(&p.data) })),
        Payload::Nonce(p) => obj(py, base.add_subclass(PyNonce { data: b(&p.data) })),
        Payload::Notify(p) => obj(
            py,
            base.add_subclass(PyNotify {
                doi: p.doi,
                protocol_id: p.protocol_id,
                notify_type: p.notify_type,
                spi: b(&p.spi),
                data: b(&p.data),
            }),
        ),
        Payload::Delete(p) => {
            let spis = PyList::new(py, p.spis.iter().map(|s| PyBytes::new(py, s)))?.unbind();
            obj(
                py,
                base.add_subclass(PyDelete {
                    doi: p.doi,
                    protocol_id: p.protocol_id,
                    spi_size: p.spi_size,
                    spis,
                }),
            )
        }
        Payload::VendorId(p) => obj(py, base.add_subclass(PyVendorId { data: b(&p.data) })),
        Payload::NatD(p) => obj(py, base.add_subclass(PyNatD { data: b(&p.data) })),
        Payload::NatOa(p) => obj(
            py,
            base.add_subclass(PyNatOa {
                id_type: p.id_type,
                data: b(&p.data),
            }),
        ),
        Payload::Attributes(p) => obj(
            py,
            base.add_subclass(PyAttributes {
                attr_type: p.attr_type,
                identifier: p.identifier,
                attributes: attributes_to_py(py, &p.attributes)?,
            }),
        ),
        Payload::Unknown(p) => obj(py, base.add_subclass(PyUnknown { data: b(&p.data) })),
    }
}
