//! Discovery curves and nAUC (Lee & Wagstaff 2018) on class codes: the engine's
//! `evaluation` functions, with labels coded as integers 0.. by the Python layer.

use crate::arrays::vector;
use crate::errors::engine_error;
use numpy::ndarray::Array1;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

fn codes(classes: &PyReadonlyArray1<'_, i64>) -> PyResult<Vec<usize>> {
    classes
        .as_array()
        .iter()
        .map(|&c| {
            usize::try_from(c)
                .map_err(|_| PyValueError::new_err(format!("class code {c} is negative")))
        })
        .collect()
}

/// `C_i`, the number of distinct classes among the first i selections, for every i, from the
/// selections' class codes in selection order.
#[pyfunction]
pub fn curve_of_codes<'py>(
    py: Python<'py>,
    selected: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let codes = codes(&selected)?;
    Ok(vector(
        py,
        Array1::from(demud::evaluation::discovery_curve(codes)),
    ))
}

/// `nAUC_t` (percent) of a discovery curve for a collection of `n_classes` classes.
#[pyfunction]
pub fn nauc_of_curve(
    curve: PyReadonlyArray1<'_, f64>,
    n_classes: usize,
    t: usize,
) -> PyResult<f64> {
    let curve = curve.as_array().to_vec();
    demud::evaluation::nauc(&curve, n_classes, t).map_err(engine_error)
}

/// The oracle's curve: `min(i, n_classes)` for i = 1..=t.
#[pyfunction]
pub fn oracle<'py>(py: Python<'py>, n_classes: usize, t: usize) -> Bound<'py, PyArray1<f64>> {
    vector(
        py,
        Array1::from(demud::evaluation::oracle_curve(n_classes, t)),
    )
}

/// The mean discovery curve of `orders` seeded random orders of the collection's class codes
/// (`t` selections, at most the collection's size).
#[pyfunction]
pub fn random_curve<'py>(
    py: Python<'py>,
    classes: PyReadonlyArray1<'py, i64>,
    t: usize,
    orders: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let codes = codes(&classes)?;
    let mean = py.detach(|| demud::evaluation::random_baseline(&codes, t, orders, seed));
    Ok(vector(py, Array1::from(mean)))
}

/// The mean and standard deviation of `nAUC_t` over `orders` seeded random orders, for each t
/// of `at` (clamped to the collection's size).
#[pyfunction]
pub fn random_nauc_of_codes(
    py: Python<'_>,
    classes: PyReadonlyArray1<'_, i64>,
    at: Vec<usize>,
    orders: usize,
    seed: u64,
) -> PyResult<(Vec<f64>, Vec<f64>)> {
    let codes = codes(&classes)?;
    let spreads = py
        .detach(|| demud::evaluation::random_nauc(&codes, &at, orders, seed))
        .map_err(engine_error)?;
    Ok((
        spreads.iter().map(|s| s.mean).collect(),
        spreads.iter().map(|s| s.sd).collect(),
    ))
}
