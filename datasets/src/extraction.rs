//! How a features file was made from images: `<stem>.extraction.json` beside the `.npy`,
//! written by `demud extract` after the features and their items file.
//!
//! The record names the feature kind (network and layer, or baseline), the weights (by a
//! fingerprint of their content, so a copy elsewhere matches and a retrained file does not)
//! and every preprocessing choice ([`Preprocess`]: the colour behind transparent pixels, the
//! crop mode, the sizes, the normalisation). Whatever later meets these features — a batch
//! ranked against an archive, a saved model continued, the explanation maps re-making an
//! item's features — checks it with [`ExtractionRecord::check_same_view`], so features made
//! from differently prepared images are refused with the difference named, never mixed.
//!
//! ```
//! use demud_datasets::extraction::ExtractionRecord;
//! use demud_datasets::images::{Crop, Preprocess};
//! let archive = ExtractionRecord::new("efficientnet-lite0:pool", None, Preprocess::imagenet(224));
//! let batch = ExtractionRecord::new(
//!     "efficientnet-lite0:pool",
//!     None,
//!     Preprocess::imagenet(224).with_crop(Crop::Stretch),
//! );
//! let err = batch.check_same_view(&archive, "the batch", "the archive").unwrap_err();
//! assert!(err.contains("--crop none (224 px input) for the batch"), "{err}");
//! assert!(err.contains("--crop center --resize 256 (224 px input) for the archive"), "{err}");
//! ```

use crate::error::{DataError, Result};
use crate::features::fingerprint;
use crate::images::{Crop, Preprocess};
use crate::parts::PartsPrecision;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `format` of an extraction record.
pub const EXTRACTION_FORMAT: &str = "demud-extraction";
/// The version this build writes and reads.
pub const EXTRACTION_VERSION: u32 = 1;

/// The weights a network was loaded from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightsRecord {
    /// The file, as it was given.
    pub path: PathBuf,
    /// Its [`fingerprint`]: what is compared, so that the same weights elsewhere match.
    pub fingerprint: String,
}

impl WeightsRecord {
    /// The record of a weights file (reads its fingerprint).
    pub fn of(path: &Path) -> Result<Self> {
        Ok(WeightsRecord {
            path: path.to_path_buf(),
            fingerprint: fingerprint(path)?,
        })
    }
}

/// A parts file of the features ([`crate::parts`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartsRecord {
    /// Its file name, beside the features.
    pub file: PathBuf,
    /// The feature map's grid, `(rows, columns)`: the parts' positions in row-major order.
    pub grid: (usize, usize),
    /// How its values are stored.
    pub precision: PartsPrecision,
}

/// How one features file was made (`<stem>.extraction.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtractionRecord {
    /// Always [`EXTRACTION_FORMAT`].
    pub format: String,
    /// [`EXTRACTION_VERSION`] when written by this build.
    pub version: u32,
    /// The feature kind, as `demud benchmark --kinds` names it: `efficientnet-lite0:pool`,
    /// `alexnet:fc7`, `torchscript:output`, `pixels:32`, `bow:10`.
    pub kind: String,
    /// The network's weights (none for the baselines).
    pub weights: Option<WeightsRecord>,
    /// How each image was decoded, resized, cropped and normalised.
    pub preprocess: Preprocess,
    /// The parts file saved beside the features (`extract --parts`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<PartsRecord>,
    /// The image folder, as given (for the reader; not compared).
    #[serde(default)]
    pub images: PathBuf,
    /// The [`fingerprint`] of the features file it describes, set by
    /// [`write_extraction_record`].
    #[serde(default)]
    pub features: String,
}

impl ExtractionRecord {
    /// A record of features of `kind`, from `weights`, seen through `preprocess`.
    pub fn new(kind: &str, weights: Option<WeightsRecord>, preprocess: Preprocess) -> Self {
        ExtractionRecord {
            format: EXTRACTION_FORMAT.into(),
            version: EXTRACTION_VERSION,
            kind: kind.into(),
            weights,
            preprocess,
            parts: None,
            images: PathBuf::new(),
            features: String::new(),
        }
    }

    /// The differences that make features of `self` incomparable with features of `other`
    /// (kind, weights, preprocessing), each as `(self's, other's)` in the options' words; empty
    /// when they are the same view of images. Paths and the features' fingerprints are not
    /// compared.
    pub fn differences(&self, other: &ExtractionRecord) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.kind != other.kind {
            out.push((self.kind.clone(), other.kind.clone()));
        }
        let fingerprint = |w: &Option<WeightsRecord>| w.as_ref().map(|w| w.fingerprint.clone());
        if fingerprint(&self.weights) != fingerprint(&other.weights) {
            let name = |w: &Option<WeightsRecord>| {
                w.as_ref().map_or("no weights file".to_string(), |w| {
                    format!("weights {} ({})", w.path.display(), w.fingerprint)
                })
            };
            out.push((name(&self.weights), name(&other.weights)));
        }
        let (a, b) = (&self.preprocess, &other.preprocess);
        if a.crop != b.crop || a.side != b.side {
            out.push((describe_geometry(a), describe_geometry(b)));
        }
        if a.background != b.background {
            out.push((
                format!("--background {}", a.background),
                format!("--background {}", b.background),
            ));
        }
        if a.mean != b.mean || a.std != b.std {
            let normalisation = |p: &Preprocess| format!("mean {:?} std {:?}", p.mean, p.std);
            out.push((normalisation(a), normalisation(b)));
        }
        out
    }

    /// `Ok` when features of `self` (called `ours`) and `other` (`theirs`) come from the same
    /// view of images; otherwise a sentence naming every difference.
    pub fn check_same_view(
        &self,
        other: &ExtractionRecord,
        ours: &str,
        theirs: &str,
    ) -> std::result::Result<(), String> {
        let differences = self.differences(other);
        if differences.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = differences
            .iter()
            .map(|(a, b)| format!("{a} for {ours}, {b} for {theirs}"))
            .collect();
        Err(format!(
            "they were extracted differently ({}); extract both the same way",
            listed.join("; ")
        ))
    }

    /// [`ExtractionRecord::check_same_view`] of the features at `ours` (recorded by `self`)
    /// against those at `theirs`, as an error on `theirs`.
    pub fn check_against(
        &self,
        ours: &Path,
        other: &ExtractionRecord,
        theirs: &Path,
    ) -> Result<()> {
        let (a, b) = (ours.display().to_string(), theirs.display().to_string());
        self.check_same_view(other, &a, &b)
            .map_err(|why| DataError::file(theirs, format!("does not go with {a}: {why}")))
    }
}

/// The geometry as the options that give it: `--crop center --resize 256 (224 px input)`.
pub fn describe_geometry(preprocess: &Preprocess) -> String {
    match preprocess.crop {
        Crop::Center { resize } => format!(
            "--crop center --resize {resize} ({} px input)",
            preprocess.side
        ),
        Crop::Stretch => format!("--crop none ({} px input)", preprocess.side),
        Crop::Pad { fill } => format!("--crop pad --fill {fill} ({} px input)", preprocess.side),
    }
}

/// The parts file that goes with a `.npy` features file: `<stem>.parts.npy`.
pub fn parts_path(features: &Path) -> PathBuf {
    features.with_extension("parts.npy")
}

/// The extraction record that goes with a `.npy` features file: `<stem>.extraction.json`.
pub fn extraction_path(features: &Path) -> PathBuf {
    features.with_extension("extraction.json")
}

/// Writes the record of `features` (after the features themselves: it carries their
/// fingerprint), atomically.
pub fn write_extraction_record(features: &Path, record: &ExtractionRecord) -> Result<()> {
    let record = ExtractionRecord {
        format: EXTRACTION_FORMAT.into(),
        version: EXTRACTION_VERSION,
        features: fingerprint(features)?,
        ..record.clone()
    };
    crate::run::write_json(&extraction_path(features), &record)
}

/// Reads the record beside `features`, if there is one (features from elsewhere have none).
/// A record written for another features file (an extraction interrupted over an earlier one,
/// files mixed up) is an error.
pub fn read_extraction_record(features: &Path) -> Result<Option<ExtractionRecord>> {
    let path = extraction_path(features);
    if !path.is_file() {
        return Ok(None);
    }
    let record: ExtractionRecord =
        crate::run::read_json(&path, EXTRACTION_FORMAT, EXTRACTION_VERSION)?;
    if !record.features.is_empty() {
        let actual = fingerprint(features)?;
        if record.features != actual {
            return Err(DataError::file(
                &path,
                format!(
                    "was written for another {} (fingerprint {}, the file now has {actual}): run extract again",
                    features.display(),
                    record.features
                ),
            ));
        }
    }
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::Colour;

    #[test]
    fn records_round_trip_and_belong_to_their_features() {
        let dir = tempfile::tempdir().unwrap();
        let features = dir.path().join("f.npy");
        std::fs::write(&features, b"first").unwrap();
        assert_eq!(read_extraction_record(&features).unwrap(), None);
        let record = ExtractionRecord::new(
            "pixels:8",
            None,
            Preprocess::imagenet(8).with_crop(Crop::Pad {
                fill: Colour([1, 2, 3]),
            }),
        );
        write_extraction_record(&features, &record).unwrap();
        let read = read_extraction_record(&features).unwrap().unwrap();
        assert_eq!(read.preprocess, record.preprocess);
        assert_eq!(read.kind, "pixels:8");
        assert!(read.check_same_view(&record, "a", "b").is_ok());
        std::fs::write(&features, b"second, longer").unwrap();
        let err = read_extraction_record(&features).unwrap_err().to_string();
        assert!(
            err.contains("another") && err.contains("f.extraction.json"),
            "{err}"
        );
    }

    #[test]
    fn every_difference_is_named() {
        let base = ExtractionRecord::new("effnet:pool", None, Preprocess::imagenet(224));
        let mut other = base.clone();
        other.kind = "effnet:logits".into();
        other.preprocess.background = Colour::BLACK;
        other.preprocess.crop = Crop::Center { resize: 300 };
        let differences = base.differences(&other);
        assert_eq!(differences.len(), 3, "{differences:?}");
        assert_eq!(
            differences[0],
            ("effnet:pool".into(), "effnet:logits".into())
        );
        assert!(
            differences[1].0.contains("--resize 256") && differences[1].1.contains("--resize 300")
        );
        assert_eq!(differences[2].1, "--background #000000");
        let mut weighted = base.clone();
        weighted.weights = Some(WeightsRecord {
            path: "w.safetensors".into(),
            fingerprint: "size=1".into(),
        });
        let err = base.check_same_view(&weighted, "a", "b").unwrap_err();
        assert!(
            err.contains("no weights file for a, weights w.safetensors"),
            "{err}"
        );
        // The same weights under another path are the same view.
        let mut moved = weighted.clone();
        moved.weights.as_mut().unwrap().path = "elsewhere/w.safetensors".into();
        assert!(weighted.check_same_view(&moved, "a", "b").is_ok());
    }
}
