//! Property tests of the readers (issue 11, "readers that survive fuzzing").
//!
//! Two kinds of property, per reader:
//!
//! - round trips: what the crate's writer writes, the reader reads back as it was (ids and
//!   labels exactly, `.npy` values bit for bit, CSV values to the writer's promise);
//! - robustness: arbitrary or mutated bytes give `Ok` (whose content is consistent) or a
//!   [`DataError`] whose message names the file; never a panic, never an abort.
//!
//! The readers covered: the CSV feature reader ([`read_csv`], [`read_features`]), the `.npy`
//! readers ([`read_npy`], [`read_npy_with_items`]) and the items reader ([`read_items`]), the
//! saved-model reader ([`read_saved_model`], with the engine's [`ModelState`] JSON), and the
//! image manifest reader ([`ImageCollection::from_manifest`]).

use demud::model::Truncation;
use demud::{Conditioning, DemudParams, ModelState, SubspaceModel};
use demud_datasets::features::{
    items_path, read_csv, read_features, read_items, read_npy, read_npy_with_items,
    write_csv_features, write_npy_features,
};
use demud_datasets::images::ImageCollection;
use demud_datasets::run::{read_model_state, read_saved_model, write_model_state};
use demud_datasets::{CsvLayout, DataError, Detect, FeatureMatrix, FeatureTable};
use ndarray::Array2;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeSet;
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Shared helpers.

/// Fails the case unless `result` is `Ok` or an error whose message names `files` (one of
/// them); returns the `Ok` value.
fn ok_or_names_file<T>(
    result: Result<T, DataError>,
    files: &[&Path],
) -> Result<Option<T>, TestCaseError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) => {
            let message = err.to_string();
            prop_assert!(
                files
                    .iter()
                    .any(|f| message.contains(&f.display().to_string())),
                "the error does not name {files:?}: {message}"
            );
            Ok(None)
        }
    }
}

/// One byte-level change of a file.
#[derive(Clone, Debug)]
enum Mutation {
    /// Flip bit `bit` of the byte at `at` (modulo the length).
    Flip { at: usize, bit: u8 },
    /// Insert `byte` before `at`.
    Insert { at: usize, byte: u8 },
    /// Delete the byte at `at`.
    Delete { at: usize },
    /// Overwrite with `byte`.
    Set { at: usize, byte: u8 },
    /// Cut the file at `at`.
    Truncate { at: usize },
    /// Insert `text` (an interesting token) before `at`.
    Token { at: usize, text: &'static str },
}

/// Tokens that are interesting to the readers: number edge cases, missing-value markers, CSV
/// quoting, comment markers, `.npy` header words.
const TOKENS: &[&str] = &[
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "1e308",
    "1e309",
    "-1e309",
    "-0",
    "0",
    "1e-400",
    "4.9e-324",
    "NA",
    "?",
    "",
    "\"",
    "\"\"",
    ",",
    "\n",
    "\r\n",
    "#",
    "# demud-features",
    "id",
    "label",
    "class",
    "path",
    "..",
    "/",
    "'<f8'",
    "'>f4'",
    "'<i4'",
    "True",
    "(",
    ")",
    "1000000000000",
    "18446744073709551616",
    "{",
    "}",
    "[",
    "]",
    "null",
    "-1",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), prop::sample::select(TOKENS))
            .prop_map(|(at, text)| Mutation::Token { at, text }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        let len = bytes.len();
        let within = |at: usize| if len == 0 { 0 } else { at % len };
        match *m {
            Mutation::Flip { at, bit } if len > 0 => bytes[within(at)] ^= 1 << bit,
            Mutation::Insert { at, byte } => bytes.insert(at % (len + 1), byte),
            Mutation::Delete { at } if len > 0 => {
                bytes.remove(within(at));
            }
            Mutation::Set { at, byte } if len > 0 => bytes[within(at)] = byte,
            Mutation::Truncate { at } => bytes.truncate(at % (len + 1)),
            Mutation::Token { at, text } => {
                let at = at % (len + 1);
                bytes.splice(at..at, text.bytes());
            }
            _ => {}
        }
    }
}

/// Ids and labels as people and the CLI write them: no leading or trailing whitespace, not
/// starting with `#`, but with commas, quotes, spaces, newlines and non-ASCII inside.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_./é中-]([a-zA-Z0-9_./é中 ,\"#\n-]{0,8}[a-zA-Z0-9_./é中-])?"
}

fn unique_names(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(name(), n).prop_map(|s| s.into_iter().collect())
}

/// Feature names the CSV reader recognises as a header: not numbers (`nan` and `inf` are
/// numbers to it) and not `label` or `class`.
fn feature_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_ .é-]{0,6}[a-zA-Z0-9_]".prop_filter("a header cell, not a number", |s| {
        s.parse::<f64>().is_err() && !matches!(s.to_lowercase().as_str(), "label" | "class")
    })
}

/// A value as the readers keep it: any finite f64, the edge cases, and NaN (missing).
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>().prop_filter("finite", |v| v.is_finite()),
        1 => prop::sample::select(vec![
            f64::NAN,
            -0.0,
            0.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            1e308,
            -1e-300
        ]),
    ]
}

fn same_bits_or_both_nan(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

/// A table of `n x d` values with unique ids, maybe labels, and feature names.
#[derive(Clone, Debug)]
struct Table {
    ids: Vec<String>,
    labels: Option<Vec<String>>,
    names: Vec<String>,
    values: Array2<f64>,
}

fn table() -> impl Strategy<Value = Table> {
    (1usize..6, 1usize..5).prop_flat_map(|(n, d)| {
        (
            unique_names(n..n + 1),
            prop::option::of(prop::collection::vec(name(), n)),
            prop::collection::btree_set(feature_name(), d),
            prop::collection::vec(value(), n * d),
        )
            .prop_map(move |(ids, labels, names, values)| {
                let names: Vec<String> = names.into_iter().collect();
                let d = names.len();
                Table {
                    ids,
                    labels,
                    values: Array2::from_shape_vec((n, d), values[..n * d].to_vec()).unwrap(),
                    names,
                }
            })
    })
}

/// Checks what every `Ok` feature table must satisfy: one row of values per id, one label per
/// id, one name per feature, no infinite value (the readers refuse them), unique ids.
fn check_table(table: &FeatureTable) -> Result<(), TestCaseError> {
    let (n, d) = table.matrix.dim();
    prop_assert!(n > 0 && d > 0, "an empty table was accepted ({n} x {d})");
    prop_assert_eq!(table.ids.len(), n);
    prop_assert_eq!(table.feature_names.len(), d);
    if let Some(labels) = &table.labels {
        prop_assert_eq!(labels.len(), n);
    }
    prop_assert!(
        !table.matrix.to_f64().iter().any(|v| v.is_infinite()),
        "an infinite value was accepted"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CSV features.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// What `write_csv_features` writes (f64), `read_csv` and `read_features` read back: the
    /// same ids, labels, feature names, and every value bit for bit (NaN as missing).
    #[test]
    fn csv_features_round_trip_exactly(t in table()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features.csv");
        write_csv_features(&path, &t.ids, t.labels.as_deref(), &t.names, t.values.view()).unwrap();
        for read in [
            read_csv(&path, CsvLayout::default()).unwrap(),
            read_features(&path, CsvLayout::default(), None).unwrap(),
        ] {
            prop_assert_eq!(&read.ids, &t.ids);
            prop_assert_eq!(&read.labels, &t.labels);
            prop_assert_eq!(&read.feature_names, &t.names);
            let FeatureMatrix::F64(values) = &read.matrix else {
                return Err(TestCaseError::fail("a CSV is read in f64"));
            };
            prop_assert_eq!(values.dim(), t.values.dim());
            for (a, b) in values.iter().zip(&t.values) {
                prop_assert!(same_bits_or_both_nan(*a, *b), "{a:e} read back for {b:e}");
            }
        }
    }

    /// f32 values written as CSV read back as the same f32 values (the writer writes the
    /// shortest decimal that names the f32; the reader parses it in f64).
    #[test]
    fn csv_features_of_f32_values_read_back_as_the_same_f32(
        bits in prop::collection::vec(any::<u32>(), 1..24),
    ) {
        let values: Vec<f32> = bits
            .iter()
            .map(|b| f32::from_bits(*b))
            .filter(|v| !v.is_infinite())
            .collect();
        prop_assume!(!values.is_empty());
        let n = values.len();
        let matrix = Array2::from_shape_vec((n, 1), values.clone()).unwrap();
        let ids: Vec<String> = (0..n).map(|i| format!("item{i}")).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f32.csv");
        write_csv_features(&path, &ids, None, &["x".to_string()], matrix.view()).unwrap();
        let read = read_csv(&path, CsvLayout::default()).unwrap().matrix.to_f64();
        for (back, written) in read.iter().zip(&values) {
            prop_assert!(
                (back.is_nan() && written.is_nan()) || (*back as f32).to_bits() == written.to_bits(),
                "{back:e} read back for the f32 {written:e}"
            );
        }
    }

    /// A written CSV with bytes flipped, inserted, deleted, cut off or replaced by interesting
    /// tokens reads as a consistent table or fails with an error naming the file, under every
    /// layout.
    #[test]
    fn mutated_csv_features_never_panic(
        t in table(),
        mutations in prop::collection::vec(mutation(), 1..6),
        header in prop::sample::select(vec![Detect::Auto, Detect::Yes, Detect::No]),
        label_column in prop::sample::select(vec![Detect::Auto, Detect::Yes, Detect::No]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features.csv");
        write_csv_features(&path, &t.ids, t.labels.as_deref(), &t.names, t.values.view()).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        mutate(&mut bytes, &mutations);
        std::fs::write(&path, &bytes).unwrap();
        let layout = CsvLayout { header, label_column };
        if let Some(table) = ok_or_names_file(read_csv(&path, layout), &[&path])? {
            check_table(&table)?;
        }
        if let Some(table) = ok_or_names_file(read_features(&path, layout, None), &[&path])? {
            check_table(&table)?;
            let unique: BTreeSet<&String> = table.ids.iter().collect();
            prop_assert_eq!(unique.len(), table.ids.len(), "read_features let a duplicate id in");
        }
    }

    /// Arbitrary bytes as a CSV: a consistent table or an error naming the file.
    #[test]
    fn arbitrary_bytes_as_csv_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("any.csv");
        std::fs::write(&path, &bytes).unwrap();
        if let Some(table) = ok_or_names_file(read_csv(&path, CsvLayout::default()), &[&path])? {
            check_table(&table)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `.npy` features and items files.

fn f32_matrix() -> impl Strategy<Value = Array2<f32>> {
    (1usize..6, 1usize..6).prop_flat_map(|(n, d)| {
        prop::collection::vec(any::<u32>().prop_map(f32::from_bits), n * d)
            .prop_map(move |v| Array2::from_shape_vec((n, d), v).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// What `write_npy_features` writes (the `.npy` and its items file), `read_features` and
    /// `read_npy_with_items` read back: the same ids and labels, every f32 bit for bit (NaN
    /// payloads and infinities included: the `.npy` reader keeps the stored bits).
    #[test]
    fn npy_features_and_items_round_trip_bit_for_bit(
        matrix in f32_matrix(),
        names in unique_names(5..6),
        labels in prop::collection::vec(name(), 5),
        labelled in any::<bool>(),
    ) {
        let n = matrix.nrows();
        let ids = names[..n].to_vec();
        let labels = labelled.then(|| labels[..n].to_vec());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features.npy");
        write_npy_features(&path, &ids, labels.as_deref(), &matrix).unwrap();
        let items = items_path(&path);
        for read in [
            read_features(&path, CsvLayout::default(), None).unwrap(),
            read_npy_with_items(&path, Some(&items)).unwrap(),
        ] {
            prop_assert_eq!(&read.ids, &ids);
            prop_assert_eq!(&read.labels, &labels);
            let FeatureMatrix::F32(values) = &read.matrix else {
                return Err(TestCaseError::fail("f32 features are kept in f32"));
            };
            prop_assert_eq!(values.dim(), matrix.dim());
            for (a, b) in values.iter().zip(&matrix) {
                prop_assert_eq!(a.to_bits(), b.to_bits());
            }
        }
        // The items file alone: one row per item, in order.
        let rows = read_items(&items).unwrap();
        prop_assert_eq!(rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids);
        prop_assert_eq!(rows.iter().map(|r| r.label.clone()).collect::<Option<Vec<_>>>(), labels);
    }

    /// An f64 `.npy` (numpy's default) reads back bit for bit, with ids 0, 1, ... .
    #[test]
    fn f64_npy_reads_back_bit_for_bit(
        (n, d, bits) in (1usize..6, 1usize..6)
            .prop_flat_map(|(n, d)| (Just(n), Just(d), prop::collection::vec(any::<u64>(), n * d))),
    ) {
        use ndarray_npy::WriteNpyExt;
        let matrix = Array2::from_shape_vec((n, d), bits.iter().map(|b| f64::from_bits(*b)).collect()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f64.npy");
        matrix.write_npy(std::fs::File::create(&path).unwrap()).unwrap();
        let read = read_npy_with_items(&path, None).unwrap();
        prop_assert_eq!(read.ids, (0..n).map(|i| i.to_string()).collect::<Vec<_>>());
        let FeatureMatrix::F64(values) = read.matrix else {
            return Err(TestCaseError::fail("f64 features are kept in f64"));
        };
        for (a, b) in values.iter().zip(&matrix) {
            prop_assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    /// A written `.npy` with mutated bytes (its header included: shape, type, header length)
    /// reads as an `n x d` array whose size matches the file, or fails naming the file.
    #[test]
    fn mutated_npy_never_panics(
        matrix in f32_matrix(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features.npy");
        let ids: Vec<String> = (0..matrix.nrows()).map(|i| i.to_string()).collect();
        write_npy_features(&path, &ids, None, &matrix).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        mutate(&mut bytes, &mutations);
        std::fs::write(&path, &bytes).unwrap();
        if let Some(read) = ok_or_names_file(read_npy(&path), &[&path])? {
            let (n, d) = read.dim();
            let size = if read.precision() == "f32" { 4 } else { 8 };
            prop_assert!(n > 0 && d > 0);
            prop_assert!(n * d * size < bytes.len(), "{n} x {d} values from {} bytes", bytes.len());
        }
        // With its (unchanged) items file: the fingerprint no longer matches, or the rows
        // do not; either way an error naming a file, or a consistent table.
        let items = items_path(&path);
        if let Some(table) = ok_or_names_file(read_npy_with_items(&path, Some(&items)), &[&path, &items])? {
            check_table(&table)?;
        }
    }

    /// Arbitrary bytes after a valid `.npy` magic string and version: refused with the file's
    /// name, or a consistent array.
    #[test]
    fn arbitrary_npy_headers_never_panic(
        version in prop::sample::select(vec![[1u8, 0], [2, 0], [3, 0]]),
        rest in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("any.npy");
        let mut bytes = b"\x93NUMPY".to_vec();
        bytes.extend_from_slice(&version);
        bytes.extend_from_slice(&rest);
        std::fs::write(&path, &bytes).unwrap();
        if let Some(read) = ok_or_names_file(read_npy(&path), &[&path])? {
            let (n, d) = read.dim();
            prop_assert!(n > 0 && d > 0);
        }
    }

    /// A written items file, mutated: rows with their 1-based lines, in order (a lone CR ends
    /// a record but not a line, so two rows may share one), or an error naming the file.
    #[test]
    fn mutated_items_files_never_panic(
        names in unique_names(1..6),
        labelled in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features.npy");
        let labels = labelled.then(|| names.iter().map(|n| format!("l-{n}")).collect::<Vec<_>>());
        let matrix = Array2::<f32>::zeros((names.len(), 2));
        write_npy_features(&path, &names, labels.as_deref(), &matrix).unwrap();
        let items = items_path(&path);
        let mut bytes = std::fs::read(&items).unwrap();
        mutate(&mut bytes, &mutations);
        std::fs::write(&items, &bytes).unwrap();
        if let Some(rows) = ok_or_names_file(read_items(&items), &[&items])? {
            for pair in rows.windows(2) {
                prop_assert!(pair[0].line <= pair[1].line, "{pair:?}");
            }
            prop_assert!(rows.iter().all(|r| r.line >= 1));
        }
        if let Some(table) = ok_or_names_file(read_features(&path, CsvLayout::default(), None), &[&path, &items])? {
            check_table(&table)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Rows are numbered by the lines they start on, whatever the line ends (LF, CR-LF) and
    /// however many blank lines come between them; a CSV error names the line of its row.
    #[test]
    fn rows_are_numbered_by_their_physical_lines(
        rows in prop::collection::vec(("[a-hj-z][a-z]{0,3}", 0usize..3), 1..8),
        crlf in any::<bool>(),
        bad_row in any::<prop::sample::Index>(),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        let mut expected = Vec::new();
        let mut line = 1u64;
        for (id, blanks) in &rows {
            for _ in 0..*blanks {
                text.push_str(end);
                line += 1;
            }
            text.push_str(&format!("{id},1{end}"));
            expected.push(line);
            line += 1;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(&path, &text).unwrap();
        let read: Vec<u64> = read_items(&path).unwrap().iter().map(|r| r.line).collect();
        prop_assert_eq!(&read, &expected);
        // One row made ragged: the error names its line.
        let bad = bad_row.index(rows.len());
        let mut ragged = String::new();
        for (i, physical) in text.split_inclusive('\n').enumerate() {
            let row = expected.iter().position(|&l| l == i as u64 + 1);
            if row == Some(bad) {
                ragged.push_str(&physical.replacen(",1", ",1,2", 1));
            } else {
                ragged.push_str(physical);
            }
        }
        std::fs::write(&path, &ragged).unwrap();
        let err = read_csv(&path, CsvLayout { header: Detect::No, label_column: Detect::No });
        if rows.len() > 1 {
            let message = err.unwrap_err().to_string();
            let named = if bad == 0 { expected[1] } else { expected[bad] };
            prop_assert!(message.contains(&format!("rows.csv, line {named}:")), "{message}");
        }
    }
}

/// Writes a version-1 `.npy` with `header` (the dictionary, padded here) and `data` bytes.
fn npy_with_header(path: &Path, header: &str, data: &[u8]) {
    let mut dict = header.to_string();
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// A header that claims 10^12 elements (4 TB) over 16 bytes of data is refused by comparing
/// the claim with the file's size, before anything is allocated (the allocation would abort
/// the process, not return an error).
#[test]
fn an_npy_header_claiming_a_trillion_values_is_refused_without_allocating_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.npy");
    for (descr, shape) in [
        ("<f4", "(1000000, 1000000)"),
        ("<f8", "(1000000, 1000000)"),
        ("<f4", "(1, 1000000000000)"),
        ("<f8", "(4611686018427387904, 4)"),
    ] {
        npy_with_header(
            &path,
            &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"),
            &[0u8; 16],
        );
        let err = read_npy(&path).unwrap_err().to_string();
        assert!(
            err.contains("huge.npy") && err.contains("16 bytes"),
            "{descr} {shape}: {err}"
        );
    }
}

/// A header length beyond the end of the file, and a header nested thousands of brackets
/// deep, are refused with the file's name (the first without a 4 GB buffer for the header it
/// claims, the second before the recursive parser sees it).
#[test]
fn npy_headers_that_lie_about_their_length_or_nest_deeply_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lying.npy");
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(b"{'descr': '<f4'}\n");
    std::fs::write(&path, &bytes).unwrap();
    let err = read_npy(&path).unwrap_err().to_string();
    assert!(
        err.contains("lying.npy") && err.contains("4294967295"),
        "{err}"
    );

    let deep = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': {}1{}}}",
        "(".repeat(30000),
        ")".repeat(30000)
    );
    npy_with_header(&path, &deep, &[0u8; 4]);
    let err = read_npy(&path).unwrap_err().to_string();
    assert!(err.contains("lying.npy"), "{err}");
}

/// Arrays that are not 2-D f32 or f64 are refused by name, and a valid header over the wrong
/// amount of data says how much the header promised.
#[test]
fn npy_of_another_shape_type_or_size_is_refused_with_what_was_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.npy");
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            &[0; 8],
            "2-D",
        ),
        (
            "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }",
            &[0; 8],
            "<i4",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
            &[0; 12],
            "16 bytes",
        ),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }",
            &[0; 9],
            "8 bytes",
        ),
    ];
    for (header, data, expected) in cases {
        npy_with_header(&path, header, data);
        let err = read_npy(&path).unwrap_err().to_string();
        assert!(
            err.contains("other.npy") && err.contains(expected),
            "{header}: {err}"
        );
    }
    // Big-endian and Fortran-ordered arrays are still read, as numpy writes them.
    npy_with_header(
        &path,
        "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 1), }",
        &[0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0],
    );
    assert_eq!(
        read_npy(&path).unwrap(),
        FeatureMatrix::F64(ndarray::array![[1.0], [2.0]])
    );
}

// ---------------------------------------------------------------------------------------------
// Saved models (the engine's `ModelState` JSON).

/// A model state built the way runs build them: the SVD of some items, maybe a fitted
/// conditioning.
fn model_state() -> impl Strategy<Value = ModelState> {
    (2usize..7, 1usize..5, 1usize..5, any::<bool>()).prop_flat_map(|(m, d, k, conditioned)| {
        prop::collection::vec(-1e3f64..1e3, m * d).prop_map(move |values| {
            let items = Array2::from_shape_vec((m, d), values).unwrap();
            let model =
                SubspaceModel::from_items(items.view(), k, Truncation::DropNullDirections).unwrap();
            let state = ModelState::new(model, &DemudParams::new(k));
            if conditioned {
                let conditioner = "centre"
                    .parse::<Conditioning>()
                    .unwrap()
                    .fit(items.view())
                    .unwrap();
                state.with_conditioner(conditioner)
            } else {
                state
            }
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// `write_model_state` then `read_model_state` gives the same state, every float exactly.
    #[test]
    fn model_states_round_trip_exactly(state in model_state()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        write_model_state(&path, &state).unwrap();
        prop_assert_eq!(read_model_state(&path).unwrap(), state);
    }

    /// A written model file with mutated bytes: a checked state (which writes and reads back
    /// as itself) or an error naming the file. The engine's own JSON reading of the same
    /// bytes, with `ModelState::checked`, never panics either.
    #[test]
    fn mutated_model_files_never_panic(
        state in model_state(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        write_model_state(&path, &state).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        mutate(&mut bytes, &mutations);
        std::fs::write(&path, &bytes).unwrap();
        if let Some(saved) = ok_or_names_file(read_saved_model(&path), &[&path])? {
            let again = dir.path().join("again.json");
            write_model_state(&again, &saved.state).unwrap();
            prop_assert_eq!(read_model_state(&again).unwrap(), saved.state);
        }
        if let Ok(state) = serde_json::from_slice::<ModelState>(&bytes) {
            let _ = state.checked();
        }
    }
}

/// A model whose basis has more columns than the model has features cannot be orthonormal,
/// and checking its `k x k` Gram matrix would allocate `k^2` values from a file of `k` numbers
/// (8 TB for a million); it is refused before that, with the file's name.
#[test]
fn a_model_with_more_directions_than_features_is_refused_cheaply() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.json");
    let model = SubspaceModel::from_items(
        ndarray::array![[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]].view(),
        1,
        Truncation::DropNullDirections,
    )
    .unwrap();
    write_model_state(&path, &ModelState::new(model, &DemudParams::new(1))).unwrap();
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let k = 1_000_000usize;
    json["model"]["basis"] = serde_json::json!({"v": 1, "dim": [2, k], "data": vec![0.0; 2 * k]});
    json["model"]["singular_values"] =
        serde_json::json!({"v": 1, "dim": [k], "data": vec![0.0; k]});
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    let err = read_saved_model(&path).unwrap_err().to_string();
    assert!(
        err.contains("wide.json")
            && err.contains("1000000 directions")
            && err.contains("2 features"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Image manifests.

/// A relative path inside the image folder: one to three plain segments, ending in `.png`.
fn image_path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9_é中-][a-zA-Z0-9_ ,\"é中-]{0,5}", 1..4)
        .prop_map(|segments| format!("{}.png", segments.join("/")))
}

/// Writes a manifest (`path,label` header, one row per image) with the csv crate, as the
/// planted collections write theirs, and creates the listed files.
fn write_manifest(root: &Path, manifest: &Path, rows: &[(String, String)]) {
    let mut writer = csv::Writer::from_path(manifest).unwrap();
    writer.write_record(["path", "label"]).unwrap();
    for (path, label) in rows {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"").unwrap();
        writer.write_record([path, label]).unwrap();
    }
    writer.flush().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// A manifest lists its images back in order with their labels.
    #[test]
    fn manifests_round_trip(
        paths in prop::collection::btree_set(image_path(), 1..6),
        labels in prop::collection::vec(name(), 6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("images");
        let manifest = dir.path().join("manifest.csv");
        let rows: Vec<(String, String)> = paths.into_iter().zip(labels).collect();
        write_manifest(&root, &manifest, &rows);
        let collection = ImageCollection::from_manifest(&root, &manifest).unwrap();
        let back: Vec<(String, String)> = collection
            .items
            .into_iter()
            .map(|item| (item.id, item.label.unwrap()))
            .collect();
        prop_assert_eq!(back, rows);
    }

    /// A mutated manifest lists files that exist inside the folder, each once, or fails naming
    /// the manifest.
    #[test]
    fn mutated_manifests_never_panic(
        paths in prop::collection::btree_set(image_path(), 1..6),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("images");
        let manifest = dir.path().join("manifest.csv");
        let rows: Vec<(String, String)> = paths.into_iter().map(|p| (p, "x".to_string())).collect();
        write_manifest(&root, &manifest, &rows);
        let mut bytes = std::fs::read(&manifest).unwrap();
        mutate(&mut bytes, &mutations);
        std::fs::write(&manifest, &bytes).unwrap();
        if let Some(collection) = ok_or_names_file(ImageCollection::from_manifest(&root, &manifest), &[&manifest])? {
            prop_assert!(!collection.items.is_empty());
            let mut seen = BTreeSet::new();
            for item in &collection.items {
                prop_assert!(seen.insert(item.id.clone()), "{:?} listed twice", item.id);
                prop_assert!(collection.path(item).is_file(), "{:?} does not exist", item.id);
                prop_assert!(collection.path(item).starts_with(&root));
            }
        }
    }
}
