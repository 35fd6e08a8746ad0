//! # demud
//!
//! The engine of an incremental novelty-discovery tool with explanations: DEMUD (Wagstaff et
//! al., AAAI 2013) keeps an incrementally updated SVD model of the items already seen,
//! repeatedly selects the remaining item with the largest reconstruction error, and explains
//! each selection by its reconstruction (expected content) and residual (novel content).
//!
//! The crate does no I/O and knows nothing of images or command lines; loaders live in
//! `demud-datasets`, the command line in `demud-cli`.
//!
//! - [`attribution`]: exact per-part splits of a score and its gradient, for maps that show
//!   where in an image the novelty is;
//! - [`audit`]: the items of a labelled collection most likely mislabelled, explained;
//! - [`conditioning`]: fitted feature transforms applied before ranking (centre, unit length,
//!   power, whitening);
//! - [`discovery`]: the loop, its parameters and the fast score update;
//! - [`model`]: the subspace model and its incremental updates (Brand, Ross);
//! - [`scoring`]: score variants, weights, missing values;
//! - [`evaluation`]: discovery curves, nAUC, oracle and random baselines;
//! - [`fitted`]: a model used outside a run: scoring new items, folding them in;
//! - [`state`]: the versioned saved model;
//! - [`peers`]: the other methods a benchmark ranks the same features with.
//!
//! ```
//! use demud::{DemudParams, Init, UpdateMethod};
//! use ndarray::Array2;
//!
//! // 200 items on a line plus one off it: DEMUD finds the odd one early.
//! let mut data = Array2::<f32>::zeros((201, 3));
//! for i in 0..200 {
//!     data[(i, 0)] = i as f32;
//!     data[(i, 1)] = 2.0 * i as f32;
//! }
//! data[(200, 2)] = 5.0;
//! let params = DemudParams::new(1).init(Init::Index(0)).update(UpdateMethod::Brand).n_select(3);
//! let order: Vec<usize> = params
//!     .discover(data.view())
//!     .unwrap()
//!     .map(|s| s.unwrap().index)
//!     .collect();
//! assert_eq!(order[0], 0);
//! assert!(order.contains(&200));
//! ```

#![warn(missing_docs)]

// Link the BLAS/LAPACK implementation (Debian's OpenBLAS) that ndarray and ndarray-linalg use.
extern crate blas_src;
extern crate openblas_src;

pub mod attribution;
pub mod audit;
pub mod conditioning;
pub mod discovery;
pub mod element;
pub mod error;
pub mod evaluation;
pub mod fitted;
pub mod model;
pub mod ood;
pub mod peers;
pub mod scoring;
pub mod state;

pub use audit::{audit, Audit, AuditParams};
pub use conditioning::{Conditioner, Conditioning};
pub use discovery::{
    Compatibility, DemudParams, Discovery, Init, ScorePath, Selection, SelectionRule, SvdMethod,
    UpdateMethod,
};
pub use element::Element;
pub use error::{DemudError, Result};
pub use model::SubspaceModel;
pub use scoring::{Interest, InterestMode, MissingPolicy, ScoreMethod, Scoring};
pub use state::ModelState;
