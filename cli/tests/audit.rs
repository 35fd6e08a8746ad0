//! `demud audit` end to end: planted mislabels in a labelled `.npy` collection are ranked
//! first and explained in the output folder; the benchmark mode prints per-seed numbers and
//! writes nothing.

mod common;
use common::{ok, rows, s};
use ndarray::Array2;
use ndarray_npy::WriteNpyExt;
use std::path::Path;

/// 3 classes x 30 items in 6 dimensions: class c varies along feature c around a centre at 6
/// on feature 3 + c; items 4 and 40 are labelled as the next class.
fn collection(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut data = Array2::<f64>::zeros((90, 6));
    let mut labels = String::from("id,label\n");
    for i in 0..90 {
        let c = i / 30;
        let t = (i % 30) as f64;
        data[(i, c)] = (t * 0.7).sin() * 2.0;
        data[(i, 3 + c)] = 6.0 + (t * 1.3).cos() * 0.3;
        data[(i, (c + 1) % 3)] += (t * 0.37).sin() * 0.2;
        let given = if i == 4 || i == 40 { (c + 1) % 3 } else { c };
        labels += &format!("item{i},class{given}\n");
    }
    let features = dir.join("x.npy");
    data.write_npy(std::fs::File::create(&features).unwrap())
        .unwrap();
    let items: String = (0..90).map(|i| format!("item{i}\n")).collect();
    std::fs::write(dir.join("x.items.csv"), format!("id\n{items}")).unwrap();
    let labels_path = dir.join("labels.csv");
    std::fs::write(&labels_path, labels).unwrap();
    (features, labels_path)
}

#[test]
fn planted_mislabels_come_first_with_their_explanations() {
    let dir = tempfile::tempdir().unwrap();
    let (features, labels) = collection(dir.path());
    let out = dir.path().join("audit");
    let printed = ok(&[
        "audit",
        "--features",
        s(&features),
        "--labels",
        s(&labels),
        "-k",
        "2",
        "--conditioning",
        "none",
        "--out",
        s(&out),
        "--show",
        "3",
    ]);
    assert_eq!(printed.lines().count(), 4, "header and 3 items: {printed}");
    let table = rows(&out.join("audit.csv"));
    assert_eq!(table.len(), 90);
    let mut top: Vec<(&str, &str, &str)> = table[..2]
        .iter()
        .map(|r| (r[1].as_str(), r[2].as_str(), r[3].as_str()))
        .collect();
    top.sort();
    // (id, given label, resembles): each resembles its true class.
    assert_eq!(
        top,
        [
            ("item4", "class1", "class0"),
            ("item40", "class2", "class1")
        ]
    );
    assert_eq!(table[0][9], "both");
    let ratio: f64 = table[0][7].parse().unwrap();
    assert!(ratio > 1.0, "own class explains it worse: {ratio}");
    let neighbours = rows(&out.join("neighbours.csv"));
    let first = &table[0][1];
    let own: Vec<&Vec<String>> = neighbours
        .iter()
        .filter(|r| &r[1] == first && r[2] == "own")
        .collect();
    let resembles: Vec<&Vec<String>> = neighbours
        .iter()
        .filter(|r| &r[1] == first && r[2] == "resembles")
        .collect();
    assert_eq!((own.len(), resembles.len()), (5, 5));
    assert!(resembles.iter().all(|r| r[3] == table[0][3]));
    assert_eq!(rows(&out.join("features.csv")).len(), 90 * 5);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("audit.json")).unwrap()).unwrap();
    assert_eq!(record["format"], "demud-audit");
    assert_eq!(record["items"], 90);
    assert_eq!(
        record["classes"],
        serde_json::json!(["class0", "class1", "class2"])
    );
}

#[test]
fn the_benchmark_prints_every_seed_and_the_mean_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (features, labels) = collection(dir.path());
    let before = std::fs::read_dir(dir.path()).unwrap().count();
    let printed = ok(&[
        "audit",
        "--features",
        s(&features),
        "--labels",
        s(&labels),
        "-k",
        "2",
        "--benchmark-noise",
        "0.05,0.1",
        "--seeds",
        "3..5",
    ]);
    let data: Vec<Vec<&str>> = printed
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|c: &Vec<&str>| c.first().is_some_and(|f| f.starts_with("0.")))
        .collect();
    let seeds: Vec<(&str, &str)> = data.iter().map(|c| (c[0], c[1])).collect();
    assert_eq!(
        seeds,
        [
            ("0.05", "3"),
            ("0.05", "4"),
            ("0.05", "mean"),
            ("0.10", "3"),
            ("0.10", "4"),
            ("0.10", "mean")
        ],
        "{printed}"
    );
    // 5% of 90 items (the given labels already hold two flips): 4 or 5 flipped.
    assert_eq!(data[0][2], "5");
    for row in data.iter().filter(|c| c[1] != "mean") {
        let precision: f64 = row[3].parse().unwrap();
        let auroc: f64 = row[4].parse().unwrap();
        assert!((0.0..=1.0).contains(&precision) && auroc > 0.5, "{row:?}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), before);
}

#[test]
fn the_audit_page_shows_suspect_items_and_their_neighbours_as_images() {
    let dir = tempfile::tempdir().unwrap();
    let (features, labels) = collection(dir.path());
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    for i in 0..90u32 {
        image::RgbImage::from_pixel(20, 12, image::Rgb([(i * 2) as u8, 90, 200]))
            .save(images.join(format!("item{i}")).with_extension("png"))
            .unwrap();
    }
    // The ids are the images' file names.
    let items: String = (0..90).map(|i| format!("item{i}.png\n")).collect();
    std::fs::write(dir.path().join("x.items.csv"), format!("id\n{items}")).unwrap();
    let text = std::fs::read_to_string(&labels).unwrap();
    std::fs::write(&labels, text.replace(",class", ".png,class")).unwrap();
    let out = dir.path().join("audit");
    ok(&[
        "audit",
        "--features",
        s(&features),
        "--labels",
        s(&labels),
        "--images",
        s(&images),
        "--out",
        s(&out),
        "--page-items",
        "3",
    ]);
    let page = std::fs::read_to_string(out.join("report/index.html")).unwrap();
    let first = &rows(&out.join("audit.csv"))[0][1];
    assert!(first == "item4.png" || first == "item40.png", "{first}");
    assert!(
        page.contains(first.as_str()),
        "the page names the most suspect item"
    );
    // Three items, each with its image and up to 5 neighbours of each of two classes.
    let thumbs = std::fs::read_dir(out.join("report/thumbs"))
        .unwrap()
        .count();
    assert!((4..=33).contains(&thumbs), "{thumbs} thumbnails");
    assert_eq!(page.matches("class=\"item\"").count(), 3);

    // An id that names no image is refused before anything is written.
    std::fs::remove_file(images.join("item7.png")).unwrap();
    let again = dir.path().join("again");
    let err = common::fails(&[
        "audit",
        "--features",
        s(&features),
        "--labels",
        s(&labels),
        "--images",
        s(&images),
        "--out",
        s(&again),
    ]);
    assert!(err.contains("\"item7.png\" is not a file there"), "{err}");
    assert!(!again.exists());
}

/// 3 classes of 10 drawn images (red discs, blue bars, green rings, each a little different);
/// two are labelled as another class.
fn drawn_images(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let images = dir.join("drawn");
    std::fs::create_dir_all(&images).unwrap();
    let mut labels = String::from("id,label\n");
    for i in 0..30u32 {
        let class = i / 10;
        let shift = (i % 10) as f32;
        let image = image::RgbImage::from_fn(64, 64, |x, y| {
            let (dx, dy) = (x as f32 - 32.0 - shift, y as f32 - 30.0 + shift / 2.0);
            let r = (dx * dx + dy * dy).sqrt();
            let on = match class {
                0 => r < 14.0 + shift / 3.0,
                1 => (x as f32 - 20.0 - shift).abs() < 6.0 || (y as f32 - 40.0).abs() < 4.0,
                _ => (r - 16.0).abs() < 3.0,
            };
            let ink = [[220, 30, 30], [30, 60, 220], [30, 170, 60]][class as usize];
            image::Rgb(if on { ink } else { [250, 250, 245] })
        });
        let name = format!("{class}-{i:02}.png");
        image.save(images.join(&name)).unwrap();
        let given = if i == 3 || i == 25 {
            (class + 1) % 3
        } else {
            class
        };
        labels += &format!("{name},class{given}\n");
    }
    let labels_path = dir.join("drawn-labels.csv");
    std::fs::write(&labels_path, labels).unwrap();
    (images, labels_path)
}

#[test]
fn with_network_features_the_page_maps_where_each_suspect_departs_from_its_class() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = drawn_images(dir.path());
    let features = dir.path().join("pool.npy");
    ok(&[
        "extract",
        "--images",
        s(&images),
        "--out",
        s(&features),
        "--quiet",
    ]);
    let out = dir.path().join("audit");
    let audit = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "audit",
            "--features",
            s(&features),
            "--labels",
            s(&labels),
            "--images",
            s(&images),
            "--out",
            s(out),
            "--page-items",
            "3",
            "-k",
            "2",
            "--neighbours",
            "5",
        ];
        args.extend_from_slice(extra);
        ok(&args)
    };
    audit(&out, &[]);
    let page = std::fs::read_to_string(out.join("report/index.html")).unwrap();
    let ranked = rows(&out.join("audit.csv"));
    let header = csv::Reader::from_path(out.join("audit.csv"))
        .unwrap()
        .headers()
        .unwrap()
        .clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    // Two overlays per item on the page, and the colour bar.
    for rank in 1..=3 {
        for side in ["own", "resembled"] {
            let file = format!("maps/{rank:05}-{side}.png");
            assert!(out.join("report").join(&file).is_file(), "{file}");
            // (The page escapes the '/' of the path.)
            assert!(page.contains(&file[5..]), "{file} on the page");
        }
    }
    assert!(out.join("report/maps/colour-bar.png").is_file());
    assert!(!out.join("report/maps/00004-own.png").exists());
    // The own class's map is the exact split of the residual the item was judged by: its
    // total is the item's own residual in audit.csv.
    for (r, row) in ranked[..3].iter().enumerate() {
        let own: f64 = row[column("own_residual")].parse().unwrap();
        let item = &page[page.find(&format!("id=\"item-{}\"", r + 1)).unwrap()..];
        let caption = format!("not explained by {}<br>", row[column("label")]);
        let at = item.find(&caption).unwrap() + caption.len();
        let shown: f64 = item[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (shown - own).abs() < 1e-4,
            "map total {shown}, residual {own}"
        );
    }
    // --no-maps: the same page without them.
    let plain = dir.path().join("plain");
    audit(&plain, &["--no-maps"]);
    assert!(!plain.join("report/maps").exists());
    assert!(!std::fs::read_to_string(plain.join("report/index.html"))
        .unwrap()
        .contains("not explained by"));
}
