//! `stepstones._sandbox`: the fork-server sandbox engine (placeholder until the engine lands).
use pyo3::prelude::*;

#[pymodule]
fn _sandbox(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
