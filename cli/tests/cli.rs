//! End-to-end tests of the `demud` binary.

mod common;
use common::{demud, fails, ok, rows, s};
use ndarray::Array2;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Ten items: a tight cluster and two odd ones (rows 7 and 9), labels by group.
fn small_csv(dir: &Path) -> PathBuf {
    let mut text = String::from("id,label,a,b,c\n");
    for i in 0..10 {
        let (label, row) = match i {
            7 => ("odd", "9.0,0.0,1.0".to_string()),
            9 => ("rare", "0.0,0.0,8.0".to_string()),
            _ => (
                "common",
                format!("{},{},0.1", i as f64 * 0.1, 1.0 + i as f64 * 0.05),
            ),
        };
        text += &format!("item{i},{label},{row}\n");
    }
    write(dir, "small.csv", &text)
}

#[test]
fn discover_writes_selections_and_explanations() {
    let dir = tempfile::tempdir().unwrap();
    let features = small_csv(dir.path());
    let out = dir.path().join("run");
    ok(&[
        "discover",
        "--features",
        s(&features),
        "--k",
        "1",
        "--init",
        "0",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let sel = rows(&out.join("selections.csv"));
    let header = csv::Reader::from_path(out.join("selections.csv"))
        .unwrap()
        .headers()
        .unwrap()
        .clone();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        ["rank", "index", "id", "label", "score"]
    );
    assert_eq!(sel.len(), 10);
    assert_eq!(sel[0][..4], ["1", "0", "item0", "common"]);
    assert_eq!(sel[0][4], "0");
    // The two odd items come right after the first pick.
    let next: Vec<&str> = sel[1..3].iter().map(|r| r[2].as_str()).collect();
    assert!(
        next.contains(&"item7") && next.contains(&"item9"),
        "{next:?}"
    );

    let expected =
        Array2::<f64>::read_npy(std::fs::File::open(out.join("expected.npy")).unwrap()).unwrap();
    let residual =
        Array2::<f64>::read_npy(std::fs::File::open(out.join("residual.npy")).unwrap()).unwrap();
    assert_eq!(expected.dim(), (10, 3));
    // expected + residual is the item itself, row for row in selection order.
    let text = std::fs::read_to_string(&features).unwrap();
    let data: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(2).map(|v| v.parse().unwrap()).collect())
        .collect();
    for (r, row) in sel.iter().enumerate() {
        let index: usize = row[1].parse().unwrap();
        for j in 0..3 {
            assert!((expected[(r, j)] + residual[(r, j)] - data[index][j]).abs() < 1e-12);
        }
        let score: f64 = row[4].parse().unwrap();
        if r > 0 {
            let norm: f64 = residual.row(r).iter().map(|v| v * v).sum();
            assert!((score - norm).abs() < 1e-9 * norm.max(1.0));
        }
    }
    let top = rows(&out.join("top_features.csv"));
    assert_eq!(top.len(), 10 * 3);
    let item9 = top.iter().find(|r| r[2] == "item9").unwrap();
    assert_eq!(item9[3], "c", "item9's novelty is feature c");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["k"], 1);
    assert_eq!(run["update"], "brand");
    assert_eq!(run["n_items"], 10);
}

#[test]
fn every_option_combination_runs() {
    let dir = tempfile::tempdir().unwrap();
    let features = small_csv(dir.path());
    let weights = write(dir.path(), "w.txt", "1\n0.5\n2\n");
    for update in ["brand", "full", "ross"] {
        for init in ["svd", "mean", "random", "3"] {
            for extra in [
                &["--score", "high"][..],
                &["--score", "low", "--weights", s(&weights)],
                &["--exact"],
                &["--compat", "reference"],
            ] {
                let out = dir.path().join(format!("r-{update}-{init}"));
                let mut args = vec![
                    "discover",
                    "--features",
                    s(&features),
                    "--k",
                    "2",
                    "--update",
                    update,
                    "--init",
                    init,
                    "--seed",
                    "5",
                    "--n",
                    "4",
                    "--out",
                    s(&out),
                    "--quiet",
                ];
                args.extend_from_slice(extra);
                ok(&args);
                assert_eq!(rows(&out.join("selections.csv")).len(), 4);
            }
        }
    }
    let out = dir.path().join("static");
    ok(&[
        "discover",
        "--features",
        s(&features),
        "--k",
        "2",
        "--update",
        "static",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let sel = rows(&out.join("selections.csv"));
    let scores: Vec<f64> = sel.iter().map(|r| r[4].parse().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "static scores are in descending order"
    );
}

#[test]
fn npy_features_with_items_labels_and_missing_values() {
    let dir = tempfile::tempdir().unwrap();
    let data = ndarray::array![[0.0f32, 0.0], [1.0, 0.1], [0.0, 5.0], [f32::NAN, 1.0]];
    let npy = dir.path().join("x.npy");
    data.write_npy(std::fs::File::create(&npy).unwrap())
        .unwrap();
    let items = write(
        dir.path(),
        "items.csv",
        "id,label\nimg/a.png,sky\nimg/b.png,sky\nimg/c.png,sun\nimg/d.png,sky\n",
    );
    let out = dir.path().join("run");
    let err = fails(&[
        "discover",
        "--features",
        s(&npy),
        "--items",
        s(&items),
        "--k",
        "1",
        "--out",
        s(&out),
    ]);
    assert!(err.contains("img/d.png"), "{err}");
    ok(&[
        "discover",
        "--features",
        s(&npy),
        "--items",
        s(&items),
        "--k",
        "1",
        "--init",
        "0",
        "--missing",
        "ignore",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let sel = rows(&out.join("selections.csv"));
    assert_eq!(sel[1][2..4], ["img/c.png", "sun"]);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["precision"], "f32");
    // --labels overrides by id.
    let relabel = write(
        dir.path(),
        "relabel.csv",
        "img/c.png,moon\nimg/a.png,x\nimg/b.png,x\nimg/d.png,x\n",
    );
    ok(&[
        "discover",
        "--features",
        s(&npy),
        "--items",
        s(&items),
        "--labels",
        s(&relabel),
        "--k",
        "1",
        "--init",
        "0",
        "--missing",
        "zero",
        "--out",
        s(&out),
        "--quiet",
    ]);
    assert!(rows(&out.join("selections.csv"))
        .iter()
        .any(|r| r[3] == "moon"));
}

#[test]
fn a_saved_model_ranks_a_new_batch_against_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let archive = write(
        dir.path(),
        "archive.csv",
        "a,0,0,0\nb,1,1,0\nc,2,2,0\nd,3,3.1,0\ne,4,4,0\n",
    );
    let batch = write(dir.path(), "batch.csv", "t1,5,5,0\nt2,2,2,3\nt3,6,6.1,0\n");
    let model = dir.path().join("model.json");
    ok(&[
        "discover",
        "--features",
        s(&archive),
        "--k",
        "1",
        "--model-out",
        s(&model),
        "--out",
        s(&dir.path().join("a")),
        "--quiet",
    ]);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(state["format"], "demud-model");
    assert_eq!(state["version"], 2);
    assert_eq!(state["model"]["count"], 5);
    let out = dir.path().join("b");
    ok(&[
        "discover",
        "--features",
        s(&batch),
        "--model-in",
        s(&model),
        "--model-out",
        s(&model),
        "--out",
        s(&out),
        "--quiet",
    ]);
    assert_eq!(
        rows(&out.join("selections.csv"))[0][2],
        "t2",
        "the off-line item is new"
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(state["model"]["count"], 8);
    // The same batch against a prior data set (the archive's SVD) finds the same novelty.
    ok(&[
        "discover",
        "--features",
        s(&batch),
        "--k",
        "1",
        "--prior",
        s(&archive),
        "--out",
        s(&out),
        "--quiet",
    ]);
    assert_eq!(rows(&out.join("selections.csv"))[0][2], "t2");
    // Model files are checked.
    let bad = write(
        dir.path(),
        "bad.json",
        "{\"format\":\"demud-model\",\"version\":9}",
    );
    let err = fails(&[
        "discover",
        "--features",
        s(&batch),
        "--model-in",
        s(&bad),
        "--out",
        s(&out),
    ]);
    assert!(err.contains("bad.json"), "{err}");
    let wide = write(dir.path(), "wide.csv", "x,1,2,3,4\ny,2,3,4,5\n");
    let err = fails(&[
        "discover",
        "--features",
        s(&wide),
        "--model-in",
        s(&model),
        "--out",
        s(&out),
    ]);
    assert!(
        err.contains("the model has 3 features, the collection has 4"),
        "{err}"
    );
}

#[test]
fn curve_reports_hand_computed_nauc_with_baselines_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    // Population: classes a (3 items), b (2), c (1).
    let labels = write(
        dir.path(),
        "labels.csv",
        "id,label\n1,a\n2,a\n3,a\n4,b\n5,b\n6,c\n",
    );
    let run1 = dir.path().join("good");
    std::fs::create_dir(&run1).unwrap();
    write(
        &run1,
        "selections.csv",
        "rank,index,id,label,score\n1,5,6,,9\n2,3,4,,8\n3,0,1,,7\n4,1,2,,6\n",
    );
    let run2 = write(
        dir.path(),
        "slow.csv",
        "rank,index,id,label,score\n1,0,1,a,9\n2,1,2,a,8\n3,3,4,b,7\n4,5,6,c,6\n",
    );
    let chart = dir.path().join("chart.png");
    let table = dir.path().join("nauc.csv");
    let stdout = ok(&[
        "curve",
        s(&run1),
        s(&run2),
        "--labels",
        s(&labels),
        "--at",
        "2,4,5",
        "--random",
        "200",
        "--plot",
        s(&chart),
        "--table",
        s(&table),
    ]);
    let t = rows(&table);
    // good: C = 1,2,3,3 ; slow: C = 1,1,2,3 ; oracle with c = 3: 1,2,3,3.
    assert_eq!(t[0][..3], ["good", "100.0000", "100.0000"]);
    assert_eq!(
        t[1][..3],
        [
            "slow",
            format!("{:.4}", 200.0 / 3.0).as_str(),
            format!("{:.4}", 700.0 / 9.0).as_str()
        ]
    );
    assert_eq!(t[0][3], "", "t = 5 is beyond a 4-selection run");
    assert_eq!(t[2][0], "random");
    let random_at_2: f64 = t[2][1].parse().unwrap();
    // E[C_2] = 1 + P(two different classes) = 1 + 1 - (3*2 + 2*1)/(6*5) = 1.7333: nAUC 57.8.
    assert!(
        (random_at_2 - 100.0 * (1.0 + 1.7333) / 3.0).abs() < 3.0,
        "{random_at_2}"
    );
    assert_eq!(t[3][..4], ["oracle", "100.0000", "100.0000", "100.0000"]);
    assert!(stdout.contains("nAUC@4") && stdout.contains("good") && stdout.contains("oracle"));
    let png = std::fs::read(dir.path().join("chart.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(dir.path().join("chart.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("slow") && svg.contains("oracle"));
    // Bad runs and labels: cli/tests/bad_input.rs.
}

#[test]
fn demo_runs_the_main_job() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let stdout = ok(&[
        "demo",
        "--out",
        s(&out),
        "--n",
        "40",
        "--random",
        "50",
        "--quiet",
    ]);
    for run in ["demud-brand", "demud-ross", "static-svd"] {
        assert_eq!(
            rows(&out.join("runs").join(run).join("selections.csv")).len(),
            40
        );
        assert!(stdout.contains(run));
    }
    let table = rows(&out.join("nauc.csv"));
    let nauc_at_10 = |name: &str| -> f64 {
        table.iter().find(|r| r[0] == name).unwrap()[1]
            .parse()
            .unwrap()
    };
    assert!(
        nauc_at_10("demud-brand") > nauc_at_10("random"),
        "DEMUD finds classes faster than random"
    );
    assert!(out.join("discovery.png").exists() && out.join("discovery.svg").exists());
}

/// An ImageFolder collection: two classes of colour PNGs and grey JPEGs of several sizes, one
/// odd image, and one corrupt file.
fn image_folder(root: &Path) {
    for (class, count) in [("sky", 5), ("grass", 4)] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..count {
            let (w, h) = (60 + 20 * i, 80 + 10 * i);
            let colour = |x: u32, y: u32| match class {
                "sky" => image::Rgb([90 + (x % 7) as u8, 140, 230 - (y % 9) as u8]),
                _ => image::Rgb([40, 170 + (x * y % 13) as u8, 60]),
            };
            let img = image::RgbImage::from_fn(w, h, colour);
            if i % 2 == 0 {
                img.save(root.join(class).join(format!("{i}.png"))).unwrap();
            } else {
                image::DynamicImage::ImageRgb8(img)
                    .to_luma8()
                    .save(root.join(class).join(format!("{i}.jpg")))
                    .unwrap();
            }
        }
    }
    std::fs::create_dir_all(root.join("odd")).unwrap();
    image::RgbImage::from_fn(100, 100, |x, y| {
        if (x / 10 + y / 10) % 2 == 0 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 0])
        }
    })
    .save(root.join("odd/checker.png"))
    .unwrap();
    std::fs::write(root.join("sky/broken.jpg"), b"not a jpeg").unwrap();
}

#[test]
fn extract_then_discover_on_an_image_folder() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    image_folder(&images);
    let weights =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/efficientnet-lite0.safetensors");
    let classes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/imagenet-classes.json");
    let out = dir.path().join("feats.npy");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "extract",
            "--images",
            s(&images),
            "--weights",
            s(&weights),
            "--out",
            s(&out),
            "--batch",
            "4",
            "--threads",
            "2",
        ];
        args.extend_from_slice(extra);
        demud(&args)
    };
    let strict = run(&["--strict"]);
    assert!(!strict.status.success());
    assert!(String::from_utf8_lossy(&strict.stderr).contains("broken.jpg"));
    assert!(!out.exists(), "nothing written by a failed extraction");

    let result = run(&["--csv"]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("warning: skipped sky/broken.jpg"),
        "{stderr}"
    );
    let features = Array2::<f32>::read_npy(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(features.dim(), (10, 1280));
    assert!(features.iter().all(|v| v.is_finite()));
    let items = rows(&dir.path().join("feats.items.csv"));
    assert_eq!(items.len(), 10);
    assert_eq!(items[0], ["grass/0.png", "grass"]);
    assert!(items.iter().all(|r| r[0] != "sky/broken.jpg"));
    assert_eq!(rows(&dir.path().join("feats.csv"))[0].len(), 2 + 1280);

    // The whole pipeline on raw features: the three classes (and the odd one out) are found
    // in 4 selections.
    let run_dir = dir.path().join("run");
    let discover = |conditioning: &str| {
        ok(&[
            "discover",
            "--features",
            s(&out),
            "--items",
            s(&dir.path().join("feats.items.csv")),
            "--k",
            "2",
            "--init",
            "0",
            "--conditioning",
            conditioning,
            "--out",
            s(&run_dir),
            "--quiet",
        ])
    };
    discover("none");
    let sel = rows(&run_dir.join("selections.csv"));
    let first: std::collections::HashSet<&str> = sel[..4].iter().map(|r| r[3].as_str()).collect();
    assert_eq!(first.len(), 3, "{sel:?}");
    // By default `.npy` features are conditioned (recorded in run.json).
    discover("auto");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["conditioning"]["steps"][0]["step"], "power");
    assert_eq!(record["conditioning"]["fitted_on"], "collection");

    // Logits with top-5 class names; an unknown layer names the available ones.
    let top5 = dir.path().join("top5.csv");
    let logits = run(&[
        "--layer",
        "logits",
        "--top5",
        s(&top5),
        "--classes",
        s(&classes),
    ]);
    assert!(logits.status.success());
    let top = rows(&top5);
    assert_eq!(top.len(), 10 * 5);
    assert!(top.iter().all(|r| !r[3].is_empty()));
    let bad = run(&["--layer", "fc7"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("block, pool, logits"));

    // The baselines: pixels and a bag of visual words.
    ok(&[
        "extract",
        "--images",
        s(&images),
        "--model",
        "pixels",
        "--pixels-side",
        "16",
        "--out",
        s(&out),
        "--quiet",
    ]);
    assert_eq!(
        Array2::<f32>::read_npy(std::fs::File::open(&out).unwrap())
            .unwrap()
            .dim(),
        (10, 16 * 16 * 3)
    );
    ok(&[
        "extract",
        "--images",
        s(&images),
        "--model",
        "bow",
        "--vocabulary",
        "5",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let bow = Array2::<f32>::read_npy(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(bow.dim(), (10, 5));
    assert!(bow.rows().into_iter().all(|r| (r.sum() - 1.0).abs() < 1e-4));
}

/// Features extracted with another crop, background, layer or network never meet: a prior,
/// a saved model or the explanation maps made another way are refused, naming the options.
#[test]
fn preprocessing_is_recorded_and_batches_made_differently_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    image_folder(&images);
    std::fs::remove_file(images.join("sky/broken.jpg")).unwrap();
    let extract = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let mut args = vec![
            "extract",
            "--images",
            s(&images),
            "--out",
            s(&out),
            "--threads",
            "2",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        ok(&args);
        out
    };
    let read = |p: &Path| Array2::<f32>::read_npy(std::fs::File::open(p).unwrap()).unwrap();
    // Two layers from one pass: one file each, equal to their own passes.
    extract("both.npy", &["--layer", "pool,logits", "--crop", "none"]);
    let pool = extract("pool.npy", &["--layer", "pool", "--crop", "none"]);
    let logits = extract("logits.npy", &["--layer", "logits", "--crop", "none"]);
    assert_eq!(read(&dir.path().join("both.pool.npy")), read(&pool));
    assert_eq!(read(&dir.path().join("both.logits.npy")), read(&logits));
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("both.logits.extraction.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["kind"], "efficientnet-lite0:logits");
    assert_eq!(record["preprocess"]["crop"], "none");
    assert_eq!(record["preprocess"]["background"], "#ffffff");
    assert_eq!(rows(&dir.path().join("both.pool.items.csv")).len(), 10);

    // A prior cropped another way is refused before anything is written.
    let centre = extract("centre.npy", &[]);
    let run_dir = dir.path().join("run");
    let discover = |features: &Path, extra: &[&str]| {
        let mut args = vec![
            "discover",
            "--features",
            s(features),
            "--k",
            "2",
            "--n",
            "3",
            "--out",
            s(&run_dir),
            "--quiet",
        ];
        args.extend_from_slice(extra);
        demud(&args)
    };
    let refused = discover(&pool, &["--prior", s(&centre)]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        err.contains("centre.npy: does not go with")
            && err.contains("--crop none (224 px input) for")
            && err.contains("--crop center --resize 256 (224 px input) for"),
        "{err}"
    );
    assert!(!run_dir.exists());
    // The saved model carries the record: a batch of another layer cannot continue it.
    let model = dir.path().join("model.json");
    let made = discover(&pool, &["--model-out", s(&model)]);
    assert!(made.status.success());
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["extraction"]["preprocess"]["crop"], "none");
    let err =
        String::from_utf8_lossy(&discover(&logits, &["--model-in", s(&model)]).stderr).to_string();
    assert!(
        err.contains("efficientnet-lite0:logits for")
            && err.contains("efficientnet-lite0:pool for"),
        "{err}"
    );
    let black = extract(
        "black.npy",
        &["--layer", "pool", "--crop", "none", "--background", "black"],
    );
    let err =
        String::from_utf8_lossy(&discover(&black, &["--model-in", s(&model)]).stderr).to_string();
    assert!(err.contains("--background #000000 for"), "{err}");
    assert!(discover(&pool, &["--model-in", s(&model)]).status.success());

    // The maps take the run's preprocessing; another one is refused.
    let maps = dir.path().join("maps");
    let err = fails(&[
        "maps",
        "--run",
        s(&run_dir),
        "--images",
        s(&images),
        "--crop",
        "pad",
        "--out",
        s(&maps),
    ]);
    assert!(
        err.contains("--crop pad --fill #ffffff (224 px input) for the network given"),
        "{err}"
    );
    assert!(!maps.exists());

    // The record tells a bag of words from a network layer: `auto` leaves its histograms as
    // they are and conditions the layer.
    let bow = extract("bow.npy", &["--model", "bow", "--vocabulary", "4"]);
    for (features, steps) in [(&bow, 0), (&pool, 3)] {
        std::fs::remove_dir_all(&run_dir).unwrap();
        assert!(discover(features, &[]).status.success());
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap())
                .unwrap();
        let recorded = run["conditioning"]["steps"].as_array().unwrap().len();
        assert_eq!(recorded, steps, "{}", features.display());
    }

    // Options that do not fit the crop mode, and bad values, are named.
    let out = dir.path().join("bad.npy");
    for (extra, expected) in [
        (
            &["--crop", "none", "--resize", "300"][..],
            "--resize applies to --crop center",
        ),
        (&["--fill", "black"][..], "--fill applies to --crop pad"),
        (
            &["--crop", "diagonal"][..],
            "\"diagonal\" is not a crop mode",
        ),
        (
            &["--background", "#12345"][..],
            "\"#12345\" is not a colour",
        ),
        (&["--resize", "0"][..], "--resize"),
        (
            &["--parts", "pool", "--parts-precision", "f8"][..],
            "\"f8\" is not a precision",
        ),
    ] {
        extract_refused(&images, &out, extra, expected);
    }
}

/// `extract` with `extra` options fails with a message holding `expected` and writes nothing.
fn extract_refused(images: &Path, out: &Path, extra: &[&str], expected: &str) {
    let mut args = vec!["extract", "--images", s(images), "--out", s(out)];
    args.extend_from_slice(extra);
    let err = fails(&args);
    assert!(err.contains(expected), "{extra:?}: {err}");
    assert!(!out.exists(), "{extra:?}");
}

/// `extract --parts` saves a layer's split over its feature map from the same pass; `maps
/// --maps novelty` reads it instead of running the network, to the same maps.
#[test]
fn saved_parts_sum_to_the_features_and_give_the_networks_novelty_maps() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    image_folder(&images);
    std::fs::remove_file(images.join("sky/broken.jpg")).unwrap();
    let read2 = |p: &Path| Array2::<f32>::read_npy(std::fs::File::open(p).unwrap()).unwrap();
    let read3 =
        |p: &Path| ndarray::Array3::<f32>::read_npy(std::fs::File::open(p).unwrap()).unwrap();
    let mut maps_of_precision = Vec::new();
    for precision in ["f32", "f16"] {
        let features = dir.path().join(format!("{precision}.npy"));
        ok(&[
            "extract",
            "--images",
            s(&images),
            "--layer",
            "pool,logits",
            "--parts",
            "pool",
            "--parts-precision",
            precision,
            "--out",
            s(&features),
            "--threads",
            "2",
            "--quiet",
        ]);
        let pool = dir.path().join(format!("{precision}.pool.npy"));
        let record: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(pool.with_extension("extraction.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(record["parts"]["grid"], serde_json::json!([7, 7]));
        assert_eq!(record["parts"]["precision"], precision);
        assert!(dir
            .path()
            .join(format!("{precision}.logits.extraction.json"))
            .exists());
        let parts_file = dir.path().join(format!("{precision}.pool.parts.npy"));
        let size = std::fs::metadata(&parts_file).unwrap().len();
        let bytes = if precision == "f16" { 2 } else { 4 };
        assert!(size >= 10 * 49 * 1280 * bytes && size < 10 * 49 * 1280 * bytes + 256);
        if precision == "f32" {
            // The parts sum to the features, position by position.
            let parts = read3(&parts_file);
            let sums = parts.sum_axis(ndarray::Axis(1));
            let features = read2(&pool);
            let worst = (&sums - &features).iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(worst < 1e-4, "parts sum off by {worst}");
        }
        let run = dir.path().join(format!("run-{precision}"));
        ok(&[
            "discover",
            "--features",
            s(&pool),
            "--k",
            "2",
            "--n",
            "4",
            "--out",
            s(&run),
            "--quiet",
        ]);
        let mut pair = Vec::new();
        for saved in [true, false] {
            if !saved {
                // Without the parts record, the network makes the parts again.
                let run_json = run.join("run.json");
                let mut record: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
                record["extraction"]
                    .as_object_mut()
                    .unwrap()
                    .remove("parts");
                std::fs::write(&run_json, serde_json::to_string(&record).unwrap()).unwrap();
            }
            let out = run.join(format!("maps-{saved}"));
            ok(&[
                "maps",
                "--run",
                s(&run),
                "--images",
                s(&images),
                "--maps",
                "novelty",
                "--out",
                s(&out),
            ]);
            pair.push(read3(&out.join("map-novelty.npy")));
        }
        let scale = pair[1].iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = (&pair[0] - &pair[1])
            .iter()
            .fold(0f32, |m, v| m.max(v.abs()));
        maps_of_precision.push(worst / scale);
    }
    assert!(maps_of_precision[0] < 1e-4, "{maps_of_precision:?}");
    // Half precision shows: the maps came from the saved file, not from the network.
    assert!(
        maps_of_precision[1] > 0.0 && maps_of_precision[1] < 1e-2,
        "{maps_of_precision:?}"
    );
    // Parts of a layer not extracted, or of a baseline, are refused.
    let out = dir.path().join("bad.npy");
    for (extra, expected) in [
        (
            &["--layer", "pool", "--parts", "logits"][..],
            "not among the layers extracted",
        ),
        (
            &["--model", "pixels", "--parts", "pool"][..],
            "the pixels baseline has none",
        ),
    ] {
        extract_refused(&images, &out, extra, expected);
    }
}

#[test]
fn the_engine_links_openblas_ahead_of_libtorch() {
    // libtorch_cpu.so exports its own dgemm_/dgesdd_; OpenBLAS must come first in the binary's
    // NEEDED list so the engine's LAPACK calls (and their rounding) stay OpenBLAS's.
    let out = Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_demud")])
        .output()
        .expect("readelf (binutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    let position = |lib: &str| {
        text.lines()
            .position(|l| l.contains("NEEDED") && l.contains(lib))
    };
    let openblas = position("libopenblas").expect("links OpenBLAS");
    if let Some(torch) = position("libtorch_cpu") {
        assert!(openblas < torch, "{text}");
    }
}

#[test]
fn a_run_folder_moves_with_its_data_and_opens_from_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("data")).unwrap();
    small_csv(&project.join("data"));
    // Relative paths, from the project folder.
    let out = Command::new(env!("CARGO_BIN_EXE_demud"))
        .current_dir(&project)
        .args([
            "discover",
            "--features",
            "data/small.csv",
            "--k",
            "2",
            "--out",
            "runs/one",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("runs/one/run.json")).unwrap())
            .unwrap();
    assert_eq!(record["features"], "../../data/small.csv");

    // Move the whole project, then report from an unrelated working directory.
    let moved = dir.path().join("elsewhere/project");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&project, &moved).unwrap();
    let printed = ok(&[
        "report",
        "--run",
        s(&moved.join("runs/one")),
        "--random",
        "10",
    ]);
    assert!(printed.contains("index.html"), "{printed}");
    let html = std::fs::read_to_string(moved.join("runs/one/report/index.html")).unwrap();
    assert!(
        html.contains("id=\"nauc\""),
        "the collection's labels were found: {html}"
    );

    // A features file replaced since the run is refused, by name, not silently relabelled.
    let features = moved.join("data/small.csv");
    let text = std::fs::read_to_string(&features).unwrap();
    std::fs::write(&features, text.replace("item", "other")).unwrap();
    let err = fails(&["report", "--run", s(&moved.join("runs/one"))]);
    assert!(
        err.contains("small.csv") && err.contains("not the items this run ranked"),
        "{err}"
    );
}

/// 24 items in 4 classes of unequal size, two feature kinds of the same items (4 and 2
/// features: the benchmark caps k at half of them, 2 and 1).
fn labelled_kinds(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut a = String::new();
    let mut b = String::new();
    let mut labels = String::from("id,label\n");
    for i in 0..24 {
        let class = [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 2, 1,
        ][i];
        let x = i as f64 * 0.37 % 1.0;
        a += &format!(
            "item{i},{},{},{},{}\n",
            class as f64 + x,
            x * x,
            (class * class) as f64 - x,
            (i % 3) as f64
        );
        b += &format!("item{i},{},{}\n", x, class as f64 * 2.0 + x * 0.1);
        labels += &format!("item{i},class{class}\n");
    }
    (
        write(dir, "a.csv", &a),
        write(dir, "b.csv", &b),
        write(dir, "labels.csv", &labels),
    )
}

/// `benchmark --images` extracts each kind once, a network's layers in one pass, with the
/// preprocessing asked for, and reuses the files on the next run.
#[test]
fn benchmark_extracts_a_networks_layers_in_one_pass_with_the_chosen_crop() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    image_folder(&images);
    std::fs::remove_file(images.join("sky/broken.jpg")).unwrap();
    let out = dir.path().join("bench");
    let args = [
        "benchmark",
        "--images",
        s(&images),
        "--kinds",
        "pixels:8,effnet:pool,effnet:logits",
        "--crop",
        "none",
        "--methods",
        "demud,static",
        "--conditioning",
        "none",
        "--k",
        "2",
        "--k-sweep",
        "--at",
        "2,4",
        "--random",
        "20",
        "--threads",
        "2",
        "--out",
        s(&out),
    ];
    ok(&args);
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("features"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "npy"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 3, "{names:?}");
    let record = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p.with_extension("extraction.json")).unwrap())
            .unwrap()
    };
    for file in &files {
        assert_eq!(
            record(file)["preprocess"]["crop"],
            "none",
            "{}",
            file.display()
        );
    }
    // The layers equal `extract`'s one pass of both.
    ok(&[
        "extract",
        "--images",
        s(&images),
        "--layer",
        "pool,logits",
        "--crop",
        "none",
        "--out",
        s(&dir.path().join("x.npy")),
        "--quiet",
    ]);
    let read = |p: &Path| Array2::<f32>::read_npy(std::fs::File::open(p).unwrap()).unwrap();
    for layer in ["pool", "logits"] {
        let benched = files
            .iter()
            .find(|p| names_of(p).starts_with(&format!("efficientnet-lite0-{layer}-")))
            .unwrap();
        assert_eq!(
            read(benched),
            read(&dir.path().join(format!("x.{layer}.npy")))
        );
    }
    // A second run reuses every file.
    let modified: Vec<_> = files
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    ok(&args);
    for (file, before) in files.iter().zip(modified) {
        assert_eq!(std::fs::metadata(file).unwrap().modified().unwrap(), before);
    }
}

fn names_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn benchmark_writes_the_tables_resumes_and_recomputes_changed_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, labels) = labelled_kinds(dir.path());
    let out = dir.path().join("bench");
    let fa = format!("a={}", s(&a));
    let fb = format!("b={}", s(&b));
    let fl = format!("classes={}", s(&labels));
    let args = [
        "benchmark",
        "--features",
        &fa,
        "--features",
        &fb,
        "--labels",
        &fl,
        "--methods",
        "demud,static,rx,farthest",
        "--conditioning",
        "none,power+centre+l2",
        "--k",
        "2",
        "--k-sweep",
        "1,2",
        "--at",
        "3,6",
        "--random",
        "200",
        "--out",
        s(&out),
    ];
    let run = |args: &[&str]| {
        let output = demud(args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        (
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (table, summary) = run(&args);
    // Per variant: a has 4 methods x 2 conditionings and a sweep of k = 1 and 2, whose k = 2
    // cell is the main table's demud-k2 power+centre+l2 (reused); b has 8 cells and a sweep capped
    // to k = 1 once, again the main table's.
    assert!(summary.contains("34 cells computed, 4 reused"), "{summary}");
    assert!(
        table.contains("### classes labels, full (24 items, 4 classes)"),
        "{table}"
    );
    assert!(
        table.contains("### classes labels, unbalanced ("),
        "{table}"
    );
    // b has 2 features: k is capped at 1.
    assert!(
        table.contains("| b | demud-k1 power+centre+l2 |"),
        "{table}"
    );
    assert!(table.contains("| a | farthest |"), "{table}");
    assert_eq!(
        std::fs::read_to_string(out.join("table.md")).unwrap(),
        table
    );
    assert_eq!(rows(&out.join("table.csv")).len(), 2 * 2 * 8 * 2);
    assert!(out.join("k_sweep.md").exists());
    assert!(out
        .join("figures/classes-full-a-power_centre_l2.png")
        .exists());
    // A cell's DEMUD picks are `discover`'s on the same features and conditioning.
    let cell: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("cells/classes/full/a/demud-k2-power_centre_l2.json"))
            .unwrap(),
    )
    .unwrap();
    let run_dir = dir.path().join("run");
    ok(&[
        "discover",
        "--features",
        s(&a),
        "--k",
        "2",
        "--n",
        "6",
        "--conditioning",
        "power+centre+l2",
        "--out",
        s(&run_dir),
        "--quiet",
    ]);
    let picks: Vec<String> = rows(&run_dir.join("selections.csv"))
        .into_iter()
        .map(|r| r[2].clone())
        .collect();
    let cell_picks: Vec<String> = cell["picks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(cell_picks, picks);
    // A second run reuses every cell; a changed feature file recomputes its cells only.
    let (again, summary) = run(&args);
    assert!(summary.contains("0 cells computed, 38 reused"), "{summary}");
    assert_eq!(again, table);
    // Other t columns reuse the cells (scored from their picks) and agree with a fresh run.
    let mut other_at = args.to_vec();
    let at = other_at.iter().position(|a| *a == "--at").unwrap();
    other_at[at + 1] = "2,6";
    let (reused, summary) = run(&other_at);
    assert!(summary.contains("0 cells computed, 38 reused"), "{summary}");
    assert!(reused.contains("| nAUC@2 | nAUC@6 |"), "{reused}");
    let fresh_out = dir.path().join("fresh");
    let mut fresh = other_at.clone();
    let o = fresh.iter().position(|a| *a == "--out").unwrap();
    fresh[o + 1] = s(&fresh_out);
    let (fresh_table, _) = run(&fresh);
    assert_eq!(reused, fresh_table);
    // item5's first value of b gains a leading digit.
    let text = std::fs::read_to_string(&b)
        .unwrap()
        .replace("\nitem5,", "\nitem5,1");
    std::fs::write(&b, text).unwrap();
    let (_, summary) = run(&args);
    assert!(
        summary.contains("16 cells computed, 22 reused"),
        "{summary}"
    );
}

#[test]
fn benchmark_refuses_bad_options_naming_them_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _, labels) = labelled_kinds(dir.path());
    let out = dir.path().join("bench");
    let fa = format!("a={}", s(&a));
    for (option, value, named) in [
        ("--methods", "demud,pagerank", "unknown method \"pagerank\""),
        (
            "--conditioning",
            "centre+l3",
            "--conditioning \"centre+l3\"",
        ),
        ("--variants", "full,tiny", "unknown variant \"tiny\""),
        ("--at", "0", "--at"),
    ] {
        let err = fails(&[
            "benchmark",
            "--features",
            &fa,
            "--labels",
            s(&labels),
            option,
            value,
            "--out",
            s(&out),
        ]);
        assert!(err.contains(named), "{option} {value}: {err}");
        assert!(
            !out.join("table.md").exists(),
            "{option}: nothing is written"
        );
    }
    // Labels that miss an item name it.
    let partial = write(dir.path(), "partial.csv", "id,label\nitem0,x\n");
    let err = fails(&[
        "benchmark",
        "--features",
        &fa,
        "--labels",
        s(&partial),
        "--out",
        s(&out),
    ]);
    assert!(
        err.contains("partial.csv") && err.contains("item1"),
        "{err}"
    );
}

#[test]
fn discover_records_the_selection_rule_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let csv = small_csv(dir.path());
    let out = dir.path().join("run");
    ok(&[
        "discover",
        "--features",
        s(&csv),
        "--k",
        "1",
        "--selection",
        "isolated:1:2",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["selection"]["rule"], "isolated");
    assert_eq!(record["selection"]["warmup"], 1);
    assert_eq!(record["selection"]["neighbours"], 2);
    for (bad, named) in [
        ("isolated:x", "the warm-up must be a whole number"),
        ("densest", "is not residual or isolated"),
        ("isolated:1:10", "1 <= k < n"),
    ] {
        let err = fails(&[
            "discover",
            "--features",
            s(&csv),
            "--k",
            "1",
            "--selection",
            bad,
            "--out",
            s(&dir.path().join("bad")),
        ]);
        assert!(err.contains(named), "{bad}: {err}");
        assert!(!dir.path().join("bad").exists());
    }
}

#[test]
fn a_killed_discover_leaves_the_earlier_run_and_no_complete_looking_explanations() {
    // Explanations stream into a staging folder beside --out as selections are made (issue 15);
    // a run killed part-way must leave --out as it was and nothing there or beside it that
    // reads as finished arrays.
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,label");
    for j in 0..256 {
        text += &format!(",f{j}");
    }
    text += "\n";
    for i in 0..4000u64 {
        text += &format!("item{i},x");
        for j in 0..256u64 {
            let v = ((i * 7919 + j * 104_729) % 1000) as f64 / 997.0;
            text += &format!(",{v}");
        }
        text += "\n";
    }
    let features = write(dir.path(), "big.csv", &text);
    let small = small_csv(dir.path());
    let out = dir.path().join("run");
    ok(&[
        "discover",
        "--features",
        s(&small),
        "--k",
        "1",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let earlier: Vec<(String, Vec<u8>)> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_demud"))
        .args([
            "discover",
            "--features",
            s(&features),
            "--k",
            "2",
            "--init",
            "mean",
        ])
        .args(["--n", "4000", "--out", s(&out), "--quiet"])
        .spawn()
        .unwrap();
    let staging = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains(".run.staging-"))
    };
    // Wait until rows of the explanations are on disk, then kill the run.
    let started = std::time::Instant::now();
    let folder = loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be interrupted"
        );
        let rows_written = staging().filter(|f| {
            std::fs::metadata(f.join(".expected.npy.partial")).is_ok_and(|m| m.len() > 128)
        });
        if let Some(folder) = rows_written {
            break folder;
        }
        assert!(started.elapsed().as_secs() < 120, "no rows were streamed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    for (name, bytes) in &earlier {
        assert!(
            std::fs::read(out.join(name)).unwrap() == *bytes,
            "{name} of the earlier run changed"
        );
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), earlier.len());
    // What the killed run leaves is hidden, and holds only partial arrays: no run.json, no
    // expected.npy or residual.npy.
    let left: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter()
            .all(|n| n.starts_with('.') && n.ends_with(".partial")),
        "{left:?}"
    );
    ok(&["curve", s(&out)]);
}
