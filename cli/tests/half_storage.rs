//! `demud convert --store f16`, and `discover` on the mapped f16 file: the same selections as
//! on the f32 file, the summary saying where the collection was ranked from; inputs are never
//! overwritten and a value f16 cannot hold is refused by item and feature.

mod common;

use common::{demud, fails, rows, s};
use demud_datasets::features::write_npy_features;
use ndarray::Array2;
use std::path::Path;

/// Multiples of 1/64 below 8, with a few planted outliers: exact in f16.
fn write_features(path: &Path, outlier: Option<f32>) {
    let mut x = Array2::from_shape_fn((300, 24), |(i, j)| {
        let v = ((i * 37 + j * 11) % 97) as f32 / 16.0
            + if i % 60 == 59 && j == i % 24 {
                2.0
            } else {
                0.0
            };
        (v * 64.0).round() / 64.0
    });
    if let Some(v) = outlier {
        x[(41, 5)] = v;
    }
    let ids: Vec<String> = (0..300).map(|i| format!("img{i}")).collect();
    write_npy_features(path, &ids, None, &x).unwrap();
}

fn discover(features: &Path, out: &Path, conditioning: &str) -> String {
    let result = demud(&[
        "discover",
        "--features",
        s(features),
        "--k",
        "4",
        "--n",
        "40",
        "--conditioning",
        conditioning,
        "--out",
        s(out),
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    String::from_utf8(result.stderr).unwrap()
}

#[test]
fn a_converted_f16_file_is_ranked_in_place_as_the_f32_file_is() {
    let dir = tempfile::tempdir().unwrap();
    let f32_path = dir.path().join("pool.npy");
    write_features(&f32_path, None);
    let f16_path = dir.path().join("pool16.npy");
    let out = demud(&[
        "convert",
        s(&f32_path),
        "--store",
        "f16",
        "--out",
        s(&f16_path),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("300 items x 24 features as f16"));
    assert!(dir.path().join("pool16.items.csv").is_file());
    let said16 = discover(&f16_path, &dir.path().join("run16"), "none");
    discover(&f32_path, &dir.path().join("run32"), "none");
    assert!(
        said16.contains("ranking the memory-mapped features in place"),
        "{said16}"
    );
    assert_eq!(
        rows(&dir.path().join("run16/selections.csv")),
        rows(&dir.path().join("run32/selections.csv"))
    );
    let record = std::fs::read_to_string(dir.path().join("run16/run.json")).unwrap();
    assert!(record.contains("\"precision\": \"f16\""), "{record}");
    // With conditioning, a copy is ranked, and the summary says so.
    let said = discover(&f16_path, &dir.path().join("run16c"), "centre+l2");
    assert!(
        said.contains("a conditioned copy of the features made in memory")
            && said.contains("--conditioning none ranks the mapped file in place"),
        "{said}"
    );
    // The input is never the output.
    let refused = fails(&["convert", s(&f32_path), "--out", s(&f32_path)]);
    assert!(
        refused.contains("inputs are never overwritten"),
        "{refused}"
    );
}

#[test]
fn a_value_f16_cannot_hold_is_refused_by_item_and_feature() {
    let dir = tempfile::tempdir().unwrap();
    let f32_path = dir.path().join("pool.npy");
    write_features(&f32_path, Some(1e6));
    let out = dir.path().join("pool16.npy");
    let refused = fails(&["convert", s(&f32_path), "--out", s(&out)]);
    assert!(
        refused.contains("item \"img41\" (row 42), feature \"f5\"")
            && refused.contains("overflows f16")
            && refused.lines().count() == 1,
        "{refused}"
    );
    assert!(!out.exists());
}
