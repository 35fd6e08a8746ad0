//! numpy arrays in and out. The engine reads a collection as an `ArrayView2<T>` for `T` in
//! `f32` / `f64`: a numpy array of either type is borrowed as it is (C or Fortran order, a
//! slice, a read-only memory map), never copied here; the engine copies only what is not in
//! row-major layout, since its one pass per selection needs contiguous rows.

use numpy::ndarray::{Array1, Array2, ArrayView2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// A borrowed 2-D collection in its storage precision.
pub enum Features<'py> {
    /// `float32` items (CNN features).
    Single(PyReadonlyArray2<'py, f32>),
    /// `float64` items.
    Double(PyReadonlyArray2<'py, f64>),
}

impl<'py> Features<'py> {
    /// Borrows `array` (a 2-D `float32` or `float64` numpy array; `what` names it in errors).
    pub fn borrow(array: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(single) = array.cast::<PyArray2<f32>>() {
            return Ok(Features::Single(readonly(single, what)?));
        }
        if let Ok(double) = array.cast::<PyArray2<f64>>() {
            return Ok(Features::Double(readonly(double, what)?));
        }
        Err(PyTypeError::new_err(format!(
            "{what} must be a 2-D numpy array of float32 or float64 (one item per row), not {}",
            describe(array)
        )))
    }

    /// Number of items and features.
    pub fn dim(&self) -> (usize, usize) {
        match self {
            Features::Single(a) => a.as_array().dim(),
            Features::Double(a) => a.as_array().dim(),
        }
    }

    /// The items widened to `f64` (a copy).
    pub fn to_f64(&self) -> Array2<f64> {
        match self {
            Features::Single(a) => a.as_array().mapv(f64::from),
            Features::Double(a) => a.as_array().to_owned(),
        }
    }
}

/// Calls `$body` with `$view` bound to the collection's `ArrayView2` in its own precision.
#[macro_export]
macro_rules! with_view {
    ($features:expr, |$view:ident| $body:expr) => {
        match $features {
            $crate::arrays::Features::Single(array) => {
                let $view = array.as_array();
                $body
            }
            $crate::arrays::Features::Double(array) => {
                let $view = array.as_array();
                $body
            }
        }
    };
}

fn readonly<'py, T: numpy::Element>(
    array: &Bound<'py, PyArray2<T>>,
    what: &str,
) -> PyResult<PyReadonlyArray2<'py, T>> {
    array.try_readonly().map_err(|e| {
        PyValueError::new_err(format!(
            "{what} cannot be read while it is being written: {e}"
        ))
    })
}

fn describe(value: &Bound<'_, PyAny>) -> String {
    let dtype_and_dims = value.getattr("dtype").and_then(|dtype| {
        Ok((
            dtype.str()?.to_string(),
            value.getattr("ndim")?.extract::<usize>()?,
        ))
    });
    match dtype_and_dims {
        Ok((dtype, ndim)) => format!("a {ndim}-D array of {dtype}"),
        Err(_) => value
            .get_type()
            .name()
            .map_or_else(|_| "another type".into(), |n| format!("a {n}")),
    }
}

/// A numpy `float64` vector, moved (not copied) into Python.
pub fn vector<'py>(py: Python<'py>, values: Array1<f64>) -> Bound<'py, PyArray1<f64>> {
    values.into_pyarray(py)
}

/// A numpy `float64` matrix, moved (not copied) into Python.
pub fn matrix<'py>(py: Python<'py>, values: Array2<f64>) -> Bound<'py, PyArray2<f64>> {
    values.into_pyarray(py)
}

/// Item indices as a numpy `int64` vector.
pub fn indices<'py>(
    py: Python<'py>,
    values: impl Iterator<Item = usize>,
) -> Bound<'py, PyArray1<i64>> {
    values
        .map(|i| i64::try_from(i).expect("an item index fits i64"))
        .collect::<Vec<_>>()
        .into_pyarray(py)
}

/// Rows `values` of a new `rows x width` matrix.
pub fn stack<'a>(
    rows: impl ExactSizeIterator<Item = &'a Array1<f64>>,
    width: usize,
) -> Array2<f64> {
    let mut out = Array2::<f64>::zeros((rows.len(), width));
    for (mut row, values) in out.rows_mut().into_iter().zip(rows) {
        row.assign(values);
    }
    out
}

/// A row of a collection, widened to `f64`.
pub fn row_f64<T: demud::Element>(items: ArrayView2<T>, index: usize) -> Array1<f64> {
    items.row(index).mapv(demud::Element::to_f64)
}
