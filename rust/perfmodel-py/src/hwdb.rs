//! Hardware-database bindings: ids, lookup, user files and what-if overrides.
use std::sync::Arc;

use perfmodel_core::hw::{self, HwSpec};
use perfmodel_core::Error;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::errors::{engine, to_py};

/// A parsed hardware spec (device, NIC, fabric or system). Immutable; overrides return a new one.
#[pyclass(frozen, name = "HwSpec", module = "perfmodel._core")]
pub struct PyHwSpec {
    pub inner: Arc<HwSpec>,
}

fn toml_to_py<'py>(py: Python<'py>, v: &toml::Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        toml::Value::String(s) => PyString::new(py, s).into_any(),
        toml::Value::Integer(i) => i.into_pyobject(py)?.into_any(),
        toml::Value::Float(f) => PyFloat::new(py, *f).into_any(),
        toml::Value::Boolean(b) => PyBool::new(py, *b).to_owned().into_any(),
        toml::Value::Datetime(d) => PyString::new(py, &d.to_string()).into_any(),
        toml::Value::Array(a) => {
            let items: PyResult<Vec<_>> = a.iter().map(|x| toml_to_py(py, x)).collect();
            PyList::new(py, items?)?.into_any()
        }
        toml::Value::Table(t) => table_to_py(py, t)?.into_any(),
    })
}

fn table_to_py<'py>(py: Python<'py>, t: &toml::Table) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in t {
        d.set_item(k, toml_to_py(py, v)?)?;
    }
    Ok(d)
}

fn py_to_toml(key: &str, v: &Bound<'_, PyAny>) -> Result<toml::Value, Error> {
    let bad = |what: &str| Error::InvalidArgument {
        arg: key.to_owned(),
        message: format!("override value must be a number, string or bool, got {what}"),
    };
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(
            v.extract::<bool>().map_err(|_| bad("bool"))?,
        ));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(toml::Value::Integer(
            v.extract::<i64>().map_err(|_| bad("a huge int"))?,
        ));
    }
    if let Ok(f) = v.extract::<f64>() {
        return Ok(toml::Value::Float(f));
    }
    if let Ok(s) = v.extract::<String>() {
        return Ok(toml::Value::String(s));
    }
    Err(bad(&v
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()))
}

#[pymethods]
impl PyHwSpec {
    #[getter]
    fn id(&self) -> String {
        self.inner.id.clone()
    }

    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind
    }

    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// The file the spec was read from (an embedded `hwdb/...` path or a user's path).
    #[getter]
    fn file(&self) -> String {
        self.inner.file.clone()
    }

    /// The spec's fields as nested dicts, exactly as in its TOML.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        table_to_py(py, &self.inner.table)
    }

    /// A system's LLM calibration as resolved (`same_as` followed): compute_time_scale, memory_time_scale,
    /// comm_bandwidth_scale, network_bandwidth_scale, fitted_on, same_as (None or the system id).
    fn calibration<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let sys = self.inner.system().map_err(|e| to_py(py, &e))?;
        let c = &sys.calibration;
        let d = PyDict::new(py);
        d.set_item("compute_time_scale", c.compute_time_scale)?;
        d.set_item("memory_time_scale", c.memory_time_scale)?;
        d.set_item("comm_bandwidth_scale", c.comm_bandwidth_scale)?;
        d.set_item("network_bandwidth_scale", c.network_bandwidth_scale)?;
        d.set_item("kernel_launch_us", c.kernel_launch_us)?;
        d.set_item("fitted_on", &c.fitted_on)?;
        d.set_item("same_as", c.same_as.as_ref().map(|(id, _)| id.clone()))?;
        let profiles = PyDict::new(py);
        for p in &c.profiles {
            let q = PyDict::new(py);
            q.set_item("compute_time_scale", p.compute_time_scale)?;
            q.set_item("memory_time_scale", p.memory_time_scale)?;
            q.set_item("comm_bandwidth_scale", p.comm_bandwidth_scale)?;
            q.set_item("network_bandwidth_scale", p.network_bandwidth_scale)?;
            q.set_item("kernel_launch_us", p.kernel_launch_us)?;
            q.set_item("fitted_on", &p.fitted_on)?;
            profiles.set_item(&p.name, q)?;
        }
        d.set_item("profiles", profiles)?;
        Ok(d)
    }

    /// A new spec with dotted keys replaced, validated like a file.
    fn with_overrides(&self, py: Python<'_>, overrides: &Bound<'_, PyDict>) -> PyResult<PyHwSpec> {
        let mut pairs = Vec::new();
        for (k, v) in overrides.iter() {
            let key: String = k.extract()?;
            pairs.push((
                key.clone(),
                py_to_toml(&key, &v).map_err(|e| to_py(py, &e))?,
            ));
        }
        let inner = self.inner.clone();
        let spec = engine(py, move || inner.with_overrides(&pairs))?;
        Ok(PyHwSpec {
            inner: Arc::new(spec),
        })
    }

    /// The spec as TOML text, written by the `toml` library from the spec's table (floats exact: the
    /// shortest text that reads back to the same number). Parsing it gives an equal spec.
    fn to_toml(&self, py: Python<'_>) -> PyResult<String> {
        toml::to_string(&self.inner.table).map_err(|e| {
            to_py(
                py,
                &Error::Hwdb {
                    file: self.inner.file.clone(),
                    key: String::new(),
                    message: format!("cannot be written as TOML: {e}"),
                },
            )
        })
    }

    /// Pickling: an embedded spec as its id and kind (`hwdb_get`); any other (a user's file, overrides) as its
    /// TOML text and file name (`hwdb_parse`), never raw memory.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let reg = hw::registry().map_err(|e| to_py(py, &e))?;
        let known = reg
            .get_kind(&self.inner.id, self.inner.kind)
            .is_ok_and(|s| Arc::ptr_eq(&s, &self.inner));
        let core = py.import("perfmodel._core")?;
        if known && reg.is_embedded(&self.inner.id) {
            let args = (self.inner.id.clone(), self.inner.kind).into_pyobject(py)?;
            return Ok((core.getattr("hwdb_get")?, args));
        }
        // A registered spec registers again where it is unpickled (a worker process), so that ids naming it
        // resolve there too.
        let args = (self.to_toml(py)?, self.inner.file.clone(), known).into_pyobject(py)?;
        Ok((core.getattr("hwdb_parse")?, args))
    }

    fn __repr__(&self) -> String {
        format!(
            "<{} '{}': {}>",
            self.inner.kind, self.inner.id, self.inner.name
        )
    }
}

/// Sorted ids of one kind: the embedded ones, and with `registered` those registered at run time too.
#[pyfunction]
#[pyo3(signature = (kind, registered=false))]
pub fn hwdb_ids(py: Python<'_>, kind: String, registered: bool) -> PyResult<Vec<String>> {
    engine(py, move || {
        hw::check_kind(&kind)?;
        let reg = hw::registry()?;
        Ok(if registered {
            reg.all_ids(&kind)
        } else {
            reg.ids(&kind)
        })
    })
}

/// An embedded spec by id (optionally of one kind).
#[pyfunction]
#[pyo3(signature = (id, kind=None))]
pub fn hwdb_get(py: Python<'_>, id: String, kind: Option<String>) -> PyResult<PyHwSpec> {
    let inner = engine(py, move || match kind {
        Some(k) => {
            hw::check_kind(&k)?;
            hw::registry()?.get_kind(&id, &k)
        }
        None => hw::registry()?.get(&id),
    })?;
    Ok(PyHwSpec { inner })
}

/// Parses TOML text; `file` names it in errors. With `register` (unpickling a registered spec), the spec is
/// also registered (`hwdb_register`) where the ids it names are known here, else returned unregistered.
#[pyfunction]
#[pyo3(signature = (text, file, register=false))]
pub fn hwdb_parse(
    py: Python<'_>,
    text: String,
    file: String,
    register: bool,
) -> PyResult<PyHwSpec> {
    let inner = engine(py, move || {
        let spec = hw::parse(&file, &text, None)?;
        if register {
            Ok(hw::register(spec.clone()).unwrap_or_else(|_| Arc::new(spec)))
        } else {
            Ok(Arc::new(spec))
        }
    })?;
    Ok(PyHwSpec { inner })
}

/// Registers a spec of the user's own under its id (`hw::register`): every model then resolves the id.
#[pyfunction]
pub fn hwdb_register(py: Python<'_>, spec: &PyHwSpec) -> PyResult<PyHwSpec> {
    let s = (*spec.inner).clone();
    let inner = engine(py, move || hw::register(s))?;
    Ok(PyHwSpec { inner })
}

/// Whether `id` names an embedded spec (not one registered at run time).
#[pyfunction]
pub fn hwdb_is_embedded(py: Python<'_>, id: String) -> PyResult<bool> {
    engine(py, move || Ok(hw::registry()?.is_embedded(&id)))
}
