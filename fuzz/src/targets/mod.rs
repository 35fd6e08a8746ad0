//! The fuzz targets: one per reader, each with valid seed inputs made by the crate's own
//! writers (checked to read back as written), a dictionary, structural mutations, and the
//! checks that an input's reading must pass: `Ok` with consistent content, or a `DataError`
//! that names the file.

use crate::mutate::Mutator;
use demud_datasets::{DataError, FeatureTable};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

mod csv_features;
mod items;
mod manifest;
mod model;
mod npy;

pub use csv_features::CsvTarget;
pub use items::ItemsTarget;
pub use manifest::ManifestTarget;
pub use model::ModelTarget;
pub use npy::NpyTarget;

/// The names of the targets, in the order `--target all` runs them.
pub const TARGETS: &[&str] = &["csv", "npy", "items", "model", "manifest"];

/// The target of a name in [`TARGETS`].
pub fn target(name: &str) -> Option<Box<dyn Target>> {
    Some(match name {
        "csv" => Box::new(CsvTarget),
        "npy" => Box::new(NpyTarget),
        "items" => Box::new(ItemsTarget),
        "model" => Box::new(ModelTarget),
        "manifest" => Box::new(ManifestTarget),
        _ => return None,
    })
}

/// A reader under test.
pub trait Target {
    /// Its name (`csv`, `npy`, ...).
    fn name(&self) -> &'static str;
    /// The name of the input file in the target's folder (its extension matters to readers
    /// that dispatch on it).
    fn file_name(&self) -> &'static str;
    /// Writes what the readers need beside the input (items files, an image folder) into
    /// `dir`, and returns the seed inputs, each made by the crate's writer and checked to read
    /// back as it was written (an `Err` says which did not).
    fn prepare(&self, dir: &Path, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<u8>>, String>;
    /// Tokens that mean something to the reader.
    fn tokens(&self) -> &'static [&'static str];
    /// One structural mutation (cells, lines, header fields, JSON nodes) of `input`.
    fn mutate(&self, m: &mut Mutator, input: &[u8]) -> Vec<u8>;
    /// The share of mutations that are structural (the rest are byte-level).
    fn structural_share(&self) -> f64 {
        0.35
    }
    /// Reads the input at `input` (in the folder `prepare` wrote) with every reader of the
    /// target, checking each result.
    fn check(&self, input: &Path) -> Checks;
}

/// What the readers made of one input.
#[derive(Debug, Default)]
pub struct Checks {
    /// Whether the target's main reader accepted the input (`None` before it ran).
    pub accepted: Option<bool>,
    /// The messages of the errors the readers returned.
    pub errors: Vec<String>,
    /// What was wrong: an accepted input whose content is inconsistent, or an error that
    /// does not name its file. Any of these is a finding, like a panic.
    pub wrong: Option<String>,
}

impl Checks {
    /// Takes a reader's result: an error is kept (and must name one of `files`); the first
    /// result taken is the main reader's.
    pub fn read<T>(&mut self, result: Result<T, DataError>, files: &[&Path]) -> Option<T> {
        let accepted = result.is_ok();
        self.accepted.get_or_insert(accepted);
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                let message = err.to_string();
                if !files
                    .iter()
                    .any(|f| message.contains(&f.display().to_string()))
                {
                    self.fail(format!(
                        "the error does not name the file ({}): {message}",
                        files
                            .iter()
                            .map(|f| f.display().to_string())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ));
                }
                self.errors.push(message);
                None
            }
        }
    }

    /// Records `what` as wrong unless `ok`.
    pub fn require(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.fail(what());
        }
    }

    fn fail(&mut self, what: String) {
        self.wrong.get_or_insert(what);
    }

    /// Checks what every accepted feature table must satisfy: one row of values per id, one
    /// label per id, one name per feature, a non-empty array, and no infinite value (every
    /// reader refuses them, or keeps the stored bits of a `.npy`, when `finite` is false).
    pub fn table(&mut self, table: &FeatureTable, finite: bool, what: &str) {
        let (n, d) = table.matrix.dim();
        self.require(n > 0 && d > 0, || {
            format!("{what}: an empty table was accepted ({n} x {d})")
        });
        self.require(table.ids.len() == n, || {
            format!("{what}: {} ids for {n} rows", table.ids.len())
        });
        self.require(table.feature_names.len() == d, || {
            format!(
                "{what}: {} names for {d} features",
                table.feature_names.len()
            )
        });
        if let Some(labels) = &table.labels {
            self.require(labels.len() == n, || {
                format!("{what}: {} labels for {n} rows", labels.len())
            });
        }
        if finite {
            self.require(
                !table.matrix.to_f64().iter().any(|v| v.is_infinite()),
                || format!("{what}: an infinite value was accepted"),
            );
        }
    }

    /// Checks that the ids of an accepted table are unique (the readers that promise it).
    pub fn unique_ids(&mut self, table: &FeatureTable, what: &str) {
        let unique: std::collections::HashSet<&String> = table.ids.iter().collect();
        self.require(unique.len() == table.ids.len(), || {
            format!("{what}: a duplicate id was accepted")
        });
    }
}

/// Values that find edge cases in writers and readers: zeros of both signs, the extremes,
/// subnormals, NaN (missing) and ordinary numbers.
pub fn interesting_value(rng: &mut ChaCha8Rng) -> f64 {
    const SPECIAL: &[f64] = &[
        0.0,
        -0.0,
        1.0,
        -1.5,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        1e308,
        -1e-300,
        0.1,
        f64::NAN,
    ];
    if rng.random_bool(0.3) {
        SPECIAL[rng.random_range(0..SPECIAL.len())]
    } else {
        rng.random_range(-1e6..1e6)
    }
}

/// `n` distinct ids with commas, quotes, spaces and non-ASCII letters inside (as image paths
/// and people's names have), none with leading or trailing whitespace or a leading `#`.
pub fn ids(rng: &mut ChaCha8Rng, n: usize, prefix: &str) -> Vec<String> {
    const PARTS: &[&str] = &[
        "a",
        "img",
        "x,y",
        "q\"uote",
        "é",
        "中",
        "two words",
        "0",
        "-1",
    ];
    (0..n)
        .map(|i| {
            let part = PARTS[rng.random_range(0..PARTS.len())];
            format!("{prefix}{i}/{part}.png")
        })
        .collect()
}

/// Whether two f64 are the same bits, or both NaN (NaN is "missing" to the CSV reader).
pub fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}
