//! `demud noise-check` and `demud labels` through the binary, on small generated inputs.

mod common;
use common::{fails, ok, rows, s};
use demud_datasets::label_tables::{read_labels, read_top_n, LABELS_FILE, TOP_N_FILE};
use demud_datasets::ood_tables::{
    read_detection, read_distances, read_landing, read_msp, read_tree, Direction, DETECTION_FILE,
    DISTANCES_FILE, LANDING_FILE, MSP_FILE, TREE_FILE,
};
use ndarray::Array2;
use ndarray_npy::WriteNpyExt;
use std::path::Path;

/// Three classes of 6 images, 40 x 40: red, green and blue squares with a faint texture.
/// Returns the mean of each channel over every image, in [0, 1].
fn write_images(dir: &Path) -> [f64; 3] {
    let mut sum = [0.0; 3];
    let mut n = 0.0;
    for (c, name) in ["red", "green", "blue"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        for i in 0..6u32 {
            let img = image::RgbImage::from_fn(40, 40, |x, y| {
                let t = ((x * 7 + y * 3 + i * 5) % 16) as u8;
                let mut p = [20 + t, 20 + t, 20 + t];
                p[c] = 200 + t;
                image::Rgb(p)
            });
            for p in img.pixels() {
                for k in 0..3 {
                    sum[k] += f64::from(p[k]) / 255.0;
                }
                n += 1.0;
            }
            img.save(dir.join(format!("{name}/{i}.png"))).unwrap();
        }
    }
    sum.map(|v| v / n)
}

fn noise_check(dir: &Path, out: &str, model: &[&str]) -> String {
    let images = dir.join("imgs");
    let mut args = vec![
        "noise-check",
        "--images",
        s(&images),
        "--noise",
        "10",
        "--k",
        "3",
        "--knn-dims",
        "8",
        "--pca-components",
        "2",
        "--demud-k",
        "2",
        "--seed",
        "4",
        "--out",
    ];
    let out = dir.join(out);
    args.push(s(&out));
    args.extend_from_slice(model);
    ok(&args)
}

#[test]
fn noise_check_reports_confidence_landing_tree_and_detection() {
    let dir = tempfile::tempdir().unwrap();
    let means = write_images(&dir.path().join("imgs"));
    let printed = noise_check(dir.path(), "run", &["--model", "pixels"]);
    let run = dir.path().join("run");
    for f in [
        "summary.md",
        "msp.csv",
        "landing.csv",
        "detection.csv",
        "distances.csv",
        "tree.csv",
        "msp.png",
        "msp.svg",
        "tree.png",
        "tree.svg",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }
    // The Gaussian noise has the collection's per-channel means (the pixel baseline's centre
    // crop of these flat-textured squares keeps them to well within 0.01).
    let line = printed
        .lines()
        .find(|l| l.starts_with("Gaussian noise"))
        .unwrap();
    let printed_means: Vec<f64> = line
        .split("mean (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .split(", ")
        .map(|v| v.parse().unwrap())
        .collect();
    for k in 0..3 {
        assert!(
            (printed_means[k] - means[k]).abs() < 0.01,
            "{line} vs {means:?}"
        );
    }
    // msp.csv: 9 real test images (half of each class) and 10 of each noise.
    let msp = rows(&run.join("msp.csv"));
    let count = |set: &str| msp.iter().filter(|r| r[0] == set).count();
    assert_eq!(
        (count("real"), count("gaussian"), count("uniform")),
        (9, 10, 10)
    );
    assert!(msp.iter().all(|r| {
        let p: f64 = r[4].parse().unwrap();
        (1.0 / 3.0 - 1e-9..=1.0).contains(&p)
    }));
    // Landing counts: every noise image in one class.
    let landing = rows(&run.join("landing.csv"));
    for kind in ["gaussian", "uniform"] {
        let total: usize = landing
            .iter()
            .filter(|r| r[0] == kind)
            .map(|r| r[2].parse::<usize>().unwrap())
            .sum();
        assert_eq!(total, 10, "{kind}");
    }
    // 3 classes + 2 noise nodes: a symmetric distance matrix in [0, 1], a tree of 4 edges.
    let d = rows(&run.join("distances.csv"));
    assert_eq!(d.len(), 5);
    assert_eq!(d[3][0], "gaussian noise");
    for i in 0..5 {
        for j in 0..5 {
            let (a, b): (f64, f64) = (d[i][j + 1].parse().unwrap(), d[j][i + 1].parse().unwrap());
            assert!((a - b).abs() < 1e-12 && (0.0..=1.0).contains(&a));
        }
    }
    let tree = rows(&run.join("tree.csv"));
    assert_eq!(tree.len(), 4);
    // The noise is nothing like the coloured squares: some measure finds all of it.
    let detection = rows(&run.join("detection.csv"));
    assert_eq!(
        detection.len(),
        19 * 2,
        "every measure but the taxon distance, per kind"
    );
    assert!(detection
        .iter()
        .any(|r| r[2] == "uniform" && r[3].parse::<f64>().unwrap() == 1.0));
    assert!(printed.contains("| `msp` (lower) |"), "{printed}");
    // The typed readers read what the command wrote, and agree with one another.
    let msp = read_msp(&run.join(MSP_FILE)).unwrap();
    assert!(msp
        .iter()
        .all(|r| (r.set == "real") != r.label.is_empty() && !r.predicted.is_empty()));
    let landing = read_landing(&run.join(LANDING_FILE)).unwrap();
    for row in &landing {
        let landed = msp
            .iter()
            .filter(|r| r.set == row.noise && r.predicted == row.class)
            .count();
        assert_eq!(landed, row.count, "{row:?}");
    }
    let distances = read_distances(&run.join(DISTANCES_FILE)).unwrap();
    assert_eq!(distances.nodes[..3], ["blue", "green", "red"]);
    for edge in read_tree(&run.join(TREE_FILE)).unwrap() {
        let at = |name: &str| distances.nodes.iter().position(|n| n == name).unwrap();
        // The matrix is symmetric to rounding; the tree reads one of its halves.
        let (a, b) = (at(&edge.a), at(&edge.b));
        assert!(
            (distances.values[(a, b)] - edge.distance).abs() < 1e-12,
            "{edge:?}"
        );
    }
    let detection = read_detection(&run.join(DETECTION_FILE)).unwrap();
    assert!(detection
        .iter()
        .any(|r| r.measure == "msp" && r.direction == Direction::Lower));
    // Seeded: the same noise and split again.
    noise_check(dir.path(), "again", &["--model", "pixels"]);
    assert_eq!(
        std::fs::read(run.join("msp.csv")).unwrap(),
        std::fs::read(dir.path().join("again/msp.csv")).unwrap()
    );
}

#[test]
fn noise_check_runs_through_the_network() {
    let dir = tempfile::tempdir().unwrap();
    write_images(&dir.path().join("imgs"));
    let printed = noise_check(dir.path(), "run", &["--layer", "pool"]);
    assert!(printed.contains("gaussian noise"), "{printed}");
    let d = rows(&dir.path().join("run/distances.csv"));
    assert_eq!(d.len(), 5);
}

/// Logits over 4 classifier classes for 7 items of 2 classes, with known top-1 labels:
/// class x: labels 2, 2, 2, 0, 1 (5 items); class y: labels 1, 1.
fn write_logits(dir: &Path) {
    let top = [2, 2, 2, 0, 1, 1, 1];
    let mut logits = Array2::<f32>::zeros((7, 4));
    for (i, &t) in top.iter().enumerate() {
        logits[(i, t)] = 2.0 + i as f32 * 0.1;
    }
    logits
        .write_npy(std::fs::File::create(dir.join("logits.npy")).unwrap())
        .unwrap();
    let mut items = String::from("id\n");
    let mut labels = String::from("id,label\n");
    for i in 0..7 {
        items.push_str(&format!("i{i}\n"));
        labels.push_str(&format!("i{i},{}\n", if i < 5 { "x" } else { "y" }));
    }
    std::fs::write(dir.join("logits.items.csv"), items).unwrap();
    std::fs::write(dir.join("labels.csv"), labels).unwrap();
    std::fs::write(dir.join("names.json"), r#"["cat","dog","fish","bird"]"#).unwrap();
    std::fs::write(dir.join("groups.csv"), "class,group\nx,in\ny,out\n").unwrap();
}

#[test]
fn labels_from_logits_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_logits(d);
    let printed = ok(&[
        "labels",
        "--features",
        s(&d.join("logits.npy")),
        "--labels",
        s(&d.join("labels.csv")),
        "--groups",
        s(&d.join("groups.csv")),
        "--classes",
        s(&d.join("names.json")),
        "--top-n",
        "3",
        "--out",
        s(&d.join("out")),
    ]);
    assert!(
        printed.contains("| x | in | 5 | 3 | fish (0.60"),
        "{printed}"
    );
    // The command's tables, read back with their typed readers.
    let labels = read_labels(&d.join("out").join(LABELS_FILE)).unwrap();
    let x: Vec<(&str, usize)> = labels
        .iter()
        .filter(|r| r.class == "x")
        .map(|r| (r.name.as_str(), r.count))
        .collect();
    assert_eq!(x, vec![("fish", 3), ("cat", 1), ("dog", 1)]);
    // Every class: ranks 1, 2, ... in order of count, each label's name that of its index, the
    // group that of groups.csv, the counts summing to the class's images and each frequency
    // the count over them.
    let names = ["cat", "dog", "fish", "bird"];
    for (class, group, images) in [("x", "in", 5), ("y", "out", 2)] {
        let of: Vec<_> = labels.iter().filter(|r| r.class == class).collect();
        assert_eq!(
            of.iter().map(|r| r.rank).collect::<Vec<_>>(),
            (1..=of.len()).collect::<Vec<_>>()
        );
        assert!(of.windows(2).all(|w| w[0].count >= w[1].count), "{class}");
        assert_eq!(of.iter().map(|r| r.count).sum::<usize>(), images, "{class}");
        for r in &of {
            assert_eq!(r.name, names[r.label]);
            assert_eq!(r.group, group);
            assert_eq!(r.frequency, r.count as f64 / images as f64);
            assert!(r.mean_confidence > 0.0 && r.mean_confidence <= 1.0);
        }
    }
    // Mean top-n frequency: group in (class x) 3/5, 4/5, 1; out (class y) 1, 1, 1.
    let top_n = read_top_n(&d.join("out").join(TOP_N_FILE)).unwrap();
    let of = |g: &str| -> Vec<f64> {
        top_n
            .iter()
            .filter(|r| r.group == g)
            .map(|r| r.mean_top_n_frequency)
            .collect()
    };
    assert_eq!(of("in"), vec![0.6, 0.8, 1.0]);
    assert_eq!(of("out"), vec![1.0, 1.0, 1.0]);
    assert_eq!(of("all"), vec![0.8, 0.9, 1.0]);
    // At n = 1 a group's value is the mean of its classes' rank-1 frequencies in labels.csv.
    for row in top_n.iter().filter(|r| r.n == 1) {
        let firsts: Vec<f64> = labels
            .iter()
            .filter(|r| r.rank == 1 && (row.group == "all" || r.group == row.group))
            .map(|r| r.frequency)
            .collect();
        assert_eq!(firsts.len(), row.classes, "{}", row.group);
        let mean = firsts.iter().sum::<f64>() / firsts.len() as f64;
        assert!(
            (mean - row.mean_top_n_frequency).abs() < 1e-12,
            "{}",
            row.group
        );
    }
    // The file as the command has always written it (numbers as Rust prints them).
    assert_eq!(
        std::fs::read_to_string(d.join("out").join(TOP_N_FILE)).unwrap(),
        "group,classes,n,mean_top_n_frequency\n\
         in,1,1,0.6\nin,1,2,0.8\nin,1,3,1\n\
         out,1,1,1\nout,1,2,1\nout,1,3,1\n\
         all,2,1,0.8\nall,2,2,0.9\nall,2,3,1\n"
    );
    for f in [
        "top-n.png",
        "top-n.svg",
        "classes/x.png",
        "classes/y.svg",
        "table.md",
    ] {
        assert!(d.join("out").join(f).is_file(), "{f}");
    }
}

#[test]
fn labels_refuse_what_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_logits(d);
    std::fs::write(d.join("names3.json"), r#"["a","b","c"]"#).unwrap();
    let err = fails(&[
        "labels",
        "--features",
        s(&d.join("logits.npy")),
        "--labels",
        s(&d.join("labels.csv")),
        "--classes",
        s(&d.join("names3.json")),
        "--out",
        s(&d.join("out")),
    ]);
    assert!(
        err.contains("4 values per item") && err.contains("names3.json"),
        "{err}"
    );
    assert!(!d.join("out").exists());
}

/// `labels --images` runs the classifier that the network options name, as `extract` does:
/// with `--crop none`, its labels are those of the logits that `extract --layer logits --crop
/// none` makes, and they differ from the default centre crop's.
#[test]
fn labels_from_images_take_the_network_options() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let images = d.join("imgs");
    write_images(&images);
    let logits = d.join("logits.npy");
    ok(&[
        "extract",
        "--images",
        s(&images),
        "--layer",
        "logits",
        "--crop",
        "none",
        "--out",
        s(&logits),
        "--quiet",
    ]);
    let labels = |out: &str, extra: &[&str]| {
        let out = d.join(out);
        let mut args = vec!["labels", "--out", s(&out), "--quiet"];
        args.extend_from_slice(extra);
        ok(&args);
        std::fs::read_to_string(out.join("labels.csv")).unwrap()
    };
    let from_logits = labels("from-logits", &["--features", s(&logits)]);
    let from_images = labels("from-images", &["--images", s(&images), "--crop", "none"]);
    assert_eq!(from_images, from_logits);
    // Every image of each class has one top-1 label.
    let table = read_labels(&d.join("from-images").join(LABELS_FILE)).unwrap();
    for class in ["red", "green", "blue"] {
        let images: usize = table
            .iter()
            .filter(|r| r.class == class)
            .map(|r| r.count)
            .sum();
        assert_eq!(images, 6, "{class}");
    }
    // The default crop is the centre crop: other pixels, other confidences.
    let centred = labels("centred", &["--images", s(&images)]);
    assert_ne!(centred, from_images);
    // The classifier's output layer, named, is the default.
    let named = labels(
        "named",
        &[
            "--images",
            s(&images),
            "--crop",
            "none",
            "--layer",
            "logits",
        ],
    );
    assert_eq!(named, from_images);
}
