//! Feature tables from CSV and `.npy` files.
//!
//! CSV: one item per row, the first column its id; an optional second column of labels; the
//! rest numbers. An optional header row names the features. Empty cells, `nan`, `NA` and `?`
//! are missing values (NaN). The reference DEMUD's "filename first" CSV reads as it is: lines
//! starting with `#` are comments, and a first one listing one name per feature (its `xvals`,
//! e.g. wavelengths) names the features.
//!
//! `.npy`: an `n x d` array of `f32`, `f64` or `f16` (`<f2`), with an optional items CSV
//! (`id[,label]`, one row per item, optional header `id,label`). [`open_features`] maps a
//! little-endian `f32` or `f16` file into memory instead of reading it ([`MappedMatrix`]): the
//! collection is then never copied, and the operating system pages it in as a pass reads it.
//!
//! ```
//! use demud_datasets::{CsvLayout, features::read_csv};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("f.csv");
//! std::fs::write(&path, "id,label,a,b\nx,cat,1,2\ny,dog,3,nan\n").unwrap();
//! let table = read_csv(&path, CsvLayout::default()).unwrap();
//! assert_eq!(table.ids, vec!["x", "y"]);
//! assert_eq!(table.labels.as_deref(), Some(&["cat".to_string(), "dog".to_string()][..]));
//! assert_eq!(table.feature_names, vec!["a", "b"]);
//! assert!(table.matrix.to_f64()[(1, 1)].is_nan());
//! ```

use crate::atomic::write_atomic;
use crate::error::{DataError, Result};
use ndarray::{Array2, ArrayView2};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Yes, no, or decide from the file's content.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Detect {
    /// Decide from the content (the default).
    #[default]
    Auto,
    /// Present.
    Yes,
    /// Absent.
    No,
}

/// How a features CSV is laid out.
///
/// With [`Detect::Auto`], the first row is a header when none of its cells after the first is
/// a number; the second column holds labels when its header is `label` or `class`, or when its
/// first data cell is not a number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvLayout {
    /// Whether the first row names the columns.
    pub header: Detect,
    /// Whether the second column holds labels.
    pub label_column: Detect,
}

/// The feature values in their stored precision.
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureMatrix {
    /// Single precision (CNN features).
    F32(Array2<f32>),
    /// Double precision (CSV data).
    F64(Array2<f64>),
    /// A `.npy` file of `f32` or `f16` values, memory-mapped: no copy in memory.
    Mapped(MappedMatrix),
}

/// A computation over a collection in any storage precision: what a generic closure would be.
/// [`FeatureMatrix::visit`] calls it with the values as they are stored.
pub trait MatrixVisitor {
    /// What the computation gives.
    type Output;
    /// Runs the computation on `data` (items x features).
    fn visit<T: demud::Element>(self, data: ArrayView2<'_, T>) -> Self::Output;
}

impl FeatureMatrix {
    /// `(items, features)`.
    pub fn dim(&self) -> (usize, usize) {
        match self {
            FeatureMatrix::F32(a) => a.dim(),
            FeatureMatrix::F64(a) => a.dim(),
            FeatureMatrix::Mapped(m) => m.dim(),
        }
    }
    /// Runs `visitor` on the values in their stored precision (a mapped file is not copied).
    pub fn visit<V: MatrixVisitor>(&self, visitor: V) -> V::Output {
        match self {
            FeatureMatrix::F32(a) => visitor.visit(a.view()),
            FeatureMatrix::F64(a) => visitor.visit(a.view()),
            FeatureMatrix::Mapped(m) => match m.view() {
                MappedView::F32(a) => visitor.visit(a),
                MappedView::F16(a) => visitor.visit(a),
            },
        }
    }
    /// A copy in f64.
    pub fn to_f64(&self) -> Array2<f64> {
        struct ToF64;
        impl MatrixVisitor for ToF64 {
            type Output = Array2<f64>;
            fn visit<T: demud::Element>(self, a: ArrayView2<'_, T>) -> Array2<f64> {
                a.mapv(demud::Element::to_f64)
            }
        }
        self.visit(ToF64)
    }
    /// Item (row) `i` in f64.
    pub fn row_f64(&self, i: usize) -> ndarray::Array1<f64> {
        struct Row(usize);
        impl MatrixVisitor for Row {
            type Output = ndarray::Array1<f64>;
            fn visit<T: demud::Element>(self, a: ArrayView2<'_, T>) -> Self::Output {
                a.row(self.0).mapv(demud::Element::to_f64)
            }
        }
        self.visit(Row(i))
    }
    /// Fits a conditioning on every item.
    pub fn fit(&self, conditioning: &demud::Conditioning) -> demud::Result<demud::Conditioner> {
        struct Fit<'c>(&'c demud::Conditioning);
        impl MatrixVisitor for Fit<'_> {
            type Output = demud::Result<demud::Conditioner>;
            fn visit<T: demud::Element>(self, a: ArrayView2<'_, T>) -> Self::Output {
                self.0.fit(a)
            }
        }
        self.visit(Fit(conditioning))
    }
    /// Whether any value is NaN (missing).
    pub fn has_missing(&self) -> bool {
        struct HasNan;
        impl MatrixVisitor for HasNan {
            type Output = bool;
            fn visit<T: demud::Element>(self, a: ArrayView2<'_, T>) -> bool {
                a.iter().any(|v| v.to_f64().is_nan())
            }
        }
        self.visit(HasNan)
    }
    /// The precision's name, `"f16"`, `"f32"` or `"f64"`.
    pub fn precision(&self) -> &'static str {
        match self {
            FeatureMatrix::F32(_) => "f32",
            FeatureMatrix::F64(_) => "f64",
            FeatureMatrix::Mapped(m) => match m.precision() {
                MappedPrecision::F32 => "f32",
                MappedPrecision::F16 => "f16",
            },
        }
    }
    /// Whether the values are a memory map of their file (no copy in memory).
    pub fn is_mapped(&self) -> bool {
        matches!(self, FeatureMatrix::Mapped(_))
    }
}

/// How a mapped `.npy` stores its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MappedPrecision {
    /// `<f4`.
    F32,
    /// `<f2`.
    F16,
}

/// The values of a [`MappedMatrix`] as an array view in their stored precision.
#[derive(Clone, Debug)]
pub enum MappedView<'a> {
    /// `<f4` values.
    F32(ArrayView2<'a, f32>),
    /// `<f2` values.
    F16(ArrayView2<'a, half::f16>),
}

/// An `n x d` `.npy` of little-endian `f32` or `f16` values in C order, memory-mapped (the
/// header checked as [`read_npy`] checks it). Clones share the map.
#[derive(Clone)]
pub struct MappedMatrix {
    path: PathBuf,
    map: std::sync::Arc<memmap2::Mmap>,
    precision: MappedPrecision,
    dim: (usize, usize),
}

impl std::fmt::Debug for MappedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedMatrix")
            .field("path", &self.path)
            .field("precision", &self.precision)
            .field("dim", &self.dim)
            .finish()
    }
}

impl PartialEq for MappedMatrix {
    /// The same shape, precision and values (bit for bit).
    fn eq(&self, other: &Self) -> bool {
        self.dim == other.dim && self.precision == other.precision && self.map[..] == other.map[..]
    }
}

impl MappedMatrix {
    /// Maps the `.npy` at `path`: `None` when it cannot be viewed in place (f64, big-endian,
    /// Fortran order), for the caller to read instead. The header is checked first
    /// ([`NpyHeader`]): a wrong type, a claim of more values than the file holds, or a
    /// truncated file is an error naming the file.
    pub fn open(path: &Path) -> Result<Option<Self>> {
        let header = NpyHeader::read(path)?;
        let dim = matrix_dim(path, &header)?;
        let precision = match header.kind {
            NpyKind::F32 {
                little_endian: true,
            } => MappedPrecision::F32,
            NpyKind::F16 => MappedPrecision::F16,
            NpyKind::F32 { .. } | NpyKind::F64 => return Ok(None),
        };
        let file = std::fs::File::open(path).map_err(io_error(path))?;
        // SAFETY: the map is read-only and private to this process. Feature files are written
        // whole and renamed into place (`write_atomic`), so a writer replaces the file's
        // directory entry, never the mapped bytes; a file truncated by some other program
        // while mapped would fault on access, as with any mapped input.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_error(path))?;
        let mapped = MappedMatrix {
            path: path.to_path_buf(),
            map: std::sync::Arc::new(map),
            precision,
            dim,
        };
        match mapped.try_view() {
            Ok(view) if view.is_standard_layout() => Ok(Some(mapped)),
            Ok(_) => Ok(None),
            Err(e) => Err(DataError::parse(
                path,
                None,
                "cannot be mapped as a 2-D f32 or f16 array",
                e,
            )),
        }
    }

    fn try_view(&self) -> std::result::Result<MappedView<'_>, ndarray_npy::ViewNpyError> {
        use ndarray_npy::ViewNpyExt;
        Ok(match self.precision {
            MappedPrecision::F32 => MappedView::F32(ArrayView2::<f32>::view_npy(&self.map)?),
            MappedPrecision::F16 => {
                use ndarray::ShapeBuilder;
                // `F16` is a transparent wrapper of `half::f16`: the same bytes, no copy.
                let halves = ArrayView2::<crate::parts::F16>::view_npy(&self.map)?;
                let standard = halves.is_standard_layout();
                let values: &[half::f16] = bytemuck::cast_slice(
                    halves
                        .to_slice_memory_order()
                        .expect("a .npy view is contiguous"),
                );
                let shape = halves.dim().set_f(!standard);
                MappedView::F16(ArrayView2::from_shape(shape, values).expect("the view's shape"))
            }
        })
    }

    /// The values, in their stored precision.
    pub fn view(&self) -> MappedView<'_> {
        self.try_view()
            .expect("checked when the file was mapped, and the map does not change")
    }

    /// `(items, features)`.
    pub fn dim(&self) -> (usize, usize) {
        self.dim
    }

    /// How the values are stored.
    pub fn precision(&self) -> MappedPrecision {
        self.precision
    }

    /// The mapped file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl MappedView<'_> {
    fn is_standard_layout(&self) -> bool {
        match self {
            MappedView::F32(a) => a.is_standard_layout(),
            MappedView::F16(a) => a.is_standard_layout(),
        }
    }
}

/// A loaded collection: ids, optional labels, feature names and values.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureTable {
    /// One id per item (row).
    pub ids: Vec<String>,
    /// One label per item, when the file or a labels file gave them.
    pub labels: Option<Vec<String>>,
    /// One name per feature (`f0`, `f1`, ... when the file has none).
    pub feature_names: Vec<String>,
    /// The values, items x features.
    pub matrix: FeatureMatrix,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A CSV reader's error: an I/O error as such, anything else with its line, the csv crate's
/// error kept as the source.
pub(crate) fn csv_error(path: &Path, err: csv::Error) -> DataError {
    let line = err.position().map(|p| p.line());
    csv_error_on(path, err, line)
}

/// [`csv_error`] on a line the caller knows.
fn csv_error_on(path: &Path, err: csv::Error, line: Option<u64>) -> DataError {
    if matches!(err.kind(), csv::ErrorKind::Io(_)) {
        if let csv::ErrorKind::Io(source) = err.into_kind() {
            return DataError::Io {
                path: path.to_path_buf(),
                source,
            };
        }
        unreachable!("checked to be an I/O error");
    }
    let what = match err.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text",
        _ => "not readable CSV",
    };
    DataError::parse(path, line, what, err)
}

/// The 1-based lines of records from their byte offsets, counted over the file's bytes (the
/// csv crate's own line numbers lag one line per record in files with CR-LF line ends: it
/// counts a line when it reads the `\n` that begins the next record, rust-csv issue 395).
/// Offsets must come in increasing order, as records do.
struct Lines<'a> {
    bytes: &'a [u8],
    scanned: usize,
    newlines: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            scanned: 0,
            newlines: 0,
        }
    }

    /// The line of the record that begins at `byte` (past the line ends the reader left
    /// before it).
    fn at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while start < self.bytes.len() && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        if start > self.scanned {
            let counted = self.bytes[self.scanned..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.newlines += counted as u64;
            self.scanned = start;
        }
        self.newlines + 1
    }
}

/// Reads the non-empty records of a CSV file with their 1-based line numbers.
fn read_records(path: &Path) -> Result<Vec<(u64, Vec<String>)>> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let mut lines = Lines::new(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(&bytes[..]);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| lines.at(p.byte()));
            csv_error_on(path, e, line)
        })?;
        let line = record.position().map_or(0, |p| lines.at(p.byte()));
        if record.iter().all(str::is_empty) {
            continue;
        }
        rows.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(rows)
}

/// A cell as a number: `Some(NaN)` for a missing-value token, `None` for anything else
/// that is not a number.
fn parse_cell(cell: &str) -> Option<f64> {
    match cell {
        "" | "?" | "NA" | "na" | "N/A" => Some(f64::NAN),
        _ => cell.parse::<f64>().ok(),
    }
}

fn is_number(cell: &str) -> bool {
    !cell.is_empty() && cell.parse::<f64>().is_ok()
}

/// Whether the second column of headerless rows could be integer class labels as
/// well as a feature: every cell a whole number, at most half as many distinct values as rows
/// (at least 2 rows), while some later column holds a number that is not whole. Reading such
/// labels as a feature would silently rank by them.
fn looks_like_class_numbers(rows: &[(u64, Vec<String>)]) -> bool {
    let whole = |c: &str| {
        let c = c.trim();
        !c.is_empty() && c.parse::<i64>().is_ok()
    };
    if rows.len() < 2 || !rows.iter().all(|(_, r)| r.get(1).is_some_and(|c| whole(c))) {
        return false;
    }
    let distinct: std::collections::HashSet<&str> = rows.iter().map(|(_, r)| r[1].trim()).collect();
    let fractional = rows.iter().any(|(_, r)| {
        r.iter()
            .skip(2)
            .any(|c| !whole(c) && parse_cell(c).is_some_and(|v| v.is_finite()))
    });
    distinct.len() * 2 <= rows.len() && fractional
}

/// Reads a features CSV (see the module documentation for the layout).
pub fn read_csv(path: &Path, layout: CsvLayout) -> Result<FeatureTable> {
    let mut rows = read_records(path)?;
    // The reference's comment lines start with `#`; a first one names the features.
    let comment_names = rows
        .first()
        .filter(|(_, r)| r[0].starts_with('#'))
        .map(|(_, r)| {
            let mut names = r.clone();
            names[0] = names[0].trim_start_matches('#').trim().to_string();
            names
        });
    rows.retain(|(_, r)| !r[0].starts_with('#'));
    let Some((_, first)) = rows.first() else {
        return Err(DataError::file(path, "the file has no rows"));
    };
    let has_header = match layout.header {
        Detect::Yes => true,
        Detect::No => false,
        Detect::Auto => first.len() > 1 && first[1..].iter().all(|c| !is_number(c)),
    };
    let (header, data) = if has_header {
        (Some(&rows[0]), &rows[1..])
    } else {
        (None, &rows[..])
    };
    let Some((first_line, first_data)) = data.first() else {
        return Err(DataError::file(path, "the file has a header but no items"));
    };
    let has_labels = match layout.label_column {
        Detect::Yes => true,
        Detect::No => false,
        Detect::Auto => {
            let named = header
                .and_then(|(_, h)| h.get(1))
                .is_some_and(|name| matches!(name.to_lowercase().as_str(), "label" | "class"));
            let textual = first_data.get(1).is_some_and(|c| parse_cell(c).is_none());
            if header.is_none() && !textual && looks_like_class_numbers(data) {
                return Err(DataError::line(
                    path,
                    *first_line,
                    "column 2 holds whole numbers, few of them distinct, beside features that are not whole: class labels or a feature? Say which (--csv-labels yes or no; a header naming column 2 `label` also tells)",
                ));
            }
            named || textual
        }
    };
    let first_feature = if has_labels { 2 } else { 1 };
    let width = first_data.len();
    if width <= first_feature {
        return Err(DataError::line(
            path,
            *first_line,
            format!(
                "no feature columns: {width} column(s), of which the first {first_feature} are the id{}",
                if has_labels { " and the label" } else { "" }
            ),
        ));
    }
    let d = width - first_feature;
    let feature_names = match header {
        Some((line, h)) => {
            if h.len() != width {
                return Err(DataError::line(
                    path,
                    *line,
                    format!("the header has {} columns, the first item {width}", h.len()),
                ));
            }
            h[first_feature..].to_vec()
        }
        None => match comment_names {
            Some(names) if names.len() == d => names,
            _ => (0..d).map(|j| format!("f{j}")).collect(),
        },
    };
    let mut values = Vec::with_capacity(data.len() * d);
    let mut ids = Vec::with_capacity(data.len());
    let mut labels = Vec::new();
    for (line, row) in data {
        if row.len() != width {
            return Err(DataError::line(
                path,
                *line,
                format!(
                    "{} columns, expected {width} as on line {first_line}",
                    row.len()
                ),
            ));
        }
        ids.push(row[0].clone());
        if has_labels {
            labels.push(row[1].clone());
        }
        for (j, cell) in row[first_feature..].iter().enumerate() {
            let value = parse_cell(cell).ok_or_else(|| {
                DataError::line(
                    path,
                    *line,
                    format!(
                        "column {} ({}): cannot read {cell:?} as a number",
                        first_feature + j + 1,
                        feature_names[j]
                    ),
                )
            })?;
            if value.is_infinite() {
                return Err(DataError::line(
                    path,
                    *line,
                    format!(
                        "column {} ({}): value is infinite",
                        first_feature + j + 1,
                        feature_names[j]
                    ),
                ));
            }
            values.push(value);
        }
    }
    let matrix = Array2::from_shape_vec((ids.len(), d), values).expect("rows of d values");
    Ok(FeatureTable {
        ids,
        labels: has_labels.then_some(labels),
        feature_names,
        matrix: FeatureMatrix::F64(matrix),
    })
}

/// One row of an items or labels CSV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRow {
    /// 1-based line in the file.
    pub line: u64,
    /// The item's id.
    pub id: String,
    /// Its label, when the file has a second column.
    pub label: Option<String>,
}

/// Reads an items CSV: `id[,label]` per row, optional header starting with `id` (and, in
/// files [`write_npy_features`] wrote, a first line with the fingerprint of their `.npy`).
pub fn read_items(path: &Path) -> Result<Vec<ItemRow>> {
    let mut rows = read_records(path)?;
    if rows
        .first()
        .is_some_and(|(_, r)| r[0].starts_with(FINGERPRINT_PREFIX))
    {
        rows.remove(0);
    }
    let skip = usize::from(
        rows.first()
            .is_some_and(|(_, r)| r[0].eq_ignore_ascii_case("id")),
    );
    rows[skip..]
        .iter()
        .map(|(line, row)| match row.len() {
            1 | 2 => Ok(ItemRow {
                line: *line,
                id: row[0].clone(),
                label: row.get(1).cloned(),
            }),
            n => Err(DataError::line(
                path,
                *line,
                format!("{n} columns; an items file has `id` or `id,label`"),
            )),
        })
        .collect()
}

/// Reads an `n x d` `.npy` array of f32, f64 or f16 (`<f2`, which is mapped: there is no
/// owned half-precision matrix; see [`MappedMatrix`]).
///
/// The header is checked against the file before any value is read: its length, its
/// nesting, the array's shape (2-D), its type (`<f4`, `>f4`, `<f8`, `>f8`, `<f2`) and that the
/// shape's values fill exactly the bytes after the header. A header that claims more values
/// than the file holds is refused with both sizes, not trusted with an allocation of its
/// claim (which would abort the process).
pub fn read_npy(path: &Path) -> Result<FeatureMatrix> {
    use ndarray_npy::{ReadNpyError, ReadNpyExt};
    let header = NpyHeader::read(path)?;
    matrix_dim(path, &header)?;
    let describe =
        |e: ReadNpyError| DataError::parse(path, None, "not a 2-D f32 or f64 .npy array", e);
    let read = |path| {
        let file = std::fs::File::open(path).map_err(io_error(path))?;
        Ok(std::io::BufReader::new(file))
    };
    Ok(match header.kind {
        NpyKind::F64 => FeatureMatrix::F64(Array2::<f64>::read_npy(read(path)?).map_err(describe)?),
        NpyKind::F32 { .. } => {
            FeatureMatrix::F32(Array2::<f32>::read_npy(read(path)?).map_err(describe)?)
        }
        NpyKind::F16 => FeatureMatrix::Mapped(MappedMatrix::open(path)?.ok_or_else(|| {
            DataError::file(
                path,
                "a Fortran-order f16 .npy cannot be mapped: save it in C order",
            )
        })?),
    })
}

/// Opens an `n x d` `.npy` as [`read_npy`] does, but maps little-endian `f32` and `f16`
/// files into memory instead of reading them: the collection is not copied.
pub fn map_npy(path: &Path) -> Result<FeatureMatrix> {
    match MappedMatrix::open(path)? {
        Some(mapped) => Ok(FeatureMatrix::Mapped(mapped)),
        None => read_npy(path),
    }
}

/// The `(rows, columns)` of a 2-D, non-empty array's header.
fn matrix_dim(path: &Path, header: &NpyHeader) -> Result<(usize, usize)> {
    let &[rows, cols] = &header.shape[..] else {
        let shown: Vec<String> = header.shape.iter().map(u64::to_string).collect();
        return Err(DataError::file(
            path,
            format!(
                "the .npy header gives the shape ({}): features are a 2-D array, items x features",
                shown.join(", ")
            ),
        ));
    };
    if rows == 0 || cols == 0 {
        return Err(DataError::file(
            path,
            format!("the array is empty ({rows} x {cols})"),
        ));
    }
    // The sizes fill the file (checked by the header), so they fit in memory addresses.
    Ok((rows as usize, cols as usize))
}

/// The `.npy` header's magic string.
const NPY_MAGIC: &[u8] = b"\x93NUMPY";
/// The deepest bracket nesting a `.npy` header may have (a feature array's has 2: the
/// dictionary and the shape tuple); deeper ones are refused before they are parsed.
const NPY_MAX_NESTING: usize = 8;

/// What a `.npy` header of f32, f64 or f16 values says, checked against the file: its length
/// and nesting, the type (`<f4`, `>f4`, `<f8`, `>f8`, `<f2`), and that the shape's values fill
/// exactly the bytes after the header. Check a `.npy` with it before `ndarray_npy` reads it:
/// that crate allocates what the header claims before reading a byte of data, and a claim
/// larger than memory aborts the process.
pub(crate) struct NpyHeader {
    /// The array's shape, any number of axes.
    pub(crate) shape: Vec<u64>,
    /// The type of the values.
    pub(crate) kind: NpyKind,
}

/// The value types a features `.npy` may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NpyKind {
    /// `<f4` or `>f4`.
    F32 {
        /// `<f4`: can be mapped as it is.
        little_endian: bool,
    },
    /// `<f8` or `>f8`.
    F64,
    /// `<f2` (numpy's float16).
    F16,
}

impl NpyKind {
    fn width(self) -> u64 {
        match self {
            NpyKind::F16 => 2,
            NpyKind::F32 { .. } => 4,
            NpyKind::F64 => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            NpyKind::F16 => "f16",
            NpyKind::F32 { .. } => "f32",
            NpyKind::F64 => "f64",
        }
    }
}

impl NpyHeader {
    /// Reads and checks the header of the `.npy` at `path`.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(io_error(path))?;
        let size = file.metadata().map_err(io_error(path))?.len();
        let not_npy = || DataError::file(path, "not a .npy file (no \\x93NUMPY magic string)");
        let mut prefix = [0u8; 8];
        if size < 10 {
            return Err(not_npy());
        }
        file.read_exact(&mut prefix).map_err(io_error(path))?;
        if &prefix[..6] != NPY_MAGIC {
            return Err(not_npy());
        }
        let (length_bytes, text_is_utf8) = match (prefix[6], prefix[7]) {
            (1, 0) => (2, false),
            (2, 0) => (4, false),
            (3, 0) => (4, true),
            (major, minor) => {
                return Err(DataError::file(
                    path,
                    format!(
                    ".npy format version {major}.{minor} is not supported (1.0, 2.0 and 3.0 are)"
                ),
                ))
            }
        };
        let mut length = [0u8; 4];
        file.read_exact(&mut length[..length_bytes])
            .map_err(io_error(path))?;
        let header_len = u64::from(u32::from_le_bytes(length));
        let data_start = 8 + length_bytes as u64 + header_len;
        if data_start > size {
            return Err(DataError::file(
                path,
                format!(
                    "the .npy header claims {header_len} bytes, but the file holds {} after the header length",
                    size - (8 + length_bytes as u64)
                ),
            ));
        }
        let mut bytes = vec![0u8; header_len as usize];
        file.read_exact(&mut bytes).map_err(io_error(path))?;
        let bad = |what: String| Err(DataError::file(path, format!("the .npy header {what}")));
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) if text_is_utf8 || text.is_ascii() => text,
            _ => return bad("is not ASCII text".into()),
        };
        let Some(text) = text.strip_suffix('\n') else {
            return bad("does not end with a newline".into());
        };
        let mut depth = 0usize;
        for c in text.chars() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > NPY_MAX_NESTING {
                return bad(format!(
                    "nests brackets more than {NPY_MAX_NESTING} deep; it is not a feature array's"
                ));
            }
        }
        let value: py_literal::Value = text.parse().map_err(|e| {
            DataError::parse(path, None, "the .npy header is not a Python literal", e)
        })?;
        let Some(dict) = value.as_dict() else {
            return bad("is not a dictionary".into());
        };
        // As numpy and ndarray-npy read it: a later key wins.
        let find = |key: &str| {
            dict.iter()
                .rev()
                .find(|(k, _)| k.as_string().is_some_and(|k| k == key))
                .map(|(_, v)| v)
        };
        let shape: Option<Vec<u64>> = find("shape").and_then(|v| {
            v.as_tuple()?
                .iter()
                .map(|n| u64::try_from(n.as_integer()?).ok())
                .collect()
        });
        let Some(shape) = shape else {
            return bad("has no shape (a tuple of sizes)".into());
        };
        let descr = find("descr").and_then(py_literal::Value::as_string);
        let kind = match descr.map(String::as_str) {
            Some("<f4") => NpyKind::F32 {
                little_endian: true,
            },
            Some(">f4") => NpyKind::F32 {
                little_endian: false,
            },
            Some("<f8" | ">f8") => NpyKind::F64,
            Some("<f2") => NpyKind::F16,
            Some(other) => {
                return bad(format!(
                    "gives the type {other:?}: the values must be f32 ('<f4'), f64 ('<f8') or little-endian f16 ('<f2')"
                ))
            }
            None => return bad("has no type (descr)".into()),
        };
        let width = kind.width();
        let held = size - data_start;
        let claimed = shape
            .iter()
            .try_fold(width, |bytes: u64, &n| bytes.checked_mul(n));
        if claimed != Some(held) {
            let claim = claimed.map_or("more bytes than any file holds".to_string(), |c| {
                format!("{c} bytes")
            });
            let shown: Vec<String> = shape.iter().map(u64::to_string).collect();
            return Err(DataError::file(
                path,
                format!(
                    "the header describes {} {} values ({claim}), but the file holds {held} bytes after it",
                    shown.join(" x "),
                    kind.name()
                ),
            ));
        }
        Ok(NpyHeader { shape, kind })
    }
}

/// Reads `.npy` features with an optional items CSV giving ids and labels (ids default to the
/// row numbers 0, 1, ...).
pub fn read_npy_with_items(path: &Path, items: Option<&Path>) -> Result<FeatureTable> {
    npy_table(path, read_npy(path)?, items)
}

/// The table of `.npy` features `matrix` read from `path`, with the ids and labels of `items`.
fn npy_table(path: &Path, matrix: FeatureMatrix, items: Option<&Path>) -> Result<FeatureTable> {
    let (n, d) = matrix.dim();
    let (ids, labels) = match items {
        None => ((0..n).map(|i| i.to_string()).collect(), None),
        Some(items_path) => {
            check_fingerprint(path, items_path)?;
            let rows = read_items(items_path)?;
            if rows.len() != n {
                return Err(DataError::file(
                    items_path,
                    format!("{} items, but {} has {n} rows", rows.len(), path.display()),
                ));
            }
            let labelled = rows.iter().filter(|r| r.label.is_some()).count();
            if labelled != 0 && labelled != n {
                let row = rows
                    .iter()
                    .find(|r| r.label.is_none())
                    .expect("some unlabelled");
                return Err(DataError::line(
                    items_path,
                    row.line,
                    "this item has no label while others do",
                ));
            }
            let labels =
                (labelled == n).then(|| rows.iter().map(|r| r.label.clone().unwrap()).collect());
            (rows.into_iter().map(|r| r.id).collect(), labels)
        }
    };
    Ok(FeatureTable {
        ids,
        labels,
        feature_names: (0..d).map(|j| format!("f{j}")).collect(),
        matrix,
    })
}

/// Reads features by extension: `.npy` (with `items`, by default the items file beside it,
/// [`items_path`], when there is one) or anything else as CSV.
pub fn read_features(path: &Path, layout: CsvLayout, items: Option<&Path>) -> Result<FeatureTable> {
    load_features(path, layout, items, read_npy)
}

/// Reads features as [`read_features`] does, but maps a little-endian `f32` or `f16` `.npy`
/// into memory ([`map_npy`]) instead of reading it: ranking it needs no copy.
pub fn open_features(path: &Path, layout: CsvLayout, items: Option<&Path>) -> Result<FeatureTable> {
    load_features(path, layout, items, map_npy)
}

fn load_features(
    path: &Path,
    layout: CsvLayout,
    items: Option<&Path>,
    npy: fn(&Path) -> Result<FeatureMatrix>,
) -> Result<FeatureTable> {
    if is_npy(path) {
        let beside = items_path(path);
        let items = items.or(beside.is_file().then_some(beside.as_path()));
        let table = npy_table(path, npy(path)?, items)?;
        check_unique_ids(items.unwrap_or(path), &table.ids)?;
        Ok(table)
    } else {
        if let Some(items) = items {
            return Err(DataError::file(
                items,
                "an items file goes with .npy features only; a CSV carries its own ids",
            ));
        }
        let table = read_csv(path, layout)?;
        check_unique_ids(path, &table.ids)?;
        Ok(table)
    }
}

/// Refuses a collection in which two items share an id: labels, selections and explanations
/// are matched by id, and the second item would silently take the first one's.
fn check_unique_ids(path: &Path, ids: &[String]) -> Result<()> {
    let mut first_row: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    for (row, id) in ids.iter().enumerate() {
        if let Some(first) = first_row.insert(id.as_str(), row) {
            return Err(DataError::file(
                path,
                format!(
                    "id {id:?} is given to two items (rows {} and {} of the data); ids must be unique",
                    first + 1,
                    row + 1
                ),
            ));
        }
    }
    Ok(())
}

fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// The items file that goes with `.npy` features: `<stem>.items.csv` beside them.
pub fn items_path(features: &Path) -> PathBuf {
    features.with_extension("items.csv")
}

/// First cell of the fingerprint line of an items file.
const FINGERPRINT_PREFIX: &str = "# demud-features";
/// Bytes hashed at each end of a `.npy` for its fingerprint.
const FINGERPRINT_SPAN: u64 = 4 << 20;

/// A cheap identity of a file (a `.npy`, a CSV): its size and an xxh3 hash of its first and last 4 MiB
/// (the header, the first rows and the last rows). Two extractions of different images or
/// layers differ there.
pub fn fingerprint(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    let size = file.metadata().map_err(io_error(path))?.len();
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buffer = Vec::new();
    (&mut file)
        .take(FINGERPRINT_SPAN)
        .read_to_end(&mut buffer)
        .map_err(io_error(path))?;
    if size > FINGERPRINT_SPAN {
        file.seek(SeekFrom::Start(
            size.saturating_sub(FINGERPRINT_SPAN).max(FINGERPRINT_SPAN),
        ))
        .map_err(io_error(path))?;
        file.read_to_end(&mut buffer).map_err(io_error(path))?;
    }
    hasher.update(&buffer);
    Ok(format!("size={size} xxh3={:016x}", hasher.digest()))
}

/// An xxh3 hash of a file's whole content (and its size): the identity of an input whose
/// every byte matters, such as a benchmark's features.
pub fn content_hash(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(io_error(path))?;
        if read == 0 {
            break;
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok(format!("size={size} xxh3={:016x}", hasher.digest()))
}

/// Checks that an items file written with a fingerprint belongs to this `.npy` (a
/// hand-written items file has none and is checked by its row count only).
fn check_fingerprint(features: &Path, items: &Path) -> Result<()> {
    let rows = read_records(items)?;
    let Some((line, first)) = rows.first() else {
        return Ok(());
    };
    let Some(recorded) = first[0].strip_prefix(FINGERPRINT_PREFIX) else {
        return Ok(());
    };
    let actual = fingerprint(features)?;
    if recorded.trim() != actual {
        return Err(DataError::line(
            items,
            *line,
            format!(
                "was written with another {} (fingerprint {}, the file now has {actual}); an extraction was interrupted or the files were mixed up: run extract again",
                features.display(),
                recorded.trim()
            ),
        ));
    }
    Ok(())
}

/// Writes `.npy` features (`n x d`, f32 as extraction writes them, or f64) and their items file ([`items_path`]: `id[,label]`
/// per row, after a fingerprint line of the `.npy`). The `.npy` is committed first and the
/// items file second, each atomically; the fingerprint makes a pair from two different runs
/// (an interrupted extraction over an earlier one) an error when read, never a silent mix.
pub fn write_npy_features<T: ndarray_npy::WritableElement>(
    out: &Path,
    ids: &[String],
    labels: Option<&[String]>,
    matrix: &Array2<T>,
) -> Result<()> {
    use ndarray_npy::WriteNpyExt;
    if !is_npy(out) {
        return Err(DataError::file(out, "the features file must end in .npy"));
    }
    check_rows(out, ids, labels, matrix.nrows())?;
    write_atomic(out, |w| Ok(matrix.write_npy(w)?))?;
    write_items_file(out, ids, labels)
}

/// Writes the items file of the `.npy` features at `out` ([`items_path`]): its fingerprint,
/// then `id[,label]` per row.
fn write_items_file(out: &Path, ids: &[String], labels: Option<&[String]>) -> Result<()> {
    let fingerprint = fingerprint(out)?;
    let items = items_path(out);
    write_atomic(&items, |w| {
        let mut csv = csv::WriterBuilder::new().flexible(true).from_writer(w);
        csv.write_record([format!("{FINGERPRINT_PREFIX} {fingerprint}")])?;
        match labels {
            Some(labels) => {
                csv.write_record(["id", "label"])?;
                for (id, label) in ids.iter().zip(labels) {
                    csv.write_record([id, label])?;
                }
            }
            None => {
                csv.write_record(["id"])?;
                for id in ids {
                    csv.write_record([id])?;
                }
            }
        }
        csv.flush()?;
        Ok(())
    })
}

/// The precision `demud convert --store` writes a features `.npy` in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Store {
    /// Half precision (`<f2`): half the size of f32, 11 significant bits, |values| up to 65504.
    #[default]
    F16,
    /// Single precision (`<f4`).
    F32,
}

/// What [`convert_features`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Converted {
    /// Items (rows).
    pub items: usize,
    /// Features (columns).
    pub features: usize,
    /// Size of the written `.npy`.
    pub bytes: u64,
    /// Non-zero values too small for the precision, written as 0.
    pub flushed: u64,
    /// The first of them: item id, feature name, value.
    pub first_flushed: Option<(String, String, f64)>,
}

/// What a conversion found: the first value the precision cannot hold (item, feature,
/// value), and the non-zero values written as 0 (their count and the first).
#[derive(Default)]
struct Conversion {
    overflow: Option<(usize, usize, f64)>,
    flushed: u64,
    first_flushed: Option<(usize, usize, f64)>,
}

/// Rows converted and written per block.
const CONVERT_BLOCK_ROWS: usize = 4096;

/// Writes the features of `input` (any features file; a `.npy` is mapped, not read) as a
/// `.npy` of `store` values at `out`, with its items file, block by block: the converted
/// collection is never held whole, nor a second copy of the input.
///
/// A value beyond what `store` can hold (in f16 |v| > 65504, which would become infinite) is
/// an error naming its item (by id and row) and feature, and nothing is written: clamping it
/// would change the ranking silently. A non-zero value below the smallest `store` value (in
/// f16 |v| < 2^-25, 3e-8) is written as 0 and counted ([`Converted::flushed`], the caller
/// warns): its absolute error is below 3e-8, and near-zero activations are common in CNN
/// features. Values in between keep 11 significant bits in f16 (a relative rounding of at
/// most 2^-11); NaN (missing) stays NaN.
pub fn convert_features(
    input: &Path,
    items: Option<&Path>,
    out: &Path,
    store: Store,
) -> Result<Converted> {
    use std::io::Write;
    if !is_npy(out) {
        return Err(DataError::file(
            out,
            "the converted features file must end in .npy",
        ));
    }
    let table = open_features(input, CsvLayout::default(), items)?;
    let (n, d) = table.matrix.dim();
    let mut found = Conversion::default();
    write_atomic(out, |w| {
        let descr = match store {
            Store::F16 => "<f2",
            Store::F32 => "<f4",
        };
        w.write_all(&npy_header(descr, n, d))?;
        struct Convert<'a> {
            w: &'a mut dyn Write,
            store: Store,
        }
        impl MatrixVisitor for Convert<'_> {
            type Output = std::result::Result<Conversion, std::io::Error>;
            fn visit<T: demud::Element>(self, data: ArrayView2<'_, T>) -> Self::Output {
                let width = match self.store {
                    Store::F16 => 2,
                    Store::F32 => 4,
                };
                let mut bytes = Vec::with_capacity(CONVERT_BLOCK_ROWS * data.ncols() * width);
                let mut found = Conversion::default();
                for (b, block) in data
                    .axis_chunks_iter(ndarray::Axis(0), CONVERT_BLOCK_ROWS)
                    .enumerate()
                {
                    bytes.clear();
                    for ((i, j), v) in block.indexed_iter() {
                        let v = v.to_f64();
                        let held = match self.store {
                            Store::F16 => {
                                let h = half::f16::from_f64(v);
                                bytes.extend_from_slice(&h.to_le_bytes());
                                f64::from(h)
                            }
                            Store::F32 => {
                                let f = v as f32;
                                bytes.extend_from_slice(&f.to_le_bytes());
                                f64::from(f)
                            }
                        };
                        let at = (b * CONVERT_BLOCK_ROWS + i, j, v);
                        if held.is_infinite() && v.is_finite() {
                            found.overflow = Some(at);
                            return Ok(found);
                        }
                        if held == 0.0 && v != 0.0 {
                            found.flushed += 1;
                            found.first_flushed.get_or_insert(at);
                        }
                    }
                    self.w.write_all(&bytes)?;
                }
                Ok(found)
            }
        }
        found = table.matrix.visit(Convert { w, store })?;
        match found.overflow {
            // Abort the write: the temporary is removed, nothing replaces `out`.
            Some(_) => Err("a value the precision cannot hold".into()),
            None => Ok(()),
        }
    })
    .or_else(|e| {
        if found.overflow.is_some() {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    let name = |(i, j, v): (usize, usize, f64)| {
        (
            table.ids[i].clone(),
            table.feature_names[j].clone(),
            v,
            i + 1,
        )
    };
    if let Some((id, feature, v, row)) = found.overflow.map(name) {
        let (precision, limit) = match store {
            Store::F16 => ("f16", "65504"),
            Store::F32 => ("f32", "3.4e38"),
        };
        return Err(DataError::file(
            input,
            format!(
                "item {id:?} (row {row}), feature {feature:?}: the value {v:e} overflows {precision}, whose largest value is {limit}; scale the features (or keep them in f32)"
            ),
        ));
    }
    write_items_file(out, &table.ids, table.labels.as_deref())?;
    let bytes = std::fs::metadata(out).map_err(io_error(out))?.len();
    Ok(Converted {
        items: n,
        features: d,
        bytes,
        flushed: found.flushed,
        first_flushed: found
            .first_flushed
            .map(name)
            .map(|(id, feature, v, _)| (id, feature, v)),
    })
}

/// A `.npy` version 1.0 header for a C-order `n x d` array of `descr` values, padded so that
/// the data starts at a multiple of 64 bytes (what numpy writes, and what lets a map of the
/// file be viewed as values in place).
pub fn npy_header(descr: &str, n: usize, d: usize) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({n}, {d}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes
}

/// Writes features as CSV: a header `id,label,<names>` (no label column without labels), then
/// one row per item, values at full precision; [`read_csv`] reads it back as it was.
pub fn write_csv_features<T: Copy + std::fmt::Display>(
    out: &Path,
    ids: &[String],
    labels: Option<&[String]>,
    feature_names: &[String],
    matrix: ArrayView2<T>,
) -> Result<()> {
    check_rows(out, ids, labels, matrix.nrows())?;
    if feature_names.len() != matrix.ncols() {
        return Err(DataError::file(
            out,
            format!(
                "{} feature names for {} features",
                feature_names.len(),
                matrix.ncols()
            ),
        ));
    }
    write_atomic(out, |w| {
        let mut csv = csv::Writer::from_writer(w);
        let mut header = vec!["id".to_string()];
        if labels.is_some() {
            header.push("label".into());
        }
        header.extend(feature_names.iter().cloned());
        csv.write_record(&header)?;
        for (i, row) in matrix.rows().into_iter().enumerate() {
            let mut record = vec![ids[i].clone()];
            if let Some(labels) = labels {
                record.push(labels[i].clone());
            }
            record.extend(row.iter().map(|v| v.to_string()));
            csv.write_record(&record)?;
        }
        csv.flush()?;
        Ok(())
    })
}

fn check_rows(out: &Path, ids: &[String], labels: Option<&[String]>, n: usize) -> Result<()> {
    if ids.len() != n || labels.is_some_and(|l| l.len() != n) {
        return Err(DataError::file(
            out,
            format!(
                "{} ids and {} labels for {n} rows",
                ids.len(),
                labels.map_or(0, <[String]>::len)
            ),
        ));
    }
    Ok(())
}

impl FeatureTable {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Labels every item from a labels CSV (`id,label`) matched by id. An id that is not an
    /// item, a row without a label, or an item left without one is an error naming it.
    pub fn attach_labels(&mut self, labels_path: &Path) -> Result<()> {
        let rows = read_items(labels_path)?;
        self.labels = Some(match_labels(&self.ids, &rows, labels_path)?);
        Ok(())
    }

    /// The values as an f64 view-able array (a copy for f32 tables).
    pub fn with_f64<R>(&self, f: impl FnOnce(ArrayView2<f64>) -> R) -> R {
        match &self.matrix {
            FeatureMatrix::F64(a) => f(a.view()),
            other => f(other.to_f64().view()),
        }
    }
}

/// Labels for `ids` from labels-file rows, matched by id.
pub fn match_labels(ids: &[String], rows: &[ItemRow], path: &Path) -> Result<Vec<String>> {
    let mut position: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        position.entry(id.as_str()).or_insert(i);
    }
    let mut labels: Vec<Option<String>> = vec![None; ids.len()];
    let mut labelled_at: Vec<u64> = vec![0; ids.len()];
    for row in rows {
        let Some(&i) = position.get(row.id.as_str()) else {
            return Err(DataError::line(
                path,
                row.line,
                format!("id {:?} is not an item of the collection", row.id),
            ));
        };
        let Some(label) = &row.label else {
            return Err(DataError::line(
                path,
                row.line,
                format!("id {:?} has no label column", row.id),
            ));
        };
        if labels[i].is_some() {
            return Err(DataError::line(
                path,
                row.line,
                format!(
                    "id {:?} is labelled twice (first on line {}); give each item one label",
                    row.id, labelled_at[i]
                ),
            ));
        }
        labels[i] = Some(label.clone());
        labelled_at[i] = row.line;
    }
    let missing: Vec<&str> = ids
        .iter()
        .zip(&labels)
        .filter(|(_, l)| l.is_none())
        .map(|(id, _)| id.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(DataError::file(
            path,
            format!(
                "{} item(s) have no label here (first: {})",
                missing.len(),
                missing
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(labels.into_iter().map(Option::unwrap).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_in_column_two_of_a_headerless_file_are_not_guessed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(
            &path,
            "a,1,0.5,2.25\nb,2,0.1,3.5\nc,1,0.7,1.0\nd,2,0.2,0.5\n",
        )
        .unwrap();
        let err = read_csv(&path, CsvLayout::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("--csv-labels yes or no"),
            "{err}"
        );
        let labelled = CsvLayout {
            label_column: Detect::Yes,
            ..CsvLayout::default()
        };
        let table = read_csv(&path, labelled).unwrap();
        assert_eq!(table.labels.unwrap(), ["1", "2", "1", "2"]);
        assert_eq!(table.matrix.dim(), (4, 2));
        let unlabelled = CsvLayout {
            label_column: Detect::No,
            ..CsvLayout::default()
        };
        assert_eq!(read_csv(&path, unlabelled).unwrap().matrix.dim(), (4, 3));
        // Counts everywhere (no fractional feature), many distinct values, or a header: no
        // doubt.
        for text in [
            "a,1,5,2\nb,2,1,3\nc,1,7,1\nd,2,2,0\n",
            "a,1,0.5\nb,2,0.1\nc,3,0.7\nd,4,0.2\n",
            "id,f0,f1\na,1,0.5\nb,2,0.1\nc,1,0.7\n",
        ] {
            std::fs::write(&path, text).unwrap();
            let table = read_csv(&path, CsvLayout::default()).unwrap();
            assert!(table.labels.is_none(), "{text}");
        }
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_the_reference_filename_first_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "a.csv", "img1.jpg,1.5,2\nimg2.jpg,3,4e-1\n");
        let t = read_csv(&p, CsvLayout::default()).unwrap();
        assert_eq!(t.ids, vec!["img1.jpg", "img2.jpg"]);
        assert!(t.labels.is_none());
        assert_eq!(t.feature_names, vec!["f0", "f1"]);
        assert_eq!(
            t.matrix,
            FeatureMatrix::F64(ndarray::array![[1.5, 2.0], [3.0, 0.4]])
        );
    }

    #[test]
    fn reference_comment_lines_name_the_features_and_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "spectra.csv",
            "#400,500,600\na,1,2,3\n# a note\nb,4,5,6\n",
        );
        let t = read_csv(&p, CsvLayout::default()).unwrap();
        assert_eq!(t.feature_names, vec!["400", "500", "600"]);
        assert_eq!(t.ids, vec!["a", "b"]);
        assert_eq!(t.matrix.dim(), (2, 3));
    }

    #[test]
    fn numeric_labels_are_found_by_their_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "a.csv", "id,class,x\na,1,0.5\nb,2,0.25\n");
        let t = read_csv(&p, CsvLayout::default()).unwrap();
        assert_eq!(t.labels.unwrap(), vec!["1", "2"]);
        assert_eq!(t.matrix.dim(), (2, 1));
    }

    #[test]
    fn bad_rows_are_named_by_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "ragged.csv", "id,a,b\nx,1,2\ny,3\n");
        let e = read_csv(&p, CsvLayout::default()).unwrap_err().to_string();
        assert!(
            e.contains("ragged.csv, line 3") && e.contains("2 columns, expected 3"),
            "{e}"
        );
        let p = write(&dir, "text.csv", "x,1,2\ny,3,abc\n");
        let e = read_csv(&p, CsvLayout::default()).unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("column 3 (f1)") && e.contains("\"abc\""),
            "{e}"
        );
        let p = write(&dir, "inf.csv", "x,1,inf\n");
        assert!(read_csv(&p, CsvLayout::default())
            .unwrap_err()
            .to_string()
            .contains("infinite"));
        let p = write(&dir, "empty.csv", "\n\n");
        assert!(read_csv(&p, CsvLayout::default())
            .unwrap_err()
            .to_string()
            .contains("no rows"));
        let p = write(&dir, "header-only.csv", "id,a,b\n");
        assert!(read_csv(&p, CsvLayout::default())
            .unwrap_err()
            .to_string()
            .contains("no items"));
    }

    #[test]
    fn labels_are_matched_by_id_and_unknown_ids_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "f.csv", "a,1\nb,2\n");
        let mut t = read_csv(&p, CsvLayout::default()).unwrap();
        let l = write(&dir, "l.csv", "id,label\nb,dog\na,cat\n");
        t.attach_labels(&l).unwrap();
        assert_eq!(t.labels.clone().unwrap(), vec!["cat", "dog"]);
        let bad = write(&dir, "bad.csv", "id,label\na,cat\nzzz,dog\n");
        let e = t.attach_labels(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.csv, line 3") && e.contains("zzz"), "{e}");
        let partial = write(&dir, "partial.csv", "a,cat\n");
        assert!(t
            .attach_labels(&partial)
            .unwrap_err()
            .to_string()
            .contains("1 item(s) have no label"));
    }

    #[test]
    fn npy_round_trip_with_items() {
        use ndarray_npy::WriteNpyExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        let a = ndarray::array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        a.write_npy(std::fs::File::create(&p).unwrap()).unwrap();
        let items = write(
            &dir,
            "items.csv",
            "id,label\nimg/a.png,x\nimg/b.png,y\nimg/c.png,x\n",
        );
        let t = read_features(&p, CsvLayout::default(), Some(&items)).unwrap();
        assert_eq!(t.matrix, FeatureMatrix::F32(a));
        assert_eq!(t.ids[2], "img/c.png");
        assert_eq!(t.labels.unwrap()[1], "y");
        let short = write(&dir, "short.csv", "a\nb\n");
        let e = read_features(&p, CsvLayout::default(), Some(&short))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2 items, but") && e.contains("has 3 rows"),
            "{e}"
        );
        let f64p = dir.path().join("y.npy");
        ndarray::array![[1.0f64]]
            .write_npy(std::fs::File::create(&f64p).unwrap())
            .unwrap();
        assert_eq!(read_npy(&f64p).unwrap().precision(), "f64");
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;

    #[test]
    fn npy_features_and_their_items_round_trip_and_a_mixed_pair_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("f.npy");
        let ids: Vec<String> = vec!["a.png".into(), "b.png".into()];
        let labels: Vec<String> = vec!["cat".into(), "dog".into()];
        let m = Array2::from_shape_vec((2, 3), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.5]).unwrap();
        write_npy_features(&out, &ids, Some(&labels), &m).unwrap();
        let table = read_features(&out, CsvLayout::default(), None).unwrap();
        assert_eq!(table.ids, ids);
        assert_eq!(table.labels.as_deref(), Some(&labels[..]));
        assert_eq!(table.matrix, FeatureMatrix::F32(m.clone()));

        // An interrupted second extraction: the new .npy beside the old items file.
        let items = std::fs::read(items_path(&out)).unwrap();
        write_npy_features(&out, &ids, None, &(&m * 2.0)).unwrap();
        std::fs::write(items_path(&out), items).unwrap();
        let err = read_features(&out, CsvLayout::default(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("f.items.csv, line 1") && err.contains("extract again"),
            "{err}"
        );

        // The CSV writer's output reads back as it was written.
        let csv = dir.path().join("f.csv");
        let names: Vec<String> = vec!["x".into(), "y".into(), "z".into()];
        write_csv_features(&csv, &ids, Some(&labels), &names, m.view()).unwrap();
        let table = read_csv(&csv, CsvLayout::default()).unwrap();
        assert_eq!(table.feature_names, names);
        assert_eq!(table.matrix.to_f64(), m.mapv(f64::from));
        assert_eq!(table.labels.as_deref(), Some(&labels[..]));
    }
}
