//! # demud-report
//!
//! Evaluation and presentation of runs, after the engine and the decoder:
//!
//! - [`audit`]: the HTML page of a mislabel audit (suspect items, evidence, neighbours);
//! - [`benchmark`]: the discovery benchmark's tables (markdown, CSV) and figures;
//! - [`curves`]: discovery curves and nAUC tables of runs against labels, with the random
//!   baseline and the oracle;
//! - [`localisation`]: how well explanation maps point at planted novelties' masks;
//! - [`charts`]: line charts (PNG and SVG) of discovery curves and training losses;
//! - [`html`]: the self-contained HTML report of a run, from one template.

#![warn(missing_docs)]

pub mod audit;
pub mod benchmark;
pub mod charts;
pub mod curves;
pub mod error;
pub mod html;
pub mod localisation;
pub mod ood_charts;

pub use error::{ReportError, Result};
