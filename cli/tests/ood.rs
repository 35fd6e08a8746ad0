//! `demud ood` through the binary: a small labelled collection with an OOD set, and bad input.

use std::path::Path;
use std::process::Command;

/// Writes `id,label,f0,f1,f2` rows: class c of `classes` sits around (3c, 0, 0); `shift` moves
/// every item along the last feature (the OOD set lies off the classes' plane).
fn write_csv(path: &Path, prefix: &str, n: usize, classes: usize, shift: f64) {
    let mut text = String::from("id,label,f0,f1,f2\n");
    for i in 0..n {
        let c = i % classes;
        let wobble = |k: usize| (((i * 7 + k * 13) % 11) as f64 - 5.0) / 10.0;
        text.push_str(&format!(
            "{prefix}{i},c{c},{},{},{}\n",
            3.0 * c as f64 + wobble(0),
            wobble(1),
            shift + wobble(2) / 5.0
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn demud(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_demud"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn ood_writes_every_measure_the_forest_and_the_plot() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    write_csv(&dir.path().join("train.csv"), "tr", 60, 3, 0.0);
    write_csv(&dir.path().join("test.csv"), "te", 40, 3, 0.0);
    write_csv(&dir.path().join("far.csv"), "far", 30, 3, 4.0);
    std::fs::write(dir.path().join("h.csv"), "class,group\nc0,a\nc1,a\nc2,b\n").unwrap();
    let out = demud(&[
        "ood",
        "--train",
        &p("train.csv"),
        "--test",
        &p("test.csv"),
        "--ood",
        &format!("far={}", p("far.csv")),
        "--hierarchy",
        &p("h.csv"),
        "--k",
        "5",
        "--knn-dims",
        "3",
        "--pca-components",
        "2",
        "--demud-k",
        "2",
        "--trees",
        "20",
        "--out",
        &p("run"),
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = std::fs::read_to_string(dir.path().join("run/table.csv")).unwrap();
    // 20 measures (taxon distance included) and the forest, on two tasks, plus the header.
    assert_eq!(table.lines().count(), 1 + 2 * 21, "{table}");
    assert!(table.contains("ood-vs-id,taxon-distance,higher,"));
    // The far set is off the plane: the PCA error alone finds it.
    let pca = table
        .lines()
        .find(|l| l.starts_with("ood-vs-id,pca-error,"))
        .unwrap();
    assert!(pca.contains(",higher,1,"), "{pca}");
    let measures = std::fs::read_to_string(dir.path().join("run/measures.csv")).unwrap();
    assert_eq!(measures.lines().count(), 1 + 40 + 30);
    assert!(measures
        .lines()
        .nth(41)
        .unwrap()
        .starts_with("far,far0,,ood,"));
    // Cross-fitted by default: every query is scored by a forest that did not see it.
    assert!(measures
        .lines()
        .skip(1)
        .all(|l| l.split(',').nth(5) == Some("out-of-fold")));
    assert!(dir.path().join("run/roc.png").is_file() && dir.path().join("run/roc.svg").is_file());
    assert!(std::fs::read_to_string(dir.path().join("run/table.md"))
        .unwrap()
        .contains("forest - best single"));
}

#[test]
fn bad_input_is_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    write_csv(&dir.path().join("train.csv"), "tr", 60, 3, 0.0);
    write_csv(&dir.path().join("test.csv"), "te", 40, 3, 0.0);
    std::fs::write(dir.path().join("narrow.csv"), "id,f0,f1\na,1,2\nb,2,3\n").unwrap();
    let out = demud(&[
        "ood",
        "--train",
        &p("train.csv"),
        "--test",
        &p("test.csv"),
        "--ood",
        &p("narrow.csv"),
        "--out",
        &p("run"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("narrow.csv") && err.contains("2 features"),
        "{err}"
    );
    assert!(!dir.path().join("run").exists());
    // A hierarchy without a training class names the class and the file.
    std::fs::write(dir.path().join("h.csv"), "class,group\nc0,a\nc1,a\n").unwrap();
    write_csv(&dir.path().join("far.csv"), "far", 30, 3, 4.0);
    let out = demud(&[
        "ood",
        "--train",
        &p("train.csv"),
        "--test",
        &p("test.csv"),
        "--ood",
        &p("far.csv"),
        "--hierarchy",
        &p("h.csv"),
        "--k",
        "5",
        "--out",
        &p("run"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("h.csv") && err.contains("'c2'"), "{err}");
    assert!(!dir.path().join("run").exists());
}
