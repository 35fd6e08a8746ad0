//! The visual-explanation commands end to end: plant → extract → discover → train-decoder →
//! render → localise → report, and the report as a person sees it in headless Chromium.

mod common;
use common::{rows, s};
use demud_datasets::run::{
    write_render, write_run, DecodedViews, DecoderSummary, NewRender, NewRun, RenderRecord,
    RenderRow, RunRecord, SelectionRow, RENDER_FORMAT, RENDER_VERSION,
};
use ndarray::Array4;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn demud_fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_demud"))
        .args(args)
        .output()
        .expect("the demud binary runs");
    assert!(!out.status.success(), "demud {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn demud(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_demud"))
        .args(args)
        .output()
        .expect("the demud binary runs");
    assert!(
        out.status.success(),
        "demud {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap()
}

/// One small pipeline shared by the tests (pixel features: no weights needed, fast).
fn pipeline() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let planted = d.join("planted");
        let features = d.join("features.npy");
        let run = d.join("run");
        let decoder = d.join("decoder");
        demud(&[
            "plant",
            "flowers",
            "--size",
            "64",
            "--classes",
            "12,8,6",
            "--planted",
            "3",
            "--out",
            s(&planted),
        ]);
        demud(&[
            "extract",
            "--model",
            "pixels",
            "--pixels-side",
            "16",
            "--images",
            s(&planted),
            "--manifest",
            s(&planted.join("manifest.csv")),
            "--out",
            s(&features),
            "--quiet",
        ]);
        demud(&[
            "discover",
            "--features",
            s(&features),
            "--k",
            "3",
            "--n",
            "12",
            "--out",
            s(&run),
            "--quiet",
        ]);
        demud(&[
            "train-decoder",
            "--images",
            s(&planted),
            "--features",
            s(&features),
            "--size",
            "16",
            "--epochs",
            "2",
            "--batch",
            "8",
            "--checkpoint-every",
            "1",
            "--hidden",
            "48,32",
            "--out",
            s(&decoder),
            "--quiet",
        ]);
        demud(&[
            "render",
            "--run",
            s(&run),
            "--decoder",
            s(&decoder),
            "--images",
            s(&planted),
            "--original-size",
            "64",
        ]);
        demud(&[
            "localise",
            "--run",
            s(&run),
            "--planted",
            s(&planted),
            "--no-rescoring",
        ]);
        demud(&["report", "--run", s(&run), "--random", "50"]);
        dir
    })
    .path()
}

#[test]
fn the_commands_chain_and_write_what_they_promise() {
    let d = pipeline();
    let planted = rows(&d.join("planted/planted.csv"));
    assert_eq!(planted.len(), 3);
    assert!(planted
        .iter()
        .all(|r| d.join("planted").join(&r[1]).is_file()));
    assert_eq!(rows(&d.join("planted/manifest.csv")).len(), 29);

    let losses = rows(&d.join("decoder/loss.csv"));
    assert_eq!(losses.len(), 2, "one loss per epoch");
    for file in [
        "decoder.safetensors",
        "decoder.json",
        "optimizer.safetensors",
        "loss.png",
    ] {
        assert!(d.join("decoder").join(file).is_file(), "{file}");
    }

    let render = d.join("run/render");
    let renders = rows(&render.join("renders.csv"));
    assert_eq!(renders.len(), 12);
    for row in &renders {
        for file in &row[5..10] {
            let image = image::open(render.join(file)).unwrap();
            let side = if file.ends_with("original.png") {
                64
            } else {
                16
            };
            assert_eq!((image.width(), image.height()), (side, side), "{file}");
        }
    }
    let sheet = image::open(render.join("contact_sheet.png")).unwrap();
    assert_eq!((sheet.width(), sheet.height()), (5 * 18 + 2, 12 * 18 + 2));

    let localisation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/localisation.json")).unwrap())
            .unwrap();
    assert_eq!(localisation["planted"], 3);
    let selected = renders
        .iter()
        .filter(|r| r[3] == "dark-centre-flower")
        .count();
    assert_eq!(localisation["selected"], selected);
    let kinds: Vec<&str> = localisation["maps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["map"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["novel", "difference"]);
    // Pixel features have no network to map with: said plainly, whether the run's record or
    // the options name the model.
    let (run_dir, planted_dir) = (d.join("run"), d.join("planted"));
    for model in [&[][..], &["--model", "pixels"][..]] {
        let mut args = vec!["maps", "--run", s(&run_dir), "--images", s(&planted_dir)];
        args.extend_from_slice(model);
        let err = demud_fails(&args);
        assert!(
            err.contains("need the network that made the features; pixels is not one"),
            "{model:?}: {err}"
        );
    }
    assert!(!d.join("run/maps").exists(), "nothing written");

    // Resuming adds epochs to the same checkpoint.
    let decoder = d.join("decoder-resumed");
    let copy =
        |name: &str| std::fs::copy(d.join("decoder").join(name), decoder.join(name)).unwrap();
    std::fs::create_dir_all(&decoder).unwrap();
    for name in [
        "decoder.safetensors",
        "decoder.json",
        "optimizer.safetensors",
    ] {
        copy(name);
    }
    demud(&[
        "train-decoder",
        "--images",
        s(&d.join("planted")),
        "--features",
        s(&d.join("features.npy")),
        "--epochs",
        "3",
        "--batch",
        "8",
        "--resume",
        "--out",
        s(&decoder),
        "--quiet",
    ]);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(decoder.join("decoder.json")).unwrap())
            .unwrap();
    assert_eq!(record["training"]["epochs_done"], 3);
    assert_eq!(
        record["arch"]["image_size"], 16,
        "the checkpoint's size, not the default"
    );
    assert_eq!(rows(&decoder.join("loss.csv")).len(), 3);
}

#[test]
fn localise_scores_maps_against_masks_in_the_images_geometry() {
    // A hand-made render: item 0 is planted, its mask the square x, y in 8..16 of a 32 px
    // image. In the 16 px render grid (resize to 18, crop from 1) that is about 3..8. The
    // decoded images differ at (5, 5) only, where the novel render is also bright.
    let dir = tempfile::tempdir().unwrap();
    let (render, planted) = (dir.path().join("render"), dir.path().join("planted"));
    std::fs::create_dir_all(planted.join("masks")).unwrap();
    let mut mask = image::GrayImage::new(32, 32);
    for y in 8..16 {
        for x in 8..16 {
            mask.put_pixel(x, y, image::Luma([255]));
        }
    }
    mask.save(planted.join("masks/a.png")).unwrap();
    std::fs::write(
        planted.join("planted.csv"),
        "id,mask\nimages/a.png,masks/a.png\n",
    )
    .unwrap();
    // The collection (localise checks the planted ids against it) and the planted image
    // (the mask must have its size).
    std::fs::write(
        dir.path().join("f.csv"),
        "images/a.png,1,2\nc,3,4\nd,5,6\ne,7,8\nimages/b.png,9,1\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("images/images")).unwrap();
    image::RgbImage::new(32, 32)
        .save(dir.path().join("images/images/a.png"))
        .unwrap();
    // The run and render folders as `discover` and `render` write them.
    let run_dir = dir.path().join("run");
    let record: RunRecord = serde_json::from_value(serde_json::json!({
        "format": "demud-run", "version": 1, "tool_version": "test",
        "features": dir.path().join("f.csv"), "items": null, "labels": null, "weights": null,
        "start": {"kind": "svd"}, "n_items": 5, "n_features": 2, "precision": "f64", "k": 1,
        "n_selected": 2, "update": "brand", "score": "lowhigh", "missing": "error",
        "compat": "clean", "score_path": "auto", "refresh_every": 256, "seed": 0,
        "explanations": "skipped", "seconds": 0.0
    }))
    .unwrap();
    let selection = |rank: usize, index: usize, id: &str, score: f64| SelectionRow {
        rank,
        index,
        id: id.into(),
        label: "x".into(),
        score,
    };
    let selections = vec![
        selection(1, 4, "images/b.png", 2.0),
        selection(2, 0, "images/a.png", 1.0),
    ];
    write_run(
        &run_dir,
        &NewRun {
            record,
            selections: selections.clone(),
            top_features: vec![],
            explanations: None,
            ranked: None,
        },
    )
    .unwrap();
    let expected = Array4::<f32>::from_elem((2, 3, 16, 16), 0.5);
    let mut features = expected.clone();
    let mut novel = expected.clone();
    for c in 0..3 {
        features[[1, c, 5, 5]] = 1.0;
        novel[[1, c, 5, 5]] = 1.0;
        features[[0, c, 14, 14]] = 1.0; // item b is not planted: not scored
    }
    let view = |s: &SelectionRow, name: &str| format!("{:04}-{name}.png", s.rank);
    let rows = selections
        .iter()
        .map(|s| RenderRow {
            rank: s.rank,
            index: s.index,
            id: s.id.clone(),
            label: s.label.clone(),
            score: s.score,
            original: view(s, "original"),
            features: view(s, "features"),
            expected: view(s, "expected"),
            novel: view(s, "novel"),
            difference: view(s, "difference"),
        })
        .collect();
    let render_record = RenderRecord {
        format: RENDER_FORMAT.into(),
        version: RENDER_VERSION,
        run: run_dir.clone(),
        decoder: dir.path().join("decoder"),
        images: dir.path().join("images"),
        selections: 2,
        decoder_summary: DecoderSummary {
            image_size: 16,
            hidden: vec![8],
            pairs: 5,
            epochs: 1,
            final_loss: None,
        },
    };
    let new_render = NewRender {
        record: render_record,
        rows,
        images: vec![],
        contact_sheet: image::RgbImage::new(1, 1),
        decoded: DecodedViews {
            features,
            expected,
            novel,
        },
    };
    write_render(&render, &new_render).unwrap();
    let printed = demud(&[
        "localise",
        "--render",
        s(&render),
        "--planted",
        s(&planted),
        "--no-rescoring",
    ]);
    assert!(
        printed.contains("1 of 1 planted items explained (ranks [2])"),
        "{printed}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("localisation.json")).unwrap())
            .unwrap();
    let maps = report["maps"].as_array().unwrap();
    let difference = maps.iter().find(|m| m["map"] == "difference").unwrap();
    assert_eq!(difference["energy_share"], 1.0);
    assert_eq!(difference["pointing"], 1.0);
    let novel = maps.iter().find(|m| m["map"] == "novel").unwrap();
    assert!(novel["energy_share"].as_f64().unwrap() > 0.9);
    assert_eq!(novel["pointing"], 1.0);
    let share = novel["mask_share"].as_f64().unwrap();
    assert!(
        (0.08..0.15).contains(&share),
        "mask share {share}: 5 x 5 of 16 x 16 expected"
    );
}

/// Serves `root` over HTTP on loopback (one thread per connection), plus `/probe.html`.
fn serve(root: PathBuf, probe: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (root, probe) = (root.clone(), probe.clone());
            std::thread::spawn(move || {
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                        break;
                    }
                }
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/');
                let path = path.split('?').next().unwrap_or_default().to_string();
                let (status, body, kind) = if path == "probe.html" {
                    ("200 OK", probe.into_bytes(), "text/html")
                } else {
                    match std::fs::read(root.join(&path)) {
                        Ok(bytes) if !path.contains("..") => {
                            let kind = match path.rsplit('.').next() {
                                Some("html") => "text/html; charset=utf-8",
                                Some("png") => "image/png",
                                Some("svg") => "image/svg+xml",
                                _ => "application/octet-stream",
                            };
                            ("200 OK", bytes, kind)
                        }
                        _ => ("404 Not Found", b"not found".to_vec(), "text/plain"),
                    }
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    port
}

fn chromium() -> PathBuf {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(|name| Path::new("/usr/bin").join(name))
        .find(|p| p.is_file());
    found.expect("headless Chromium is needed for the report test: `bash scripts/setup --browser` (run by scripts/test) installs Debian's chromium")
}

fn chromium_command(user_data: &Path) -> Command {
    let mut command = Command::new(chromium());
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]);
    command.arg(format!("--user-data-dir={}", user_data.display()));
    command
}

#[test]
fn the_report_shows_its_images_and_rows_in_a_browser() {
    let report = pipeline().join("run/report");
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained: no network"
    );

    // The page opened inside a same-origin frame; the probe counts what actually loaded.
    let probe = r#"<!DOCTYPE html><html><body><iframe id="f" src="index.html" width="1200" height="800"></iframe>
<script>
document.getElementById('f').addEventListener('load', () => {
  const doc = document.getElementById('f').contentDocument;
  const images = [...doc.images];
  const result = {
    images: images.length,
    loaded: images.filter(i => i.complete && i.naturalWidth > 0).length,
    rows: doc.querySelectorAll('#selections tr.selection').length,
    nauc_rows: doc.querySelectorAll('#nauc tr').length,
    localisation_rows: doc.querySelectorAll('#localisation tr').length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
  };
  const out = document.createElement('pre');
  out.id = 'result';
  out.textContent = 'RESULT' + JSON.stringify(result) + 'END';
  document.body.appendChild(out);
});
</script></body></html>"#;
    let port = serve(report.clone(), probe.to_string());
    let user_data = tempfile::tempdir().unwrap();
    let out = chromium_command(user_data.path())
        .args(["--virtual-time-budget=10000", "--dump-dom"])
        .arg(format!("http://127.0.0.1:{port}/probe.html"))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    // The last marker is the probe's output (the first ones are in its script's source).
    let json = dom
        .rsplit("RESULT")
        .next()
        .filter(|_| dom.contains("<pre id=\"result\">"))
        .and_then(|rest| rest.split("END").next())
        .unwrap_or_else(|| {
            panic!(
                "the probe did not report; chromium said:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let result: serde_json::Value = serde_json::from_str(json).unwrap();
    // 12 selections x 5 views, the discovery chart and the loss curve.
    assert_eq!(result["images"], 12 * 5 + 2, "{result}");
    assert_eq!(
        result["loaded"], result["images"],
        "images that did not load: {}",
        result["broken"]
    );
    assert_eq!(result["rows"], 12);
    assert_eq!(result["nauc_rows"], 4, "header, DEMUD, random, oracle");
    assert_eq!(result["localisation_rows"], 3, "header and two maps");

    // And a screenshot of the page itself, as a person would see it: not blank.
    let shot = user_data.path().join("report.png");
    let status = chromium_command(user_data.path())
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2600")
        .arg(format!("http://127.0.0.1:{port}/index.html"))
        .output()
        .expect("chromium runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let image = image::open(&shot).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (1280, 2600));
    let coloured = image
        .pixels()
        .filter(|p| {
            let (max, min) = (p.0.iter().max().unwrap(), p.0.iter().min().unwrap());
            max - min > 60
        })
        .count();
    assert!(
        coloured > 10_000,
        "only {coloured} coloured pixels: the images did not show"
    );
}

#[test]
fn maps_and_localisation_with_the_network_that_made_the_features() {
    // EfficientNet-Lite0 pool features of the shared planted collection.
    let shared = pipeline();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (planted, features, run) = (shared.join("planted"), d.join("pool.npy"), d.join("run"));
    demud(&[
        "extract",
        "--images",
        s(&planted),
        "--manifest",
        s(&planted.join("manifest.csv")),
        "--out",
        s(&features),
        "--quiet",
    ]);
    demud(&[
        "discover",
        "--features",
        s(&features),
        "--k",
        "3",
        "--n",
        "8",
        "--out",
        s(&run),
        "--quiet",
    ]);
    demud(&["maps", "--run", s(&run), "--images", s(&planted)]);
    demud(&[
        "localise",
        "--run",
        s(&run),
        "--planted",
        s(&planted),
        "--deletion-steps",
        "3",
        "--random-orders",
        "1",
    ]);
    // Maps: one row per selection and kind, the novelty map summing to the score.
    let maps = rows(&run.join("maps/maps.csv"));
    assert_eq!(maps.len(), 8 * 4);
    for row in maps.iter().filter(|r| r[3] == "novelty") {
        let (score, total): (f64, f64) = (row[4].parse().unwrap(), row[5].parse().unwrap());
        assert!((score - total).abs() <= 1e-4 * score, "{row:?}");
    }
    for kind in ["novelty", "novelty-fine", "gradient-input", "gradient"] {
        let overlay = image::open(run.join(format!("maps/0001-{kind}.png"))).unwrap();
        assert_eq!((overlay.width(), overlay.height()), (224, 224), "{kind}");
    }

    let localisation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("localisation.json")).unwrap())
            .unwrap();
    // Every explained planted item is re-scored to its score, with and without its part.
    let items = localisation["items"].as_array().unwrap();
    for item in items {
        let score = item["score"].as_f64().unwrap();
        let rescored = item["rescored"].as_f64().unwrap();
        assert!((score - rescored).abs() <= 1e-3 * score, "{item}");
        assert!(item["part_share"].is_number(), "{item}");
    }
    let maps = localisation["maps"].as_array().unwrap();
    let kinds: Vec<&str> = maps.iter().map(|m| m["map"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["novelty", "novelty-fine", "gradient-input", "gradient"]
    );
    if !items.is_empty() {
        assert!(maps
            .iter()
            .all(|m| m["deletion_auc"].is_number() && m["random_deletion_auc"].is_number()));
    }
    // A render of a run with maps shows each selection's overlay as a sixth column.
    let decoder = d.join("decoder");
    demud(&[
        "train-decoder",
        "--images",
        s(&planted),
        "--features",
        s(&features),
        "--size",
        "16",
        "--epochs",
        "1",
        "--hidden",
        "48,32",
        "--out",
        s(&decoder),
        "--quiet",
    ]);
    demud(&[
        "render",
        "--run",
        s(&run),
        "--decoder",
        s(&decoder),
        "--images",
        s(&planted),
        "--original-size",
        "64",
    ]);
    let sheet = image::open(run.join("render/contact_sheet.png")).unwrap();
    assert_eq!((sheet.width(), sheet.height()), (6 * 18 + 2, 8 * 18 + 2));
    // Maps made with another layer are refused, naming both.
    let logits_maps = || {
        demud_fails(&[
            "maps",
            "--run",
            s(&run),
            "--images",
            s(&planted),
            "--layer",
            "logits",
        ])
    };
    let err = logits_maps();
    assert!(
        err.contains("efficientnet-lite0:logits for the network given")
            && err.contains("efficientnet-lite0:pool for the run's features"),
        "{err}"
    );
    // Without the record (features from elsewhere), the features made again tell, item by
    // item.
    let run_json = run.join("run.json");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
    record.as_object_mut().unwrap().remove("extraction");
    std::fs::write(&run_json, serde_json::to_string(&record).unwrap()).unwrap();
    let err = logits_maps();
    assert!(
        err.contains("1000 values where the run's have 1280"),
        "{err}"
    );
}
