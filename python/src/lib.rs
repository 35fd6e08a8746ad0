//! `demud._demud`: the DEMUD engine for Python, the native half of the `demud` package (the
//! Python half, `py_src/demud`, holds the estimator class `demud.DEMUD` and the evaluation
//! helpers users call). This crate only converts arguments and calls the engine (`demud`) and
//! the model-file reader and writer (`demud-datasets`); it needs no libtorch.
//!
//! - [`params`]: the estimator's keywords, checked once into the engine's parameters;
//! - [`run`]: discovery runs (`fit`, and the `Run` iterator behind `DEMUD.discover`);
//! - [`model`]: the saved model (`Model`), scoring under it and folding items into it;
//! - [`evaluation`]: discovery curves, nAUC, oracle and random baselines;
//! - [`arrays`]: numpy arrays in (borrowed, in their precision) and out;
//! - [`errors`]: the mapping of errors to Python exceptions.

mod arrays;
mod errors;
mod evaluation;
mod model;
mod params;
mod run;

use pyo3::prelude::*;

/// The native module. Its names are private to the package: users import `demud`.
#[pymodule]
fn _demud(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_class::<params::Params>()?;
    module.add_class::<model::Model>()?;
    module.add_class::<run::Run>()?;
    module.add_function(wrap_pyfunction!(run::fit, module)?)?;
    module.add_function(wrap_pyfunction!(model::score_items_under, module)?)?;
    module.add_function(wrap_pyfunction!(model::fold_items_into, module)?)?;
    module.add_function(wrap_pyfunction!(model::model_of, module)?)?;
    module.add_function(wrap_pyfunction!(evaluation::curve_of_codes, module)?)?;
    module.add_function(wrap_pyfunction!(evaluation::nauc_of_curve, module)?)?;
    module.add_function(wrap_pyfunction!(evaluation::oracle, module)?)?;
    module.add_function(wrap_pyfunction!(evaluation::random_curve, module)?)?;
    module.add_function(wrap_pyfunction!(evaluation::random_nauc_of_codes, module)?)?;
    Ok(())
}
