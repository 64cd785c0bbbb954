//! `Attribute`, `Transform`, `Proposal` and the `SA` payload.

use std::borrow::Cow;

use isakmp_codec::{payload_type as pt, AttrValue, Attribute, Payload, Proposal, Sa, Transform};
use pyo3::exceptions::PyValueError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyList};
use pyo3::PyTraverseError;

use super::chain::{new_base, PyPayload};
use super::{bytes_arg, check_items, invalid, list_of, Bytes};

/// A data attribute: `value` is an int for the TV form, bytes for the TLV form.
#[pyclass(module = "isakmpd._core", name = "Attribute")]
pub struct PyAttribute {
    attr_type: u16,
    value: Value,
}

enum Value {
    Basic(u16),
    Variable(Py<PyBytes>),
}

fn attr_type_arg(value: u16) -> PyResult<u16> {
    if value > 0x7fff {
        return Err(PyValueError::new_err(format!(
            "attribute type must be 0..0x7fff (the AF bit is not part of it), not {value}"
        )));
    }
    Ok(value)
}

impl PyAttribute {
    fn value_arg(attr_type: u16, value: &Bound<'_, PyAny>) -> PyResult<Value> {
        if value.is_instance_of::<PyInt>() {
            let v: u64 = value.extract()?;
            return Ok(match Attribute::from_u64(attr_type, v).value {
                AttrValue::Basic(b) => Value::Basic(b),
                AttrValue::Variable(bytes) => {
                    Value::Variable(PyBytes::new(value.py(), &bytes).unbind())
                }
            });
        }
        Ok(Value::Variable(bytes_arg(value, "attribute value")?))
    }

    pub(crate) fn from_rust(py: Python<'_>, a: &Attribute<'_>) -> Self {
        let value = match &a.value {
            AttrValue::Basic(v) => Value::Basic(*v),
            AttrValue::Variable(b) => Value::Variable(PyBytes::new(py, b).unbind()),
        };
        PyAttribute {
            attr_type: a.attr_type,
            value,
        }
    }

    pub(crate) fn to_rust<'a>(&'a self, py: Python<'_>) -> Attribute<'a> {
        match &self.value {
            Value::Basic(v) => Attribute::basic(self.attr_type, *v),
            Value::Variable(b) => Attribute::variable(self.attr_type, b.as_bytes(py)),
        }
    }
}

#[pymethods]
impl PyAttribute {
    #[new]
    fn new(r#type: u16, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        let attr_type = attr_type_arg(r#type)?;
        Ok(PyAttribute {
            attr_type,
            value: Self::value_arg(attr_type, value)?,
        })
    }

    #[getter(r#type)]
    fn get_type(&self) -> u16 {
        self.attr_type
    }

    #[setter(r#type)]
    fn set_type(&mut self, value: u16) -> PyResult<()> {
        self.attr_type = attr_type_arg(value)?;
        Ok(())
    }

    #[getter]
    fn value(&self, py: Python<'_>) -> Py<PyAny> {
        match &self.value {
            Value::Basic(v) => {
                let Ok(int) = v.into_pyobject(py);
                int.into_any().unbind()
            }
            Value::Variable(b) => b.clone_ref(py).into_any(),
        }
    }

    #[setter]
    fn set_value(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.value = Self::value_arg(self.attr_type, value)?;
        Ok(())
    }

    #[getter]
    fn is_tv(&self) -> bool {
        matches!(self.value, Value::Basic(_))
    }

    /// TV value, or TLV bytes as a big-endian unsigned int.
    fn as_int(&self, py: Python<'_>) -> PyResult<u64> {
        self.to_rust(py).as_u64().map_err(|e| invalid(py, &e))
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.cast::<PyAttribute>() else {
            return false;
        };
        let Ok(other) = other.try_borrow() else {
            return false;
        };
        self.to_rust(py) == other.to_rust(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let value = self.value(py).bind(py).repr()?.to_string();
        Ok(format!("Attribute(type={}, value={value})", self.attr_type))
    }
}

/// A transform of a proposal.
#[pyclass(module = "isakmpd._core", name = "Transform")]
pub struct PyTransform {
    #[pyo3(get, set)]
    number: u8,
    #[pyo3(get, set)]
    transform_id: u8,
    attributes: Py<PyList>,
}

/// Python objects for `attrs`.
pub(crate) fn attributes_to_py(py: Python<'_>, attrs: &[Attribute<'_>]) -> PyResult<Py<PyList>> {
    let objs = attrs
        .iter()
        .map(|a| Py::new(py, PyAttribute::from_rust(py, a)))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, objs)?.unbind())
}

/// Rust attributes for the `Attribute` objects of `list` (values copied).
pub(crate) fn attributes_from_py(list: &Bound<'_, PyList>) -> PyResult<Vec<Attribute<'static>>> {
    let py = list.py();
    check_items::<PyAttribute>(list, "attributes", "Attribute")?;
    list.iter()
        .map(|a| {
            Ok(a.cast::<PyAttribute>()?
                .try_borrow()?
                .to_rust(py)
                .into_owned())
        })
        .collect()
}

impl PyTransform {
    fn from_rust(py: Python<'_>, t: &Transform<'_>) -> PyResult<Self> {
        Ok(PyTransform {
            number: t.number,
            transform_id: t.transform_id,
            attributes: attributes_to_py(py, &t.attributes)?,
        })
    }

    fn to_rust(&self, py: Python<'_>) -> PyResult<Transform<'static>> {
        Ok(Transform {
            number: self.number,
            transform_id: self.transform_id,
            attributes: attributes_from_py(self.attributes.bind(py))?,
        })
    }
}

#[pymethods]
impl PyTransform {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.attributes)
    }

    #[new]
    #[pyo3(signature = (number, transform_id, attributes = None))]
    fn new(
        py: Python<'_>,
        number: u8,
        transform_id: u8,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let attributes = match attributes {
            Some(seq) => list_of::<PyAttribute>(seq, "attributes", "Attribute")?,
            None => PyList::empty(py).unbind(),
        };
        Ok(PyTransform {
            number,
            transform_id,
            attributes,
        })
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

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.cast::<PyTransform>() else {
            return false;
        };
        let Ok(other) = other.try_borrow() else {
            return false;
        };
        match (self.to_rust(py), other.to_rust(py)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Transform(number={}, transform_id={}, attributes={})",
            self.number,
            self.transform_id,
            self.attributes.bind(py).repr()?
        ))
    }
}

/// A proposal of an SA payload.
#[pyclass(module = "isakmpd._core", name = "Proposal")]
pub struct PyProposal {
    #[pyo3(get, set)]
    number: u8,
    #[pyo3(get, set)]
    protocol_id: u8,
    #[pyo3(get, set)]
    spi: Bytes,
    transforms: Py<PyList>,
}

impl PyProposal {
    fn from_rust(py: Python<'_>, p: &Proposal<'_>) -> PyResult<Self> {
        let transforms = p
            .transforms
            .iter()
            .map(|t| Py::new(py, PyTransform::from_rust(py, t)?))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyProposal {
            number: p.number,
            protocol_id: p.protocol_id,
            spi: Bytes::new(py, &p.spi),
            transforms: PyList::new(py, transforms)?.unbind(),
        })
    }

    fn to_rust(&self, py: Python<'_>) -> PyResult<Proposal<'static>> {
        let list = self.transforms.bind(py);
        check_items::<PyTransform>(list, "transforms", "Transform")?;
        let transforms = list
            .iter()
            .map(|t| t.cast::<PyTransform>()?.try_borrow()?.to_rust(py))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Proposal {
            number: self.number,
            protocol_id: self.protocol_id,
            spi: Cow::Owned(self.spi.as_bytes(py).to_vec()),
            transforms,
        })
    }
}

#[pymethods]
impl PyProposal {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.transforms)
    }

    #[new]
    fn new(
        number: u8,
        protocol_id: u8,
        spi: Bytes,
        transforms: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        Ok(PyProposal {
            number,
            protocol_id,
            spi,
            transforms: list_of::<PyTransform>(transforms, "transforms", "Transform")?,
        })
    }

    #[getter]
    fn transforms(&self, py: Python<'_>) -> Py<PyList> {
        self.transforms.clone_ref(py)
    }

    #[setter]
    fn set_transforms(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.transforms = list_of::<PyTransform>(value, "transforms", "Transform")?;
        Ok(())
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.cast::<PyProposal>() else {
            return false;
        };
        let Ok(other) = other.try_borrow() else {
            return false;
        };
        match (self.to_rust(py), other.to_rust(py)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Proposal(number={}, protocol_id={}, spi={}, transforms={})",
            self.number,
            self.protocol_id,
            self.spi.bind(py).repr()?,
            self.transforms.bind(py).repr()?
        ))
    }
}

/// The SA payload.
#[pyclass(module = "isakmpd._core", name = "SA", extends = PyPayload)]
pub struct PySa {
    #[pyo3(get, set)]
    doi: u32,
    #[pyo3(get, set)]
    situation: Bytes,
    proposals: Py<PyList>,
}

impl PySa {
    pub(crate) fn from_rust(py: Python<'_>, sa: &Sa<'_>) -> PyResult<Self> {
        let proposals = sa
            .proposals
            .iter()
            .map(|p| Py::new(py, PyProposal::from_rust(py, p)?))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PySa {
            doi: sa.doi,
            situation: Bytes::new(py, &sa.situation),
            proposals: PyList::new(py, proposals)?.unbind(),
        })
    }

    pub(crate) fn to_rust<'a>(&'a self, py: Python<'_>) -> PyResult<Payload<'a>> {
        let list = self.proposals.bind(py);
        check_items::<PyProposal>(list, "proposals", "Proposal")?;
        let proposals = list
            .iter()
            .map(|p| p.cast::<PyProposal>()?.try_borrow()?.to_rust(py))
            .collect::<PyResult<Vec<_>>>()?;
        let situation = Cow::Borrowed(self.situation.as_bytes(py));
        Ok(Payload::Sa(Sa {
            doi: self.doi,
            situation,
            proposals,
        }))
    }
}

#[pymethods]
impl PySa {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.proposals)
    }

    #[new]
    fn new(
        py: Python<'_>,
        doi: u32,
        situation: Bytes,
        proposals: &Bound<'_, PyAny>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let sa = PySa {
            doi,
            situation,
            proposals: list_of::<PyProposal>(proposals, "proposals", "Proposal")?,
        };
        Ok(new_base(py, pt::SA).add_subclass(sa))
    }

    #[getter]
    fn proposals(&self, py: Python<'_>) -> Py<PyList> {
        self.proposals.clone_ref(py)
    }

    #[setter]
    fn set_proposals(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.proposals = list_of::<PyProposal>(value, "proposals", "Proposal")?;
        Ok(())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "SA(doi={}, situation={}, proposals={})",
            self.doi,
            self.situation.bind(py).repr()?,
            self.proposals.bind(py).repr()?
        ))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAttribute>()?;
    m.add_class::<PyTransform>()?;
    m.add_class::<PyProposal>()?;
    m.add_class::<PySa>()?;
    Ok(())
}
