//! `demud ood` through the binary: a small labelled collection with an OOD set, and bad input.

mod common;

use demud_datasets::ood_tables::{
    read_metrics, read_scores, Direction, Split, METRICS_FILE, SCORES_FILE,
};
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
    // `demud ood` on the three sets with small settings, and `extra` options.
    let with = |extra: &[&str], out: &str| {
        let (train, test, h, out) = (p("train.csv"), p("test.csv"), p("h.csv"), p(out));
        let far = format!("far={}", p("far.csv"));
        let mut args = vec![
            "ood",
            "--train",
            &train,
            "--test",
            &test,
            "--ood",
            &far,
            "--hierarchy",
            &h,
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
            &out,
            "--quiet",
        ];
        args.extend_from_slice(extra);
        demud(&args)
    };
    let out = with(&[], "run");
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

    // The typed readers read what the command wrote.
    let scores = read_scores(&dir.path().join("run").join(SCORES_FILE)).unwrap();
    assert_eq!((scores.measures.len(), scores.rows.len()), (20, 70));
    assert!(scores.measures.iter().any(|m| m == "taxon-distance"));
    assert!(scores.rows[..40]
        .iter()
        .all(|r| r.set == "id-test" && r.category.starts_with("id-") && !r.label.is_empty()));
    assert!(scores.rows[40..]
        .iter()
        .all(|r| r.set == "far" && r.category == "ood" && r.label.is_empty()));
    assert!(scores
        .rows
        .iter()
        .all(|r| r.split == Split::OutOfFold && (0.0..=1.0).contains(&r.forest)));
    let metrics = read_metrics(&dir.path().join("run").join(METRICS_FILE)).unwrap();
    assert_eq!(metrics.len(), 2 * 21);
    let pca = metrics
        .iter()
        .find(|m| m.task == "ood-vs-id" && m.measure == "pca-error")
        .unwrap();
    assert_eq!((pca.direction, pca.auroc), (Direction::Higher, 1.0));
    let msp = metrics.iter().find(|m| m.measure == "msp").unwrap();
    assert_eq!(msp.direction, Direction::Lower);

    // A held-out split names which items trained the forest and which were scored.
    let out = with(&["--forest-fraction", "0.5"], "held-out");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scores = read_scores(&dir.path().join("held-out").join(SCORES_FILE)).unwrap();
    let count = |split: Split| scores.rows.iter().filter(|r| r.split == split).count();
    assert_eq!(count(Split::OutOfFold), 0);
    assert!(count(Split::Forest) > 0 && count(Split::Evaluation) > 0);
    assert_eq!(count(Split::Forest) + count(Split::Evaluation), 70);

    // The HNSW graph keeps 256 candidates per query: over 60 training items it proposes all
    // of them, so its neighbours, and every measure, are the exact search's.
    let out = with(&["--neighbours", "hnsw"], "graph");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("graph/measures.csv")).unwrap(),
        measures
    );
    // `auto` switches at --hnsw-from, which must be a number of items.
    let out = with(&["--hnsw-from", "0"], "zero");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--hnsw-from"), "{err}");
    assert!(!dir.path().join("zero").exists());
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
    // A folder of images needs to know the network: features from a table give none.
    std::fs::create_dir(dir.path().join("pictures")).unwrap();
    let out = demud(&[
        "ood",
        "--train",
        &p("train.csv"),
        "--test",
        &p("test.csv"),
        "--ood",
        &p("pictures"),
        "--out",
        &p("run"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pictures") && err.contains("train.csv has none"),
        "{err}"
    );
    assert!(!dir.path().join("run").exists());
}

/// `n` drawn 64 px images per class into `dir/<class>/`: red discs and blue bars; with
/// `stripes`, green diagonal stripes (no class) straight into `dir`.
fn draw(dir: &Path, n: u32, stripes: bool) {
    for i in 0..n {
        let shift = i as f32 * 2.0;
        let kinds: &[&str] = if stripes { &[""] } else { &["disc", "bar"] };
        for kind in kinds {
            let image = image::RgbImage::from_fn(64, 64, |x, y| {
                let (fx, fy) = (x as f32, y as f32);
                let on = match *kind {
                    "disc" => ((fx - 30.0 - shift).powi(2) + (fy - 32.0).powi(2)).sqrt() < 12.0,
                    "bar" => (fx - 20.0 - shift).abs() < 5.0,
                    _ => ((x + y + i) / 6) % 2 == 0,
                };
                let ink = match *kind {
                    "disc" => [220, 30, 30],
                    "bar" => [30, 60, 220],
                    _ => [30, 170, 60],
                };
                image::Rgb(if on { ink } else { [250, 250, 245] })
            });
            let folder = dir.join(kind);
            std::fs::create_dir_all(&folder).unwrap();
            image.save(folder.join(format!("{kind}{i}.png"))).unwrap();
        }
    }
}

#[test]
fn an_ood_set_can_be_a_folder_of_images_put_through_the_training_features_network() {
    use common::{fails, ok, s};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    draw(&d.join("train"), 8, false);
    draw(&d.join("test"), 5, false);
    draw(&d.join("stripes"), 6, true);
    for set in ["train", "test"] {
        ok(&[
            "extract",
            "--images",
            s(&d.join(set)),
            "--out",
            s(&d.join(format!("{set}.npy"))),
            "--quiet",
        ]);
    }
    let ood = |out: &Path, ood: &str| {
        vec![
            "ood".to_string(),
            "--train".into(),
            s(&d.join("train.npy")).into(),
            "--test".into(),
            s(&d.join("test.npy")).into(),
            "--ood".into(),
            ood.to_string(),
            "--k".into(),
            "3".into(),
            "--knn-dims".into(),
            "4".into(),
            "--pca-components".into(),
            "2".into(),
            "--demud-k".into(),
            "2".into(),
            "--trees".into(),
            "10".into(),
            "--forest-folds".into(),
            "2".into(),
            "--out".into(),
            s(out).into(),
            "--quiet".into(),
        ]
    };
    let args = ood(
        &d.join("run"),
        &format!("stripes={}", s(&d.join("stripes"))),
    );
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let measures = std::fs::read_to_string(d.join("run/measures.csv")).unwrap();
    // The six stripe images were extracted and measured as the OOD set, by their paths.
    let stripes: Vec<&str> = measures
        .lines()
        .filter(|l| l.starts_with("stripes,"))
        .collect();
    assert_eq!(stripes.len(), 6, "{measures}");
    let ids: Vec<&str> = stripes
        .iter()
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(ids, ["0.png", "1.png", "2.png", "3.png", "4.png", "5.png"]);
    assert_eq!(measures.lines().count(), 1 + 10 + 6);

    // Features of the same images made another way are refused, naming the difference.
    ok(&[
        "extract",
        "--images",
        s(&d.join("stripes")),
        "--crop",
        "none",
        "--out",
        s(&d.join("stripes.npy")),
        "--quiet",
    ]);
    let args = ood(&d.join("again"), s(&d.join("stripes.npy")));
    let err = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("stripes.npy")
            && err.contains("made another way")
            && err.contains("--crop none"),
        "{err}"
    );
    assert!(!d.join("again").exists());
}
