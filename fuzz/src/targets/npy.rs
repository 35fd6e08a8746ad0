//! The `.npy` reader: `read_npy`, `read_npy_with_items` without an items file, and
//! `read_features` with the items file beside the input.

use super::{Checks, Target};
use crate::mutate::{Mutator, MAX_INPUT};
use demud_datasets::features::{
    items_path, read_features, read_npy, read_npy_with_items, write_npy_features,
};
use demud_datasets::CsvLayout;
use ndarray::{Array2, ShapeBuilder};
use ndarray_npy::WriteNpyExt;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// `read_npy`, `read_npy_with_items` and `read_features` on a `.npy`.
pub struct NpyTarget;

/// The items file beside the input: three labelled items, no fingerprint (as people write
/// them), so that inputs of three rows read whole.
const ITEMS: &str = "id,label\na,x\nb,y\nc,z\n";

/// Shapes for rewritten headers: right, empty, 1-D, 3-D, and sizes that no file holds.
const SHAPES: &[&str] = &[
    "(3, 2)",
    "(3, 1)",
    "(1, 3)",
    "(0, 2)",
    "(2, 0)",
    "(6,)",
    "()",
    "(3, 2, 1)",
    "(1000000, 1000000)",
    "(1, 1000000000000)",
    "(4611686018427387904, 4)",
    "(18446744073709551615, 2)",
    "(18446744073709551616, 1)",
    "(-1, 2)",
    "[3, 2]",
    "(3.0, 2)",
    "(True, 2)",
    "((3, 2),)",
];

const TYPES: &[&str] = &[
    "'<f4'",
    "'>f4'",
    "'<f8'",
    "'>f8'",
    "'=f4'",
    "'|f4'",
    "'<f2'",
    "'<i4'",
    "'|u1'",
    "'<c8'",
    "'O'",
    "'<U4'",
    "'f4'",
    "None",
    "4",
    "b'<f4'",
    "[('a', '<f4')]",
];

const ORDERS: &[&str] = &["False", "True", "0", "None", "'False'"];

impl NpyTarget {
    /// A `.npy` with `dict` as its header (padded to 64 bytes), a version, a header length
    /// (the right one unless `length` says otherwise) and `data`.
    fn assemble(version: (u8, u8), dict: &str, length: Option<u32>, data: &[u8]) -> Vec<u8> {
        let wide = version.0 >= 2;
        let prefix = if wide { 12 } else { 10 };
        let mut text = dict.to_string();
        while (prefix + text.len() + 1) % 64 != 0 {
            text.push(' ');
        }
        text.push('\n');
        let mut bytes = b"\x93NUMPY".to_vec();
        bytes.extend_from_slice(&[version.0, version.1]);
        let length = length.unwrap_or(text.len() as u32);
        if wide {
            bytes.extend_from_slice(&length.to_le_bytes());
        } else {
            bytes.extend_from_slice(&(length as u16).to_le_bytes());
        }
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    /// Splits a `.npy` into its header text and data, when it has the magic string.
    fn split(input: &[u8]) -> Option<(String, Vec<u8>)> {
        if input.len() < 10 || &input[..6] != b"\x93NUMPY" {
            return None;
        }
        let (start, length) = if input[6] >= 2 && input.len() >= 12 {
            (
                12,
                u32::from_le_bytes([input[8], input[9], input[10], input[11]]) as usize,
            )
        } else {
            (10, u16::from_le_bytes([input[8], input[9]]) as usize)
        };
        let end = (start + length).min(input.len());
        Some((
            String::from_utf8_lossy(&input[start..end])
                .trim_end()
                .to_string(),
            input[end..].to_vec(),
        ))
    }
}

impl Target for NpyTarget {
    fn name(&self) -> &'static str {
        "npy"
    }

    fn file_name(&self) -> &'static str {
        "input.npy"
    }

    fn prepare(&self, dir: &Path, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<u8>>, String> {
        let seeds_dir = dir.join("seeds");
        std::fs::create_dir_all(&seeds_dir).map_err(|e| e.to_string())?;
        let mut seeds = Vec::new();
        for (i, (n, d)) in [(3, 2), (1, 1), (2, 5), (5, 3), (3, 7)]
            .into_iter()
            .enumerate()
        {
            // Any bits: NaN payloads, infinities, subnormals.
            let matrix = Array2::from_shape_fn((n, d), |_| f32::from_bits(rng.random()));
            let ids: Vec<String> = (0..n).map(|j| format!("item {j}")).collect();
            let path = seeds_dir.join(format!("seed-{i}.npy"));
            write_npy_features(&path, &ids, None, &matrix).map_err(|e| e.to_string())?;
            let back = read_npy(&path).map_err(|e| e.to_string())?;
            let same = match &back {
                demud_datasets::FeatureMatrix::F32(a) => {
                    a.dim() == matrix.dim()
                        && a.iter()
                            .zip(&matrix)
                            .all(|(x, y)| x.to_bits() == y.to_bits())
                }
                _ => false,
            };
            if !same {
                return Err(format!("{}: did not read back bit for bit", path.display()));
            }
            seeds.push(std::fs::read(&path).map_err(|e| e.to_string())?);
        }
        // f64 in C and Fortran order, as numpy writes them.
        let values: Vec<f64> = (0..6).map(|_| f64::from_bits(rng.random())).collect();
        for fortran in [false, true] {
            let matrix = if fortran {
                Array2::from_shape_vec((3, 2).f(), values.clone())
            } else {
                Array2::from_shape_vec((3, 2), values.clone())
            }
            .map_err(|e| e.to_string())?;
            let mut bytes = Vec::new();
            matrix.write_npy(&mut bytes).map_err(|e| e.to_string())?;
            seeds.push(bytes);
        }
        // Big-endian f64, version 2.0 and 3.0 headers.
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        let dict = "{'descr': '>f8', 'fortran_order': False, 'shape': (3, 2), }";
        seeds.push(Self::assemble((1, 0), dict, None, &data));
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }";
        seeds.push(Self::assemble((2, 0), dict, None, &data));
        seeds.push(Self::assemble((3, 0), dict, None, &data));

        std::fs::write(items_path(&dir.join(self.file_name())), ITEMS)
            .map_err(|e| e.to_string())?;
        Ok(seeds)
    }

    fn tokens(&self) -> &'static [&'static str] {
        &[
            "'<f4'",
            "'>f8'",
            "'<i8'",
            "'|u1'",
            "'<f2'",
            "'O'",
            "True",
            "False",
            "None",
            "(1000000, 1000000)",
            "(3,)",
            "(3, 2, 1)",
            "()",
            "'shape'",
            "'descr'",
            "'fortran_order'",
            "\u{93}NUMPY",
            "((((((((((",
            "{",
            "}",
            "\\x",
            "'",
            "\n",
        ]
    }

    fn mutate(&self, m: &mut Mutator, input: &[u8]) -> Vec<u8> {
        let Some((header, mut data)) = Self::split(input) else {
            return input.to_vec();
        };
        let mut dict = header;
        match m.below(6) {
            0 => {
                dict = format!(
                    "{{'descr': {}, 'fortran_order': {}, 'shape': {}, }}",
                    m.pick(TYPES),
                    m.pick(ORDERS),
                    m.pick(SHAPES)
                )
            }
            1 => {
                if let Some(at) = dict.find("'shape': ") {
                    let end = dict[at..].find(')').map_or(dict.len(), |e| at + e + 1);
                    let shape = *m.pick(SHAPES);
                    dict.replace_range(at + 9..end, shape);
                }
            }
            2 => {
                if let Some(at) = dict.find("'descr': ") {
                    let end = dict[at + 9..].find(',').map_or(dict.len(), |e| at + 9 + e);
                    let descr = *m.pick(TYPES);
                    dict.replace_range(at + 9..end, descr);
                }
            }
            3 => {
                // Data cut, extended or replaced.
                match m.below(3) {
                    0 => {
                        let at = m.below(data.len() + 1);
                        data.truncate(at);
                    }
                    1 => data.extend((0..1 + m.below(16)).map(|_| m.rng().random::<u8>())),
                    _ => data = (0..m.below(64)).map(|_| m.rng().random()).collect(),
                }
            }
            4 => {
                // Keys duplicated, added or dropped.
                let extra = [
                    "'shape': (1000000, 1000000), ",
                    "'extra': 1, ",
                    "'descr': '<f8', ",
                    "",
                ];
                let at = dict.find('{').map_or(0, |i| i + 1);
                let key = *m.pick(&extra);
                dict.insert_str(at, key);
            }
            _ => {}
        }
        let version = *m.pick(&[(1, 0), (1, 0), (2, 0), (3, 0), (0, 0), (4, 0), (1, 1)]);
        let length = match m.below(8) {
            0 => Some(*m.pick(&[0u32, 1, 9, 0xffff, 0xffff_ffff, 0x8000_0000])),
            1 => Some((dict.len() as u32).wrapping_add(m.below(130) as u32)),
            _ => None,
        };
        let mut out = Self::assemble(version, &dict, length, &data);
        out.truncate(MAX_INPUT);
        out
    }

    fn check(&self, input: &Path) -> Checks {
        let mut checks = Checks::default();
        let size = std::fs::metadata(input).map_or(0, |m| m.len()) as usize;
        if let Some(matrix) = checks.read(read_npy(input), &[input]) {
            let (n, d) = matrix.dim();
            let width = if matrix.precision() == "f32" { 4 } else { 8 };
            checks.require(n > 0 && d > 0, || format!("an empty {n} x {d} array"));
            checks.require(n * d * width + 10 <= size, || {
                format!("{n} x {d} values of {width} bytes from a file of {size} bytes")
            });
        }
        if let Some(table) = checks.read(read_npy_with_items(input, None), &[input]) {
            checks.table(&table, false, "read_npy_with_items");
            let n = table.matrix.dim().0;
            checks.require(
                table
                    .ids
                    .iter()
                    .enumerate()
                    .all(|(i, id)| *id == i.to_string())
                    && table.labels.is_none(),
                || format!("ids other than 0..{n} without an items file"),
            );
        }
        let items = items_path(input);
        if let Some(table) = checks.read(
            read_features(input, CsvLayout::default(), None),
            &[input, &items],
        ) {
            checks.table(&table, false, "read_features");
            checks.require(
                table.ids == ["a", "b", "c"]
                    && table.labels.as_deref() == Some(&["x".into(), "y".into(), "z".into()]),
                || {
                    format!(
                        "the items file beside was not read as written: {:?}",
                        table.ids
                    )
                },
            );
        }
        checks
    }
}
