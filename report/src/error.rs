//! The report crate's one error type; every variant keeps its source.

use std::path::PathBuf;
use thiserror::Error;

/// Why an evaluation, a chart or a report could not be made.
#[derive(Debug, Error)]
pub enum ReportError {
    /// Reading or writing one of the run's files.
    #[error(transparent)]
    Data(#[from] demud_datasets::DataError),
    /// A benchmark that cannot run as asked.
    #[error("benchmark: {reason}")]
    Benchmark {
        /// Why, naming the option or input.
        reason: String,
    },
    /// The engine's evaluation refused its input.
    #[error(transparent)]
    Engine(#[from] demud::DemudError),
    /// A selection without a label where labels are needed.
    #[error("{}, line {line}: item {id:?} has no label; pass --labels", path.display())]
    Unlabelled {
        /// The selections file.
        path: PathBuf,
        /// Its line.
        line: u64,
        /// The item.
        id: String,
    },
    /// A selection whose id the labels file does not have.
    #[error("{}, line {line}: id {id:?} is not in the labels file", path.display())]
    NotInLabels {
        /// The selections file.
        path: PathBuf,
        /// Its line.
        line: u64,
        /// The item.
        id: String,
    },
    /// A run's feature file that no longer holds the items the run ranked.
    #[error("{}: not the items this run ranked (other item count or ids); the run's features changed since, run discover again", path.display())]
    FeaturesChanged {
        /// The feature file.
        path: PathBuf,
    },
    /// A run with no selections.
    #[error("{}: no selections", path.display())]
    NoSelections {
        /// The selections file.
        path: PathBuf,
    },
    /// A chart with no curve.
    #[error("{}: nothing to plot", path.display())]
    NothingToPlot {
        /// The chart's path.
        path: PathBuf,
    },
    /// No font for chart text.
    #[error("{reason}")]
    Font {
        /// What was tried.
        reason: String,
    },
    /// plotters or the PNG encoder failed.
    #[error("drawing a chart: {source}")]
    Chart {
        /// The drawing error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An image the report shows cannot be read.
    #[error("{}: {reason}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The HTML template failed.
    #[error("writing the report page: {0}")]
    Template(#[from] minijinja::Error),
    /// Selections that cannot be scored: an item selected twice, or classes the collection
    /// does not have.
    #[error("{}: {reason}", path.display())]
    Selections {
        /// The selections file (or the run's name).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Re-scoring images with the network (explanation faithfulness).
    #[error(transparent)]
    Maps(Box<demud_maps::MapsError>),
}

/// Shorthand for results of this crate.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;
