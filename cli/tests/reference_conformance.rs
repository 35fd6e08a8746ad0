//! `demud discover --update brand --compat reference` on one reference run (UCI glass, k = 3,
//! init 0), so that the command-line path (CSV loading, flags, `selections.csv`) stays covered.
//! All eight reference runs are checked at the engine level by the `demud` crate's
//! `tests/reference_conformance.rs`; the fixtures live in `tests/fixtures/uci` at the
//! repository root, and this test fails, never skips, when they are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/uci");
    assert!(
        dir.join("reference").is_dir(),
        "the reference fixtures are missing: {} should hold glass.csv, ecoli.csv and \
         reference/sel_*.csv; they are part of the repository, so restore them \
         (git checkout -- tests/fixtures) rather than skip this test",
        dir.display()
    );
    dir
}

/// (index, score) per row of a selections CSV, by the names of its index and score columns.
fn read_selections(path: &Path, index: &str) -> Vec<(usize, f64)> {
    let mut r = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let h = r.headers().unwrap().clone();
    let column = |name: &str| {
        h.iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("{}: no column {name:?}", path.display()))
    };
    let (i, s) = (column(index), column("score"));
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[i].parse().unwrap(), rec[s].parse().unwrap())
        })
        .collect()
}

#[test]
fn discover_with_reference_compatibility_reproduces_the_glass_reference_run() {
    let uci = fixtures();
    let reference = uci.join("reference/sel_glass_k3_init0_increm-brand.csv");
    let features = uci.join("glass.csv");
    for path in [&reference, &features] {
        assert!(path.is_file(), "fixture missing: {}", path.display());
    }
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_demud"))
        .args(["discover", "--features"])
        .arg(&features)
        .args([
            "--k",
            "3",
            "--init",
            "0",
            "--update",
            "brand",
            "--compat",
            "reference",
            "--quiet",
            "--out",
        ])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success(), "demud discover failed: {status}");

    let theirs = read_selections(&reference, "item_index");
    let ours = read_selections(&out.path().join("selections.csv"), "index");
    assert_eq!(
        theirs.len(),
        214,
        "the reference selects all 214 glass items"
    );
    assert_eq!(ours.len(), theirs.len(), "every item is selected");
    for (rank, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            a.0,
            b.0,
            "rank {}: item {} selected, the reference selects {}",
            rank + 1,
            a.0,
            b.0
        );
        let rel = if b.1 == 0.0 {
            a.1.abs()
        } else {
            (a.1 - b.1).abs() / b.1.abs()
        };
        assert!(
            rel <= 1e-6,
            "rank {}: score {} vs reference {}",
            rank + 1,
            a.1,
            b.1
        );
    }
}
