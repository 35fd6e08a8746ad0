//! Parts files: each item's layer value split over the positions of its feature map
//! (`<stem>.<layer>.parts.npy`, `n x m x d`, `f32` or `f16`), written by `demud extract --parts`
//! from the same forward pass as the features, so that the exact novelty maps need no second
//! pass through the network. Row `i` holds item `i`'s `m` parts (positions in row-major order
//! of the grid the extraction record names); they sum to its features.
//!
//! The file is read memory-mapped: opening it costs nothing, and a map reads only the rows of
//! the items it explains. `f16` halves the file (EfficientNet-Lite0 `pool` at 224 px: 49 x 1280
//! values, 125 KB an item) at a relative rounding of 2^-11 per value.
//!
//! ```
//! use demud_datasets::parts::{write_parts, PartsFile, PartsPrecision};
//! use ndarray::Array3;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("f.pool.parts.npy");
//! let parts = Array3::from_shape_fn((2, 4, 3), |(i, p, c)| (i * 12 + p * 3 + c) as f32 / 8.0);
//! write_parts(&path, parts.view(), PartsPrecision::F16).unwrap();
//! let file = PartsFile::open(&path).unwrap();
//! assert_eq!(file.dim(), (2, 4, 3));
//! assert_eq!(file.item(1).unwrap()[(3, 2)], 23.0 / 8.0); // eighths are exact in f16
//! ```

use crate::atomic::write_atomic;
use crate::error::{DataError, Result};
use ndarray::{Array2, ArrayView3};
use ndarray_npy::{ViewDataError, ViewElement, ViewNpyExt, WritableElement, WriteNpyExt};
use py_literal::Value as PyValue;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How a parts file stores its values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartsPrecision {
    /// Single precision, as the network computes them.
    F32,
    /// Half precision (`<f2`): half the size.
    #[default]
    F16,
}

impl std::str::FromStr for PartsPrecision {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "f32" => Ok(PartsPrecision::F32),
            "f16" => Ok(PartsPrecision::F16),
            other => Err(format!("{other:?} is not a precision: f16 or f32")),
        }
    }
}

/// A half-precision value as `.npy` stores it (`<f2`): what lets ndarray-npy write and view
/// half-precision arrays.
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(transparent)]
pub struct F16(pub half::f16);

const F16_DESCRIPTOR: &str = "<f2";

impl WritableElement for F16 {
    fn type_descriptor() -> PyValue {
        PyValue::String(F16_DESCRIPTOR.into())
    }
    fn write<W: std::io::Write>(
        &self,
        mut writer: W,
    ) -> std::result::Result<(), ndarray_npy::WriteDataError> {
        writer.write_all(&self.0.to_le_bytes())?;
        Ok(())
    }
    fn write_slice<W: std::io::Write>(
        slice: &[Self],
        mut writer: W,
    ) -> std::result::Result<(), ndarray_npy::WriteDataError> {
        let bytes: Vec<u8> = slice.iter().flat_map(|v| v.0.to_le_bytes()).collect();
        writer.write_all(&bytes)?;
        Ok(())
    }
}

impl ViewElement for F16 {
    fn bytes_as_slice<'a>(
        bytes: &'a [u8],
        type_desc: &PyValue,
        len: usize,
    ) -> std::result::Result<&'a [Self], ViewDataError> {
        match type_desc {
            PyValue::String(s) if s == F16_DESCRIPTOR && cfg!(target_endian = "little") => {}
            other => return Err(ViewDataError::WrongDescriptor(other.clone())),
        }
        let needed = len * std::mem::size_of::<Self>();
        if bytes.len() < needed {
            return Err(ViewDataError::MissingBytes(needed - bytes.len()));
        }
        if bytes.len() > needed {
            return Err(ViewDataError::ExtraBytes(bytes.len() - needed));
        }
        bytemuck::try_cast_slice(bytes).map_err(|_| ViewDataError::Misaligned)
    }
}

/// Writes parts (`n x m x d`) at `path` in `precision`, atomically.
pub fn write_parts(path: &Path, parts: ArrayView3<f32>, precision: PartsPrecision) -> Result<()> {
    match precision {
        PartsPrecision::F32 => write_atomic(path, |w| Ok(parts.write_npy(w)?)),
        PartsPrecision::F16 => {
            let half = parts.mapv(|v| F16(half::f16::from_f32(v)));
            write_atomic(path, |w| Ok(half.write_npy(w)?))
        }
    }
}

/// A parts file, memory-mapped.
#[derive(Debug)]
pub struct PartsFile {
    path: PathBuf,
    map: memmap2::Mmap,
    precision: PartsPrecision,
    dim: (usize, usize, usize),
}

impl PartsFile {
    /// Maps `path` and checks it is an `n x m x d` array of `f32` or `f16`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: parts files are written once, whole, and renamed into place
        // ([`write_parts`]); nothing writes to one in place while it is mapped.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let not_parts = |e: ndarray_npy::ViewNpyError| {
            DataError::parse(path, None, "not an n x m x d array of f32 or f16", e)
        };
        let (precision, dim) = match ndarray::ArrayView3::<f32>::view_npy(&map) {
            Ok(view) => (PartsPrecision::F32, view.dim()),
            Err(ndarray_npy::ViewNpyError::WrongDescriptor(_)) => (
                PartsPrecision::F16,
                ndarray::ArrayView3::<F16>::view_npy(&map)
                    .map_err(not_parts)?
                    .dim(),
            ),
            Err(e) => return Err(not_parts(e)),
        };
        Ok(PartsFile {
            path: path.to_path_buf(),
            map,
            precision,
            dim,
        })
    }

    /// `(n, m, d)`: items, positions, values per position.
    pub fn dim(&self) -> (usize, usize, usize) {
        self.dim
    }

    /// How the values are stored.
    pub fn precision(&self) -> PartsPrecision {
        self.precision
    }

    /// Item `i`'s parts, `m x d`, in f64.
    pub fn item(&self, i: usize) -> Result<Array2<f64>> {
        if i >= self.dim.0 {
            return Err(DataError::file(
                &self.path,
                format!("has {} items, not an item {i}", self.dim.0),
            ));
        }
        let bad = |e| DataError::parse(&self.path, None, "cannot be viewed", e);
        Ok(match self.precision {
            PartsPrecision::F32 => ndarray::ArrayView3::<f32>::view_npy(&self.map)
                .map_err(bad)?
                .index_axis(ndarray::Axis(0), i)
                .mapv(f64::from),
            PartsPrecision::F16 => ndarray::ArrayView3::<F16>::view_npy(&self.map)
                .map_err(bad)?
                .index_axis(ndarray::Axis(0), i)
                .mapv(|v| f64::from(v.0)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn both_precisions_round_trip_and_numpy_layout_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let parts = Array3::from_shape_fn((3, 5, 2), |(i, p, c)| {
            (i as f32 - 1.0) * 0.1 + p as f32 * 1e-3 + c as f32 * 7.0
        });
        for precision in [PartsPrecision::F32, PartsPrecision::F16] {
            let path = dir.path().join(format!("{precision:?}.npy"));
            write_parts(&path, parts.view(), precision).unwrap();
            let file = PartsFile::open(&path).unwrap();
            assert_eq!((file.dim(), file.precision()), ((3, 5, 2), precision));
            let tolerance = match precision {
                PartsPrecision::F32 => 0.0,
                PartsPrecision::F16 => 1.0 / 1024.0,
            };
            for i in 0..3 {
                let item = file.item(i).unwrap();
                for ((p, c), v) in item.indexed_iter() {
                    let want = f64::from(parts[(i, p, c)]);
                    assert!(
                        (v - want).abs() <= tolerance * want.abs().max(1e-3),
                        "{i} {p} {c}"
                    );
                }
            }
            assert!(file
                .item(3)
                .unwrap_err()
                .to_string()
                .contains("has 3 items"));
        }
        // The header says `<f2`, as numpy writes half precision.
        let bytes = std::fs::read(dir.path().join("F16.npy")).unwrap();
        let header = String::from_utf8_lossy(&bytes[..128]);
        assert!(
            header.contains("'descr': '<f2'") && header.contains("(3, 5, 2)"),
            "{header}"
        );
        // A 2-D array or another type is not a parts file.
        let flat = dir.path().join("flat.npy");
        write_atomic(&flat, |w| {
            Ok(ndarray::Array2::<f32>::zeros((2, 2)).write_npy(w)?)
        })
        .unwrap();
        assert!(PartsFile::open(&flat)
            .unwrap_err()
            .to_string()
            .contains("n x m x d"));
    }
}
