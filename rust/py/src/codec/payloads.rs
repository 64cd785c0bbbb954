//! The payload classes but SA (in `sa.rs`), over the common base of `chain.rs`.

use std::borrow::Cow;

use isakmp_codec::{
    payload_type as pt, AttributePayload, Cert, CertReq, Delete, Hash, Id, Ke, NatD, NatOa, Nonce,
    Notify, Payload, Sig, Unknown, VendorId,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use pyo3::PyTraverseError;

use super::chain::{new_base, PyPayload, ToPayload};
use super::sa::{attributes_from_py, PyAttribute};
use super::{bytes_arg, list_of, type_name, Bytes};

fn bytes_of<'a>(b: &'a Bytes, py: Python<'_>) -> Cow<'a, [u8]> {
    Cow::Borrowed(b.as_bytes(py))
}

/// A payload class holding only `data`.
macro_rules! data_payload {
    ($cls:ident, $name:literal, $ptype:expr, $variant:ident) => {
        #[doc = concat!("The ", $name, " payload.")]
        #[pyclass(module = "isakmpd._core", name = $name, extends = PyPayload)]
        pub struct $cls {
            #[pyo3(get, set)]
            pub(crate) data: Bytes,
        }

        #[pymethods]
        impl $cls {
            #[new]
            fn new(py: Python<'_>, data: Bytes) -> PyResult<PyClassInitializer<Self>> {
                Ok(new_base(py, $ptype).add_subclass($cls { data }))
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                Ok(format!(
                    concat!($name, "(data={})"),
                    self.data.bind(py).repr()?
                ))
            }
        }

        impl ToPayload for $cls {
            fn to_payload<'a>(&'a self, py: Python<'_>, _: u8) -> PyResult<Payload<'a>> {
                Ok(Payload::$variant($variant {
                    data: bytes_of(&self.data, py),
                }))
            }
        }
    };
}

data_payload!(PyKe, "KE", pt::KE, Ke);
data_payload!(PyHash, "Hash", pt::HASH, Hash);
data_payload!(PySig, "Sig", pt::SIG, Sig);
data_payload!(PyNonce, "Nonce", pt::NONCE, Nonce);
data_payload!(PyVendorId, "VendorID", pt::VENDOR, VendorId);

/// The ID payload (IPsec DOI layout).
#[pyclass(module = "isakmpd._core", name = "ID", extends = PyPayload)]
pub struct PyId {
    #[pyo3(get, set)]
    pub(crate) id_type: u8,
    #[pyo3(get, set)]
    pub(crate) protocol: u8,
    #[pyo3(get, set)]
    pub(crate) port: u16,
    #[pyo3(get, set)]
    pub(crate) data: Bytes,
}

#[pymethods]
impl PyId {
    #[new]
    #[pyo3(signature = (id_type, data, protocol = 0, port = 0))]
    fn new(
        py: Python<'_>,
        id_type: u8,
        data: Bytes,
        protocol: u8,
        port: u16,
    ) -> PyResult<PyClassInitializer<Self>> {
        Ok(new_base(py, pt::ID).add_subclass(PyId {
            id_type,
            protocol,
            port,
            data,
        }))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "ID(id_type={}, data={}, protocol={}, port={})",
            self.id_type,
            self.data.bind(py).repr()?,
            self.protocol,
            self.port
        ))
    }
}

impl ToPayload for PyId {
    fn to_payload<'a>(&'a self, py: Python<'_>, _: u8) -> PyResult<Payload<'a>> {
        Ok(Payload::Id(Id {
            id_type: self.id_type,
            protocol: self.protocol,
            port: self.port,
            data: bytes_of(&self.data, py),
        }))
    }
}

/// The CERT payload.
#[pyclass(module = "isakmpd._core", name = "Cert", extends = PyPayload)]
pub struct PyCert {
    #[pyo3(get, set)]
    pub(crate) encoding: u8,
    #[pyo3(get, set)]
    pub(crate) data: Bytes,
}

#[pymethods]
impl PyCert {
    #[new]
    fn new(py: Python<'_>, encoding: u8, data: Bytes) -> PyResult<PyClassInitializer<Self>> {
        Ok(new_base(py, pt::CERT).add_subclass(PyCert { encoding, data }))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Cert(encoding={}, data={})",
            self.encoding,
            self.data.bind(py).repr()?
        ))
    }
}

impl ToPayload for PyCert {
    fn to_payload<'a>(&'a self, py: Python<'_>, _: u8) -> PyResult<Payload<'a>> {
        let data = bytes_of(&self.data, py);
        Ok(Payload::Cert(Cert {
            encoding: self.encoding,
            data,
        }))
    }
}

/// The CR (certificate request) payload.
#[pyclass(module = "isakmpd._core", name = "CertReq", extends = PyPayload)]
pub struct PyCertReq {
    #[pyo3(get, set)]
    pub(crate) cert_type: u8,
    #[pyo3(get, set)]
    pub(crate) authority: Bytes,
}

#[pymethods]
impl PyCertReq {
    #[new]
    #[pyo3(signature = (cert_type, authority = None))]
    fn new(
        py: Python<'_>,
        cert_type: u8,
        authority: Option<Bytes>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let authority = authority.unwrap_or_else(|| Bytes::new(py, b""));
        Ok(new_base(py, pt::CR).add_subclass(PyCertReq {
            cert_type,
            authority,
        }))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let authority = self.authority.bind(py).repr()?;
        Ok(format!(
            "CertReq(cert_type={}, authority={authority})",
            self.cert_type
        ))
    }
}

impl ToPayload for PyCertReq {
    fn to_payload<'a>(&'a self, py: Python<'_>, _: u8) -> PyResult<Payload<'a>> {
        let authority = bytes_of(&self.authority, py);
        Ok(Payload::CertReq(CertReq {
            cert_type: self.cert_type,
            authority,
        }))
    }
}

/// The NOTIFY payload.
#[pyclass(module = "isakmpd._core", name = "Notify", extends = PyPayload)]
pub struct PyNotify {
    #[pyo3(get, set)]
    pub(crate) doi: u32,
    #[pyo3(get, set)]
    pub(crate) protocol_id: u8,
    #[pyo3(get, set)]
    pub(crate) notify_type: u16,
    #[pyo3(get, set)]
    pub(crate) spi: Bytes,
    #[pyo3(get, set)]
    pub(crate) data: Bytes,
}

#[pymethods]
impl PyNotify {
    #[new]
    #[pyo3(signature = (doi, protocol_id, notify_type, spi = None, data = None))]
    fn new(
        py: Python<'_>,
        doi: u32,
        protocol_id: u8,
        notify_type: u16,
        spi: Option<Bytes>,
        data: Option<Bytes>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let spi = spi.unwrap_or_else(|| Bytes::new(py, b""));
        let data = data.unwrap_or_else(|| Bytes::new(py, b""));
        let notify = PyNotify {
            doi,
            protocol_id,
            notify_type,
            spi,
            data,
        };
        Ok(new_base(py, pt::NOTIFY).add_subclass(notify))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Notify(doi={}, protocol_id={}, notify_type={}, spi={}, data={})",
            self.doi,
            self.protocol_id,
            self.notify_type,
            self.spi.bind(py).repr()?,
            self.data.bind(py).repr()?
        ))
    }
}

impl ToPayload for PyNotify {
    fn to_payload<'a>(&'a self, py: Python<'_>, _: u8) -> PyResult<Payload<'a>> {
        Ok(Payload::Notify(Notify {
            doi: self.doi,
            protocol_id: self.protocol_id,
            notify_type: self.notify_type,
            spi: bytes_of(&self.spi, py),
            data: bytes_of(&self.data, py),
        }))
    }
}

/// The DELETE payload.
#[pyclass(module = "isakmpd._core", name = "Delete", extends = PyPayload)]
pub struct PyDelete {
    #[pyo3(get, set)]
    pub(crate) doi: u32,
    #[pyo3(get, set)]
    pub(crate) protocol_id: u8,
    #[pyo3(get, set)]
    pub(crate) spi_size: u8,
    pub(crate) spis: Py<PyList>,
}

/// A new list of `bytes` from a sequence of bytes-like values.
fn spis_arg(seq: &Bound<'_, PyAny>) -> PyResult<Py<PyList>> {
    if super::is_bytes_like(seq) {
        return Err(PyTypeError::new_err("spis must be a sequence of bytes"));
    }
    let spis = seq
        .try_iter()?
        .map(|item| bytes_arg(&item?, "each SPI"))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(seq.py(), spis)?.unbind())
}

#[pymethods]
impl PyDelete {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.spis)
    }

    #[new]
    fn new(
        py: Python<'_>,
        doi: u32,
        protocol_id: u8,
        spi_size: u8,
        spis: &Bound<'_, PyAny>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let spis = spis_arg(spis)?;
        Ok(new_base(py, pt::DELETE).add_subclass(PyDelete {
            doi,
            protocol_id,
            spi_size,
            spis,
        }))
    }

    #[getter]
    fn spis(&self, py: Python<'_>) -> Py<PyList> {
        self.spis.clone_ref(py)
    }

    #[setter]
    fn set_spis(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.spis = spis_arg(value)?;
        Ok(())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Delete(doi={}, protocol_id={}, spi_size={}, spis={})",
            self.doi,
            self.protocol_id,
            self.spi_size,
            self.spis.bind(py).repr()?
        ))
    }
}

impl ToPayload for PyDelete {
    fn to_payload<'a>(&'a self, py: Python<'_>, _: u8) -> PyResult<Payload<'a>> {
        let spis = self
            .spis
            .bind(py)
            .iter()
            .map(|s| match s.cast::<PyBytes>() {
                Ok(b) => Ok(Cow::Owned(b.as_bytes().to_vec())),
                Err(_) => Err(PyTypeError::new_err(format!(
                    "spis must hold bytes, not {}",
                    type_name(&s)
                ))),
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Payload::Delete(Delete {
            doi: self.doi,
            protocol_id: self.protocol_id,
            spi_size: self.spi_size,
            spis,
        }))
    }
}

fn one_of(value: u8, allowed: [u8; 2], what: &str) -> PyResult<u8> {
    if !allowed.contains(&value) {
        let [a, b] = allowed;
        return Err(PyValueError::new_err(format!(
            "{what} must be {a} or {b}, not {value}"
        )));
    }
    Ok(value)
}

/// The NAT-D payload (20, or 130 of the drafts).
#[pyclass(module = "isakmpd._core", name = "NatD", extends = PyPayload)]
pub struct PyNatD {
    #[pyo3(get, set)]
    pub(crate) data: Bytes,
}

#[pymethods]
impl PyNatD {
    #[new]
    #[pyo3(signature = (data, payload_type = 20))]
    fn new(py: Python<'_>, data: Bytes, payload_type: u8) -> PyResult<PyClassInitializer<Self>> {
        let payload_type = one_of(payload_type, [pt::NAT_D, pt::NAT_D_DRAFT], "payload_type")?;
        Ok(new_base(py, payload_type).add_subclass(PyNatD { data }))
    }

    fn __repr__(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<String> {
        let payload_type = slf.as_super().payload_type;
        Ok(format!(
            "NatD(data={}, payload_type={payload_type})",
            slf.data.bind(py).repr()?
        ))
    }
}

impl ToPayload for PyNatD {
    fn to_payload<'a>(&'a self, py: Python<'_>, payload_type: u8) -> PyResult<Payload<'a>> {
        Ok(Payload::NatD(NatD {
            payload_type,
            data: bytes_of(&self.data, py),
        }))
    }
}

/// The NAT-OA payload (21, or 131 of the drafts).
#[pyclass(module = "isakmpd._core", name = "NatOA", extends = PyPayload)]
pub struct PyNatOa {
    #[pyo3(get, set)]
    pub(crate) id_type: u8,
    #[pyo3(get, set)]
    pub(crate) data: Bytes,
}

#[pymethods]
impl PyNatOa {
    #[new]
    #[pyo3(signature = (id_type, data, payload_type = 21))]
    fn new(
        py: Python<'_>,
        id_type: u8,
        data: Bytes,
        payload_type: u8,
    ) -> PyResult<PyClassInitializer<Self>> {
        let payload_type = one_of(payload_type, [pt::NAT_OA, pt::NAT_OA_DRAFT], "payload_type")?;
        Ok(new_base(py, payload_type).add_subclass(PyNatOa { id_type, data }))
    }

    fn __repr__(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<String> {
        let payload_type = slf.as_super().payload_type;
        Ok(format!(
            "NatOA(id_type={}, data={}, payload_type={payload_type})",
            slf.id_type,
            slf.data.bind(py).repr()?
        ))
    }
}

impl ToPayload for PyNatOa {
    fn to_payload<'a>(&'a self, py: Python<'_>, payload_type: u8) -> PyResult<Payload<'a>> {
        let data = bytes_of(&self.data, py);
        Ok(Payload::NatOa(NatOa {
            payload_type,
            id_type: self.id_type,
            data,
        }))
    }
}

/// The ATTRIBUTE payload (14) of mode-config.
#[pyclass(module = "isakmpd._core", name = "Attributes", extends = PyPayload)]
pub struct PyAttributes {
    #[pyo3(get, set)]
    pub(crate) attr_type: u8,
    #[pyo3(get, set)]
    pub(crate) identifier: u16,
    pub(crate) attributes: Py<PyList>,
}

#[pymethods]
impl PyAttributes {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.attributes)
    }

    #[new]
    #[pyo3(signature = (attr_type, identifier, attributes = None))]
    fn new(
        py: Python<'_>,
        attr_type: u8,
        identifier: u16,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let attributes = match attributes {
            Some(seq) => list_of::<PyAttribute>(seq, "attributes", "Attribute")?,
            None => PyList::empty(py).unbind(),
        };
        let payload = PyAttributes {
            attr_type,
            identifier,
            attributes,
        };
        Ok(new_base(py, pt::ATTRIBUTE).add_subclass(payload))
    }

    #[getter]
    fn attributes(&self, py: Python<'_>) -> Py<PyList> {
        self.attributes.clone_ref(py)
    }

    #[setter]
    fn set_attributes(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.attributes = list_of::<PyAttribute>(value, "attributes", "Attribute")?;
        Ok(())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Attributes(attr_type={}, identifier={}, attributes={})",
            self.attr_type,
            self.identifier,
            self.attributes.bind(py).repr()?
        ))
    }
}

impl ToPayload for PyAttributes {
    fn to_payload<'a>(&'a self, py: Python<'_>, _: u8) -> PyResult<Payload<'a>> {
        Ok(Payload::Attributes(AttributePayload {
            attr_type: self.attr_type,
            identifier: self.identifier,
            attributes: attributes_from_py(self.attributes.bind(py))?,
        }))
    }
}

/// A payload type the codec does not decode.
#[pyclass(module = "isakmpd._core", name = "Unknown", extends = PyPayload)]
pub struct PyUnknown {
    #[pyo3(get, set)]
    pub(crate) data: Bytes,
}

#[pymethods]
impl PyUnknown {
    #[new]
    fn new(py: Python<'_>, payload_type: u8, data: Bytes) -> PyResult<PyClassInitializer<Self>> {
        if payload_type == pt::NONE {
            return Err(PyValueError::new_err(
                "payload_type 0 ends a chain; it is not a payload",
            ));
        }
        Ok(new_base(py, payload_type).add_subclass(PyUnknown { data }))
    }

    fn __repr__(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<String> {
        let payload_type = slf.as_super().payload_type;
        Ok(format!(
            "Unknown(payload_type={payload_type}, data={})",
            slf.data.bind(py).repr()?
        ))
    }
}

impl ToPayload for PyUnknown {
    fn to_payload<'a>(&'a self, py: Python<'_>, payload_type: u8) -> PyResult<Payload<'a>> {
        Ok(Payload::Unknown(Unknown {
            payload_type,
            data: bytes_of(&self.data, py),
        }))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyKe>()?;
    m.add_class::<PyId>()?;
    m.add_class::<PyCert>()?;
    m.add_class::<PyCertReq>()?;
    m.add_class::<PyHash>()?;
    m.add_class::<PySig>()?;
    m.add_class::<PyNonce>()?;
    m.add_class::<PyNotify>()?;
    m.add_class::<PyDelete>()?;
    m.add_class::<PyVendorId>()?;
    m.add_class::<PyNatD>()?;
    m.add_class::<PyNatOa>()?;
    m.add_class::<PyAttributes>()?;
    m.add_class::<PyUnknown>()?;
    Ok(())
}
