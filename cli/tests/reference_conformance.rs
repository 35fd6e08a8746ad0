//! `demud discover --update brand --compat reference` against the reference DEMUD's
//! selection orders on UCI glass and ecoli (`../shared/data/uci/reference`). Skips, saying
//! so, where `../shared` is absent; CI has it.

use std::path::PathBuf;
use std::process::Command;

fn shared_uci() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/uci");
    dir.join("reference").is_dir().then_some(dir)
}

#[test]
fn brand_with_reference_compatibility_reproduces_every_reference_run() {
    let Some(uci) = shared_uci() else {
        eprintln!("SKIPPED: ../shared/data/uci not found; reference conformance not checked");
        return;
    };
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(uci.join("reference"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for reference in entries {
        // sel_<data>_k<k>_init<init>_increm-brand.csv
        let stem = reference
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = stem.split('_').collect();
        let (data, k, init) = (parts[1], &parts[2][1..], &parts[3][4..]);
        let out = tempfile::tempdir().unwrap();
        let status = Command::new(env!("CARGO_BIN_EXE_demud"))
            .args(["discover", "--features"])
            .arg(uci.join(format!("{data}.csv")))
            .args([
                "--k",
                k,
                "--init",
                init,
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
        assert!(status.success(), "{stem}");
        let read = |path: PathBuf, index: &str| -> Vec<(usize, f64)> {
            let mut r = csv::Reader::from_path(path).unwrap();
            let h = r.headers().unwrap().clone();
            let i = h.iter().position(|c| c == index).unwrap();
            let s = h.iter().position(|c| c == "score").unwrap();
            r.records()
                .map(|rec| {
                    let rec = rec.unwrap();
                    (rec[i].parse().unwrap(), rec[s].parse().unwrap())
                })
                .collect()
        };
        let theirs = read(reference.clone(), "item_index");
        let ours = read(out.path().join("selections.csv"), "index");
        assert_eq!(ours.len(), theirs.len(), "{stem}: every item is selected");
        for (rank, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(a.0, b.0, "{stem}: rank {} differs", rank + 1);
            let rel = if b.1 == 0.0 {
                a.1.abs()
            } else {
                (a.1 - b.1).abs() / b.1.abs()
            };
            assert!(
                rel <= 1e-6,
                "{stem}: rank {} score {} vs reference {}",
                rank + 1,
                a.1,
                b.1
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 8, "the eight reference runs");
    eprintln!("reference conformance: {checked} runs identical");
}
