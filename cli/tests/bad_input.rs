//! Every bad input of the reliability issue (issue 11), one row each, through the `demud`
//! binary: a short name, a setup (files written, earlier commands run), the arguments, and the
//! outcome. A failing row must exit with a one-line message holding every expected piece (the
//! file, line, item or option at fault), never a panic or a stack trace (every row runs with
//! `RUST_BACKTRACE=1`), and leave its folder exactly as the setup left it: nothing written at
//! the output, no input changed, no temporary left behind. A succeeding row checks its result
//! (identical items ranked with scores 0, tiny data picked as the same data at ordinary scale).
//!
//! `BAD_INPUT_ROW=name` runs the rows whose name contains `name`.

mod common;
use common::{rows, s};
use ndarray::Array2;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

type Setup = Box<dyn Fn(&Path) + Send + Sync>;
type Check = Box<dyn Fn(&Path, &Ran) + Send + Sync>;

/// What a command printed.
struct Ran {
    stdout: String,
    stderr: String,
}

enum Expect {
    /// A refusal whose message holds every piece.
    Fails(Vec<String>),
    /// Success, and the check holds.
    Succeeds(Check),
}

struct Row {
    name: String,
    setup: Setup,
    /// The arguments, split on spaces; `{d}` is the row's folder, `{models}` the models folder.
    args: String,
    expect: Expect,
    /// How long the command may take (failures of bad arguments come before any work).
    limit: Duration,
}

const DEFAULT_LIMIT: Duration = Duration::from_secs(60);

fn fails(name: &str, setup: Setup, args: &str, pieces: &[&str]) -> Row {
    Row {
        name: name.into(),
        setup,
        args: args.into(),
        expect: Expect::Fails(pieces.iter().map(|p| p.to_string()).collect()),
        limit: DEFAULT_LIMIT,
    }
}

fn succeeds(name: &str, setup: Setup, args: &str, check: Check) -> Row {
    Row {
        name: name.into(),
        setup,
        args: args.into(),
        expect: Expect::Succeeds(check),
        limit: DEFAULT_LIMIT,
    }
}

impl Row {
    fn within(mut self, seconds: u64) -> Self {
        self.limit = Duration::from_secs(seconds);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Running commands and looking at folders.

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn expand(args: &str, dir: &Path) -> Vec<String> {
    args.split_whitespace()
        .map(|a| a.replace("{d}", s(dir)).replace("{models}", s(&models())))
        .collect()
}

fn run_in(dir: &Path, args: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_demud"))
        .args(expand(args, dir))
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the demud binary runs")
}

/// Runs an earlier command of a setup, which must succeed.
fn ok_in(dir: &Path, args: &str) {
    let out = run_in(dir, args);
    assert!(
        out.status.success(),
        "setup: demud {args} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file and folder under `dir` (hidden ones too), with the files' bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut all = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if path.is_dir() {
                all.insert(rel, None);
                stack.push(path);
            } else {
                all.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    all
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A setup that writes one text file.
fn file(name: &'static str, text: &'static str) -> Setup {
    Box::new(move |d| {
        write(d, name, text);
    })
}

/// A setup of several steps.
fn all(steps: Vec<Setup>) -> Setup {
    Box::new(move |d| steps.iter().for_each(|step| step(d)))
}

fn nothing() -> Setup {
    Box::new(|_| {})
}

/// Runs an earlier command.
fn earlier(args: &'static str) -> Setup {
    Box::new(move |d| ok_in(d, args))
}

fn selections(path: &Path) -> Vec<Vec<String>> {
    rows(path)
}

fn indices(run: &Path) -> Vec<String> {
    selections(&run.join("selections.csv"))
        .into_iter()
        .map(|r| r[1].clone())
        .collect()
}

fn scores(run: &Path) -> Vec<f64> {
    selections(&run.join("selections.csv"))
        .into_iter()
        .map(|r| r[4].parse().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Data.

/// 12 items x 4 features, well apart (no near-ties), each value scaled by `scale`.
fn scaled_csv(scale: f64) -> String {
    let mut text = String::new();
    for i in 0..12 {
        let values: Vec<String> = (0..4)
            .map(|j| {
                let v = ((i * 7 + j * 3) % 11) as f64 / 3.0 + (i as f64 * 0.37 + j as f64).sin();
                format!("{:e}", v * scale)
            })
            .collect();
        text += &format!("i{i},{}\n", values.join(","));
    }
    text
}

/// The base collection and the same one scaled.
fn scaled(scale: f64) -> Setup {
    Box::new(move |d| {
        write(d, "base.csv", &scaled_csv(1.0));
        write(d, "scaled.csv", &scaled_csv(scale));
    })
}

/// The base collection with one value replaced.
fn with_value(item: usize, feature: usize, value: f64) -> Setup {
    Box::new(move |d| {
        let text: Vec<String> = scaled_csv(1.0)
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let mut cells: Vec<String> = line.split(',').map(String::from).collect();
                if i == item {
                    match feature {
                        usize::MAX => cells[1..]
                            .iter_mut()
                            .for_each(|c| *c = format!("{value:e}")),
                        f => cells[1 + f] = format!("{value:e}"),
                    }
                }
                cells.join(",")
            })
            .collect();
        write(d, "scaled.csv", &(text.join("\n") + "\n"));
    })
}

/// Ten items: a tight cluster and two odd ones, labels by group.
fn small_csv() -> Setup {
    Box::new(|d| {
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
        write(d, "small.csv", &text);
    })
}

fn npy(d: &Path, name: &str, rows: usize, cols: usize) {
    let a = Array2::from_shape_fn((rows, cols), |(i, j)| (i * cols + j) as f64 * 0.5 + 1.0);
    a.write_npy(std::fs::File::create(d.join(name)).unwrap())
        .unwrap();
}

/// Three small PNGs in `imgs/`.
fn images() -> Setup {
    Box::new(|d| {
        std::fs::create_dir_all(d.join("imgs")).unwrap();
        for i in 0..3u32 {
            image::RgbImage::from_fn(40 + 10 * i, 30 + 5 * i, |x, y| {
                image::Rgb([(x * 6 + i * 70) as u8, (y * 8) as u8, 120])
            })
            .save(d.join(format!("imgs/a{i}.png")))
            .unwrap();
        }
    })
}

fn effnet_weights() -> PathBuf {
    models().join("efficientnet-lite0.safetensors")
}

/// EfficientNet-Lite0's weights changed by `change` (every tensor, by name), at `name`.
fn weights_changed(
    name: &'static str,
    change: impl Fn(&str, tch::Tensor) -> tch::Tensor + Send + Sync + 'static,
) -> Setup {
    Box::new(move |d| {
        let tensors: Vec<(String, tch::Tensor)> =
            tch::Tensor::read_safetensors(effnet_weights()).unwrap();
        let changed: Vec<(String, tch::Tensor)> = tensors
            .into_iter()
            .map(|(n, t)| {
                let t = change(&n, t);
                (n, t)
            })
            .collect();
        tch::Tensor::write_safetensors(&changed, d.join(name)).unwrap();
    })
}

/// The shared planted collection, run, decoder and render (pixel features: no weights, fast),
/// made once; rows copy it into their own folder.
fn planted_fixture() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for args in [
            "plant flowers --size 32 --classes 6,4,3 --planted 2 --out {d}/planted",
            "extract --model pixels --pixels-side 8 --images {d}/planted --manifest {d}/planted/manifest.csv --out {d}/features.npy --quiet",
            "discover --features {d}/features.npy --k 2 --out {d}/run --quiet",
            "train-decoder --images {d}/planted --features {d}/features.npy --size 16 --hidden 16 --epochs 1 --batch 8 --out {d}/decoder --quiet",
            "render --run {d}/run --decoder {d}/decoder --images {d}/planted --original-size 32",
        ] {
            ok_in(d, args);
        }
        dir
    })
    .path()
}

/// A copy of the planted fixture.
fn planted() -> Setup {
    Box::new(|d| copy_dir(planted_fixture(), d))
}

// ---------------------------------------------------------------------------------------------
// The table.

fn table() -> Vec<Row> {
    let mut table = vec![
        // ----- Crashes: identical items, tiny and huge values -----------------------------
        succeeds(
            "two identical items are ranked, scores 0, and said so",
            file("two.csv", "a,1,2\nb,1,2\n"),
            "discover --features {d}/two.csv --k 1 --out {d}/out --quiet",
            Box::new(|d, ran| {
                assert_eq!(scores(&d.join("out")), [0.0, 0.0]);
                assert!(
                    ran.stderr.contains("note: 2 selection(s) scored 0")
                        && ran.stderr.contains("copies of items it had seen"),
                    "{}",
                    ran.stderr
                );
                assert_eq!(ran.stderr.lines().count(), 1, "one line: {}", ran.stderr);
            }),
        ),
        succeeds(
            "a one-item prior with copies in the batch: scores 0",
            all(vec![
                file("prior.csv", "p,1,2,3\n"),
                file("batch.csv", "a,1,2,3\nb,1,2,3\nc,1,2,3\n"),
            ]),
            "discover --features {d}/batch.csv --prior {d}/prior.csv --k 1 --out {d}/out --quiet",
            Box::new(|d, ran| {
                assert_eq!(scores(&d.join("out")), [0.0; 3]);
                assert!(ran.stderr.contains("note: 3 selection(s) scored 0"), "{}", ran.stderr);
            }),
        ),
        succeeds(
            "--missing ignore with two items equal on their observed values",
            file("gaps.csv", "a,1,2,NA\nb,1,2,5\nc,3,1,2\nd,1,2,NA\n"),
            "discover --features {d}/gaps.csv --missing ignore --k 1 --out {d}/out --quiet",
            Box::new(|d, _| {
                let s = scores(&d.join("out"));
                assert_eq!(s.len(), 4);
                assert!(s.iter().all(|v| v.is_finite() && *v >= 0.0), "{s:?}");
            }),
        ),
        succeeds(
            "subnormal values are picked as the same data at ordinary scale",
            scaled(1e-310),
            "discover --features {d}/scaled.csv --k 2 --out {d}/out --quiet",
            Box::new(same_picks_as_base),
        ),
        succeeds(
            "data scaled by 1e-170 is picked as the same data at ordinary scale",
            scaled(1e-170),
            "discover --features {d}/scaled.csv --k 2 --out {d}/out --quiet",
            Box::new(same_picks_as_base),
        ),
        fails(
            "a 1e308 row is too large, named by its id",
            with_value(3, usize::MAX, 1e308),
            "discover --features {d}/scaled.csv --k 2 --out {d}/out",
            &["scaled.csv", "item \"i3\"", "feature \"f0\"", "is too large"],
        ),
        fails(
            "a 1e200 cell is too large, named by its id and feature",
            with_value(5, 2, 1e200),
            "discover --features {d}/scaled.csv --k 2 --out {d}/out",
            &["scaled.csv", "item \"i5\"", "feature \"f2\"", "is too large"],
        ),
        fails(
            "data scaled by 1e160 is too large, named by an item",
            scaled(1e160),
            "discover --features {d}/scaled.csv --k 2 --out {d}/out",
            &["scaled.csv", "item \"i", "is too large", "divide the features by"],
        ),
        fails(
            "a prior with a 1e308 row is too large, named by the prior's id",
            all(vec![scaled(1.0), with_value(3, usize::MAX, 1e308)]),
            "discover --features {d}/base.csv --prior {d}/scaled.csv --k 2 --out {d}/out",
            &["scaled.csv", "item \"i3\"", "the prior data set", "is too large"],
        ),
        succeeds(
            "a 300000 x 1, a 20000 x 20000, a 10000 x 2 and a 60000 x 2 PNG are skipped quickly",
            all(vec![
                images(),
                Box::new(|d| {
                    for (name, w, h) in [
                        ("line.png", 300_000, 1),
                        ("huge.png", 20_000, 20_000),
                        ("thin.png", 10_000, 2),
                        ("wide.png", 60_000, 2),
                    ] {
                        image::GrayImage::new(w, h).save(d.join("imgs").join(name)).unwrap();
                    }
                }),
            ]),
            "extract --images {d}/imgs --model pixels --pixels-side 8 --out {d}/f.npy --quiet",
            Box::new(|d, ran| {
                for name in ["line.png", "huge.png", "thin.png", "wide.png"] {
                    assert!(ran.stderr.contains(&format!("skipped {name}")), "{}", ran.stderr);
                }
                assert!(ran.stderr.contains("too elongated"), "{}", ran.stderr);
                assert_eq!(rows(&d.join("f.items.csv")).len(), 3, "the 3 readable images");
            }),
        )
        .within(30),
        succeeds(
            "--max-image-side skips larger images before decoding them",
            images(),
            "extract --images {d}/imgs --model pixels --pixels-side 8 --max-image-side 55 --out {d}/f.npy --quiet",
            Box::new(|d, ran| {
                assert!(
                    ran.stderr.contains("skipped a2.png") && ran.stderr.contains("limit of 55 px a side"),
                    "{}",
                    ran.stderr
                );
                let kept: Vec<String> = rows(&d.join("f.items.csv")).into_iter().map(|r| r[0].clone()).collect();
                assert_eq!(kept, ["a0.png", "a1.png"], "the images within the limit");
            }),
        ),
        succeeds(
            "--max-image-mb skips images whose decoding needs more memory",
            all(vec![
                images(),
                Box::new(|d| image::RgbImage::new(600, 600).save(d.join("imgs/big.png")).unwrap()),
            ]),
            "extract --images {d}/imgs --model pixels --pixels-side 8 --max-image-mb 1 --out {d}/f.npy --quiet",
            Box::new(|d, ran| {
                assert!(
                    ran.stderr.contains("skipped big.png") && ran.stderr.contains("1.4 MiB to decode, over the limit of 1.0 MiB"),
                    "{}",
                    ran.stderr
                );
                assert_eq!(rows(&d.join("f.items.csv")).len(), 3, "the 3 small images");
            }),
        ),
        fails(
            "--pixels-side 100000 is refused by the parser, naming the limit",
            images(),
            "extract --images {d}/imgs --model pixels --pixels-side 100000 --out {d}/f.npy",
            &["--pixels-side", "100000", "1..=512"],
        )
        .within(5),
        fails(
            "--resize 100000 is refused by the parser, naming the limit",
            images(),
            "extract --images {d}/imgs --model pixels --resize 100000 --out {d}/f.npy",
            &["--resize", "1..=4096"],
        )
        .within(5),
        fails(
            "--threads 0",
            images(),
            "extract --images {d}/imgs --threads 0 --out {d}/f.npy",
            &["invalid value", "--threads"],
        ),
        fails(
            "plant flowers --size 1",
            nothing(),
            "plant flowers --size 1 --out {d}/out",
            &["invalid value", "--size"],
        ),
        // ----- Network weights --------------------------------------------------------------
        succeeds(
            "f16 weights are converted and give the f32 weights' features",
            all(vec![
                images(),
                weights_changed("half.safetensors", |_, t| t.to_kind(tch::Kind::Half)),
            ]),
            "extract --images {d}/imgs --weights {d}/half.safetensors --out {d}/half.npy --quiet",
            Box::new(|d, _| {
                ok_in(d, "extract --images {d}/imgs --out {d}/full.npy --quiet");
                let read = |name: &str| {
                    Array2::<f32>::read_npy(std::fs::File::open(d.join(name)).unwrap()).unwrap()
                };
                let (half, full) = (read("half.npy"), read("full.npy"));
                assert_eq!(half.dim(), full.dim());
                let scale = full.iter().fold(0f32, |m, v| m.max(v.abs()));
                let off = (&half - &full).iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(scale > 0.0 && off < 0.05 * scale, "{off} of {scale}");
            }),
        ),
        fails(
            "a (3, 3) weight for a (32, 1, 3, 3) convolution is refused, naming the tensor",
            all(vec![
                images(),
                weights_changed("shape.safetensors", |n, t| {
                    if n == "_blocks.0._depthwise_conv.weight" {
                        tch::Tensor::ones([3, 3], (tch::Kind::Float, tch::Device::Cpu))
                    } else {
                        t
                    }
                }),
            ]),
            "extract --images {d}/imgs --weights {d}/shape.safetensors --out {d}/f.npy",
            &[
                "shape.safetensors",
                "tensor \"_blocks.0._depthwise_conv.weight\" has shape [3, 3]",
                "[32, 1, 3, 3]",
            ],
        ),
        fails(
            "NaN weights are refused, naming the tensor",
            all(vec![
                images(),
                weights_changed("nan.safetensors", |n, t| {
                    if n == "_conv_stem.weight" {
                        t * f64::NAN
                    } else {
                        t
                    }
                }),
            ]),
            "extract --images {d}/imgs --weights {d}/nan.safetensors --out {d}/f.npy",
            &["nan.safetensors", "\"_conv_stem.weight\" has NaN"],
        ),
        fails(
            "all-zero weights are refused",
            all(vec![
                images(),
                weights_changed("zero.safetensors", |_, t| t.zeros_like()),
            ]),
            "extract --images {d}/imgs --weights {d}/zero.safetensors --out {d}/f.npy",
            &["zero.safetensors", "every weight is zero"],
        ),
        fails(
            "a text file as weights is named for what it is",
            all(vec![images(), file("notes.safetensors", "my weights are elsewhere\n")]),
            "extract --images {d}/imgs --weights {d}/notes.safetensors --out {d}/f.npy",
            &["notes.safetensors: this is text", "expected a safetensors weights file"],
        ),
        fails(
            "truncated weights are named truncated",
            all(vec![
                images(),
                Box::new(|d| {
                    let bytes = std::fs::read(effnet_weights()).unwrap();
                    std::fs::write(d.join("cut.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
                }),
            ]),
            "extract --images {d}/imgs --weights {d}/cut.safetensors --out {d}/f.npy",
            &["cut.safetensors: truncated", "tensors need"],
        ),
        fails(
            "a safetensors file given as TorchScript is said to be weights",
            images(),
            "extract --images {d}/imgs --model torchscript --weights {models}/efficientnet-lite0.safetensors --out {d}/f.npy",
            &[
                "efficientnet-lite0.safetensors: safetensors weights, not a TorchScript module",
                "torch.jit.save",
            ],
        ),
        fails(
            "a 2-name class file is refused before extraction, naming the file",
            all(vec![images(), file("classes.json", "[\"cat\", \"dog\"]")]),
            "extract --images {d}/imgs --layer logits --top5 {d}/top5.csv --classes {d}/classes.json --out {d}/f.npy",
            &["classes.json: 2 class names", "logits: 1000", "--top5"],
        )
        .within(20),
        // ----- Silent wrong answers ---------------------------------------------------------
        fails(
            "a headerless CSV with whole numbers in column 2 asks: labels or a feature?",
            file("coded.csv", CODED),
            "discover --features {d}/coded.csv --k 1 --out {d}/out",
            &["coded.csv, line 1", "--csv-labels yes or no"],
        ),
        fails(
            "two items with one id in a features CSV",
            file("twice.csv", "a,1,2\nb,3,4\na,5,7\n"),
            "discover --features {d}/twice.csv --k 1 --out {d}/out",
            &["twice.csv", "id \"a\" is given to two items (rows 1 and 3"],
        ),
        fails(
            "two items with one id in an items file",
            Box::new(|d| {
                npy(d, "f.npy", 3, 2);
                write(d, "f.items.csv", "id,label\na,x\nb,y\na,z\n");
            }),
            "discover --features {d}/f.npy --k 1 --out {d}/out",
            &["f.items.csv", "id \"a\" is given to two items (rows 1 and 3"],
        ),
        fails(
            "duplicate ids with --labels are named, not counted as unlabelled",
            Box::new(|d| {
                npy(d, "f.npy", 3, 2);
                write(d, "f.items.csv", "a\nb\na\n");
                write(d, "labels.csv", "id,label\na,x\nb,y\n");
            }),
            "discover --features {d}/f.npy --labels {d}/labels.csv --k 1 --out {d}/out",
            &["f.items.csv", "id \"a\" is given to two items"],
        ),
        fails(
            "an item labelled twice, differently",
            all(vec![
                file("good.csv", GOOD),
                file("labels.csv", "id,label\na,x\nb,y\nc,z\na,w\n"),
            ]),
            "discover --features {d}/good.csv --labels {d}/labels.csv --k 1 --out {d}/out",
            &["labels.csv, line 5", "labelled twice (first on line 2)"],
        ),
        fails(
            "--pixels-side 0",
            images(),
            "extract --images {d}/imgs --model pixels --pixels-side 0 --out {d}/f.npy",
            &["invalid value", "--pixels-side"],
        ),
        fails(
            "--lr 1e10 stops with the reason and saves nothing",
            planted(),
            "train-decoder --images {d}/planted --features {d}/features.npy --size 16 --hidden 16 --epochs 5 --lr 1e10 --out {d}/diverged --quiet",
            &["training diverged", "--lr", "no checkpoint was written"],
        ),
        fails(
            "a manifest path outside --images (..)",
            all(vec![images(), file("m.csv", "path,label\n../../../../etc/passwd,x\n")]),
            "extract --images {d}/imgs --manifest {d}/m.csv --model pixels --out {d}/f.npy",
            &["m.csv, line 2", "\"../../../../etc/passwd\" is not a path inside the image folder"],
        ),
        fails(
            "a manifest path outside --images (absolute)",
            all(vec![images(), file("m.csv", "path,label\n/etc/passwd,x\n")]),
            "extract --images {d}/imgs --manifest {d}/m.csv --model pixels --out {d}/f.npy",
            &["m.csv, line 2", "\"/etc/passwd\" is not a path inside the image folder"],
        ),
        fails(
            "a manifest path listed twice",
            all(vec![images(), file("m.csv", "path,label\na0.png,x\na1.png,y\na0.png,x\n")]),
            "extract --images {d}/imgs --manifest {d}/m.csv --model pixels --out {d}/f.npy",
            &["m.csv, line 4", "\"a0.png\" is listed twice (first on line 2)"],
        ),
        fails(
            "curve: a run of another collection than --labels",
            all(vec![file("slow.csv", SLOW), file("l2.csv", "1,a\n")]),
            "curve {d}/slow.csv --labels {d}/l2.csv",
            &["slow.csv", "not in the labels file"],
        ),
        fails(
            "curve: runs of different collections",
            all(vec![
                file("slow.csv", SLOW),
                file("other.csv", "rank,index,id,label,score\n1,0,x,q,9\n2,1,y,r,8\n"),
            ]),
            "curve {d}/slow.csv {d}/other.csv",
            &["class \"q\"", "different collections"],
        ),
        fails(
            "curve: an item listed twice",
            file("twice.csv", "rank,index,id,label,score\n1,0,1,a,9\n2,0,1,a,8\n"),
            "curve {d}/twice.csv",
            &["twice.csv", "line 3", "selected again"],
        ),
        fails(
            "curve --random 0",
            file("slow.csv", SLOW),
            "curve {d}/slow.csv --random 0",
            &["invalid value", "--random"],
        ),
        fails(
            "report without selections.csv",
            all(vec![
                planted(),
                Box::new(|d| std::fs::remove_file(d.join("run/selections.csv")).unwrap()),
            ]),
            "report --run {d}/run --random 10",
            &["run/selections.csv: missing", "run discover again"],
        ),
        fails(
            "report with selections.csv of another run",
            all(vec![
                file("good.csv", GOOD),
                earlier("discover --features {d}/good.csv --k 1 --out {d}/run --quiet"),
                earlier("discover --features {d}/good.csv --k 1 --n 2 --out {d}/other --quiet"),
                Box::new(|d| {
                    std::fs::copy(d.join("other/selections.csv"), d.join("run/selections.csv"))
                        .unwrap();
                }),
            ]),
            "report --run {d}/run",
            &["selections.csv", "different runs"],
        ),
        fails(
            "report with a render of the run before discover re-ran into the folder",
            all(vec![planted(), stale_render()]),
            "report --run {d}/run --render {d}/old-render --random 10",
            &["old-render/renders.csv, line 2", "belongs to another run"],
        ),
        succeeds(
            "report after discover re-ran into the folder shows the new ranking, no old render",
            all(vec![planted(), stale_render()]),
            "report --run {d}/run --random 10",
            Box::new(|d, _| {
                let html = std::fs::read_to_string(d.join("run/report/index.html")).unwrap();
                let first = &selections(&d.join("run/selections.csv"))[0][2];
                assert!(
                    html.contains(first.as_str()) || html.contains(&first.replace('/', "&#x2f;")),
                    "the new ranking's first item"
                );
                assert!(!d.join("run/render").exists() && !html.contains("-expected.png"));
            }),
        ),
        fails(
            "render with expected.npy of another run of the same shape",
            all(vec![
                planted(),
                earlier("discover --features {d}/features.npy --k 1 --out {d}/other --quiet"),
                Box::new(|d| {
                    std::fs::copy(d.join("other/expected.npy"), d.join("run/expected.npy"))
                        .unwrap();
                }),
            ]),
            "render --run {d}/run --decoder {d}/decoder --images {d}/planted --out {d}/again",
            &["run/expected.npy: is not the file this run wrote", "different runs"],
        ),
        fails(
            "localise with a 10 x 300 mask for a 32 x 32 image",
            all(vec![
                planted(),
                Box::new(|d| {
                    for row in rows(&d.join("planted/planted.csv")) {
                        image::GrayImage::new(10, 300)
                            .save(d.join("planted").join(&row[1]))
                            .unwrap();
                    }
                }),
            ]),
            "localise --run {d}/run --planted {d}/planted --no-rescoring",
            &["masks/", "a mask of 10 x 300 px for", "is 32 x 32 px", "its image's size"],
        ),
        fails(
            "localise with a planted id that is not in the collection",
            all(vec![
                planted(),
                Box::new(|d| {
                    let path = d.join("planted/planted.csv");
                    let text = std::fs::read_to_string(&path).unwrap();
                    std::fs::write(
                        &path,
                        text + "images/ghost.png,masks/ghost.png,originals/ghost.png\n",
                    )
                    .unwrap();
                }),
            ]),
            "localise --run {d}/run --planted {d}/planted --no-rescoring",
            &["planted.csv, line 4", "\"images/ghost.png\" is not an item of the run's collection"],
        ),
        // ----- Outputs that would destroy inputs --------------------------------------------
        fails(
            "--model-out naming the --features file",
            small_csv(),
            "discover --features {d}/small.csv --k 1 --model-out {d}/small.csv --out {d}/run",
            &["small.csv", "is or holds the input"],
        ),
        fails(
            "curve --table naming the selections.csv it reads",
            all(vec![
                small_csv(),
                earlier("discover --features {d}/small.csv --k 1 --out {d}/run --quiet"),
            ]),
            "curve {d}/run --table {d}/run/selections.csv",
            &["selections.csv", "is or holds the input"],
        ),
        fails(
            "an unwritable --model-out fails before the earlier run in --out is replaced",
            all(vec![
                small_csv(),
                earlier("discover --features {d}/small.csv --k 1 --out {d}/run --quiet"),
                file("blocker", "a file, not a folder"),
            ]),
            "discover --features {d}/small.csv --k 2 --model-out {d}/blocker/model.json --out {d}/run",
            &["blocker/model.json"],
        ),
        fails(
            "an --out that holds an input",
            file("out/features.csv", GOOD),
            "discover --features {d}/out/features.csv --k 1 --out {d}/out",
            &["holds the input", "features.csv"],
        ),
        fails(
            "a failing run leaves an earlier run in --out as it was",
            all(vec![
                file("good.csv", GOOD),
                file("nan.csv", "id,p,q\na,1,2\nb,nan,3\n"),
                earlier("discover --features {d}/good.csv --k 1 --out {d}/out --quiet"),
            ]),
            "discover --features {d}/nan.csv --k 1 --out {d}/out",
            &["nan.csv", "item \"b\"", "feature \"p\"", "--missing"],
        ),
        // ----- Unclear messages -------------------------------------------------------------
        fails(
            "--n -1",
            small_csv(),
            "discover --features {d}/small.csv --n -1 --k 1 --out {d}/run",
            &["invalid value '-1' for '--n"],
        ),
        fails(
            "--epochs 0 on a new folder",
            planted(),
            "train-decoder --images {d}/planted --features {d}/features.npy --epochs 0 --out {d}/new",
            &["invalid value", "--epochs"],
        ),
        fails(
            "a diverged decoder (a loss saved as null) is named so",
            all(vec![
                planted(),
                Box::new(|d| {
                    let path = d.join("decoder/decoder.json");
                    let mut record: serde_json::Value =
                        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                    record["training"]["losses"][0] = serde_json::Value::Null;
                    std::fs::write(&path, serde_json::to_string_pretty(&record).unwrap()).unwrap();
                }),
            ]),
            "render --run {d}/run --decoder {d}/decoder --images {d}/planted --out {d}/again",
            &["decoder.json: this decoder's training diverged", "epoch 1", "--lr"],
        ),
        fails(
            "--original-size 0",
            planted(),
            "render --run {d}/run --decoder {d}/decoder --images {d}/planted --original-size 0",
            &["invalid value", "--original-size"],
        ),
        fails(
            "pipeline --k 0 is refused before any work",
            nothing(),
            "pipeline --k 0 --out {d}/p",
            &["invalid value", "'--k"],
        )
        .within(5),
        fails(
            "with RUST_BACKTRACE=1 an error is one line with its cause once",
            nothing(),
            "discover --features {d}/missing.csv --k 1 --out {d}/out",
            &["Error: ", "missing.csv", "No such file"],
        ),
        // ----- Bad values and options, named ------------------------------------------------
        fails(
            "a ragged CSV",
            file("ragged.csv", "a,1,2\nb,3\nc,4,5\n"),
            "discover --features {d}/ragged.csv --k 1 --out {d}/out",
            &["ragged.csv, line 2", "2 columns, expected 3"],
        ),
        fails(
            "a cell that is not a number",
            file("text.csv", "a,1,2\nb,3,x7\n"),
            "discover --features {d}/text.csv --k 1 --out {d}/out",
            &["text.csv, line 2: column 3 (f1): cannot read \"x7\""],
        ),
        fails(
            "an empty CSV",
            file("empty.csv", ""),
            "discover --features {d}/empty.csv --k 1 --out {d}/out",
            &["empty.csv", "no rows"],
        ),
        fails(
            "k larger than the features",
            file("good.csv", GOOD),
            "discover --features {d}/good.csv --k 3 --out {d}/out",
            &["exceeds the number of features d = 2"],
        ),
        fails(
            "a label for an id that is not an item",
            all(vec![file("good.csv", GOOD), file("labels.csv", "id,label\na,x\nzz,y\n")]),
            "discover --features {d}/good.csv --labels {d}/labels.csv --k 1 --out {d}/out",
            &["labels.csv, line 3", "\"zz\""],
        ),
        fails(
            "a prior with other features",
            all(vec![file("good.csv", GOOD), file("prior.csv", "p,1,2,3\n")]),
            "discover --features {d}/good.csv --prior {d}/prior.csv --k 1 --out {d}/out",
            &["prior.csv", "prior data has 3 features"],
        ),
        fails(
            "--init beyond the items",
            file("good.csv", GOOD),
            "discover --features {d}/good.csv --init 7 --k 1 --out {d}/out",
            &["item index 7 is out of range"],
        ),
        fails(
            "--init with --prior",
            all(vec![file("good.csv", GOOD), file("prior.csv", "p,1,2\n")]),
            "discover --features {d}/good.csv --init 0 --prior {d}/prior.csv --k 1 --out {d}/out",
            &["--init", "cannot be used with"],
        ),
        fails(
            "one weight for two features",
            all(vec![file("good.csv", GOOD), file("w.txt", "1\n")]),
            "discover --features {d}/good.csv --weights {d}/w.txt --k 1 --out {d}/out",
            &["w.txt", "1 weights, the features have 2"],
        ),
        fails(
            "an unknown conditioning step",
            file("good.csv", GOOD),
            "discover --features {d}/good.csv --conditioning centre+l3 --k 1 --out {d}/out",
            &["--conditioning", "unknown step \"l3\""],
        ),
        fails(
            "whitening to 0 dimensions",
            file("good.csv", GOOD),
            "discover --features {d}/good.csv --conditioning whiten:0 --k 1 --out {d}/out",
            &["--conditioning", "unknown step \"whiten:0\""],
        ),
        fails(
            "an unknown selection rule",
            file("good.csv", GOOD),
            "discover --features {d}/good.csv --selection densest --k 1 --out {d}/out",
            &["--selection", "is not residual or isolated"],
        ),
        fails(
            "missing values with a conditioning that needs every value",
            file("gaps.csv", "a,1,2\nb,NA,4\nc,5,7\n"),
            "discover --features {d}/gaps.csv --missing zero --conditioning centre+l2 --k 1 --out {d}/out",
            &["gaps.csv", "--conditioning none"],
        ),
        fails(
            "render of a run made without explanations",
            all(vec![
                file("good.csv", GOOD),
                earlier("discover --features {d}/good.csv --k 1 --no-explanations --out {d}/run --quiet"),
            ]),
            "render --run {d}/run --decoder {d} --images {d}",
            &["--no-explanations"],
        ),
        fails(
            "report of a folder that is not a run",
            nothing(),
            "report --run {d}",
            &["run.json"],
        ),
        fails(
            "--vocabulary 0",
            images(),
            "extract --images {d}/imgs --model bow --vocabulary 0 --out {d}/f.npy",
            &["invalid value", "--vocabulary"],
        ),
        fails(
            "maps --maps heat",
            nothing(),
            "maps --run {d}/out --images {d}/out --maps heat",
            &["invalid value", "--maps"],
        ),
        fails(
            "maps --limit 0",
            nothing(),
            "maps --run {d}/out --images {d}/out --limit 0",
            &["invalid value", "--limit"],
        ),
        fails(
            "localise --deletion-steps 51",
            nothing(),
            "localise --run {d}/out --planted {d}/out --deletion-steps 51",
            &["invalid value", "--deletion-steps"],
        ),
        fails(
            "localise --random-orders 0",
            nothing(),
            "localise --run {d}/out --planted {d}/out --random-orders 0",
            &["invalid value", "--random-orders"],
        ),
    ];
    for answer in ["yes", "no"] {
        table.push(succeeds(
            &format!("a headerless CSV with whole numbers in column 2 runs with --csv-labels {answer}"),
            file("coded.csv", CODED),
            &format!("discover --features {{d}}/coded.csv --csv-labels {answer} --k 1 --out {{d}}/out --quiet"),
            Box::new(move |d, _| {
                let labels: Vec<String> = selections(&d.join("out/selections.csv"))
                    .into_iter()
                    .map(|r| r[3].clone())
                    .collect();
                let labelled = labels.iter().all(|l| l == "1" || l == "2");
                assert_eq!(labelled, answer == "yes", "{labels:?}");
            }),
        ));
    }
    // All items identical, under every start and update, on both score paths.
    for init in ["svd", "mean", "random", "0"] {
        for update in ["brand", "ross", "full", "static"] {
            for exact in ["", " --exact"] {
                let name = format!("identical items: --init {init} --update {update}{exact}");
                let args = format!(
                    "discover --features {{d}}/same.csv --k 1 --init {init} --update {update}{exact} --out {{d}}/out --quiet"
                );
                let setup = file("same.csv", "a,1,2,3\nb,1,2,3\nc,1,2,3\nd,1,2,3\n");
                table.push(if update == "static" && init != "svd" {
                    fails(
                        &name,
                        setup,
                        &args,
                        &["`static` ranks every item by one SVD model"],
                    )
                } else {
                    succeeds(
                        &name,
                        setup,
                        &args,
                        Box::new(|d, ran| {
                            assert_eq!(scores(&d.join("out")), [0.0; 4]);
                            let mut picked = indices(&d.join("out"));
                            picked.sort();
                            assert_eq!(picked, ["0", "1", "2", "3"]);
                            assert!(
                                ran.stderr.contains("selection(s) scored 0"),
                                "{}",
                                ran.stderr
                            );
                        }),
                    )
                });
            }
        }
    }
    table.extend(archive_rows());
    table.extend(audit_rows());
    table.extend(review_and_ood_rows());
    table
}

/// Feedback to discover, the audit page's images and an OOD set of another width.
fn review_and_ood_rows() -> Vec<Row> {
    vec![
        fails(
            "discover --seen without a model to add the seen items to",
            all(vec![small_csv(), file("seen.txt", "item1\n")]),
            "discover --features {d}/small.csv --k 2 --seen {d}/seen.txt --out {d}/out",
            &["seen", "prior data set or a saved model"],
        ),
        fails(
            "discover --interesting names an id the collection does not have",
            all(vec![small_csv(), file("keep.txt", "zz\n")]),
            "discover --features {d}/small.csv --prior {d}/small.csv --k 2 --interesting {d}/keep.txt --out {d}/out",
            &["small.csv", "\"zz\"", "not an item of this collection"],
        ),
        fails(
            "audit --images where the ids name no images",
            file("pairs.csv", "id,label,a,b\np1,x,1,2\np2,x,1,3\nq1,y,5,5\nq2,y,6,5\n"),
            "audit --features {d}/pairs.csv --images {d} --out {d}/out",
            &["--images", "\"p1\" is not a file there"],
        ),
        fails(
            "ood: an OOD set with other features than the training set",
            all(vec![small_csv(), file("narrow.csv", "id,f0,f1\na,1,2\nb,2,3\n")]),
            "ood --train {d}/small.csv --test {d}/small.csv --ood {d}/narrow.csv --out {d}/out",
            &["narrow.csv", "2 features"],
        ),
        fails(
            "ood: --hnsw-from 0 (the graph from zero training items)",
            small_csv(),
            "ood --train {d}/small.csv --test {d}/small.csv --ood {d}/small.csv --k 2 --hnsw-from 0 --out {d}/out",
            &["--hnsw-from", "at least 1"],
        ),
        fails(
            "ood: a folder of images as the OOD set, with training features from a table",
            all(vec![small_csv(), file("pictures/a.png", "not read")]),
            "ood --train {d}/small.csv --test {d}/small.csv --ood {d}/pictures --out {d}/out",
            &["--ood", "pictures", "small.csv has none"],
        ),
        fails(
            "labels: a labels file naming an id that is not an item",
            all(vec![
                logits_setup(),
                file("labels.csv", "id,label\na,x\nb,x\nzz,y\n"),
            ]),
            "labels --features {d}/logits.npy --labels {d}/labels.csv --classes {d}/names.json --out {d}/out",
            &["labels.csv, line 4", "\"zz\"", "not an item"],
        ),
        fails(
            "labels: a group file naming a class the collection does not have",
            all(vec![
                logits_setup(),
                file("labels.csv", "id,label\na,x\nb,x\nc,y\n"),
                file("groups.csv", "class,group\nx,in\nwhale,out\ny,out\n"),
            ]),
            "labels --features {d}/logits.npy --labels {d}/labels.csv --groups {d}/groups.csv --classes {d}/names.json --out {d}/out",
            &["groups.csv, line 3", "\"whale\"", "not a class of the collection"],
        ),
        fails(
            "labels: logits of another width than the class names",
            all(vec![logits_setup(), file("three.json", r#"["a","b","c"]"#)]),
            "labels --features {d}/logits.npy --classes {d}/three.json --out {d}/out",
            &["logits.npy", "4 values per item", "three.json", "3 classes"],
        ),
        fails(
            "labels: --images read at a layer that is not the classifier's output",
            images(),
            "labels --images {d}/imgs --layer pool --out {d}/out",
            &["--layer pool", "not the classifier's output", "`logits`"],
        ),
        fails(
            "labels: --images through a baseline, which has no classifier",
            images(),
            "labels --images {d}/imgs --model pixels --out {d}/out",
            &["--model pixels", "no classifier"],
        ),
        fails(
            "labels: network options beside logits, which they would not make",
            logits_setup(),
            "labels --features {d}/logits.npy --classes {d}/names.json --crop none --out {d}/out",
            &["--features", "--crop", "cannot be used with"],
        ),
        fails(
            "noise-check: an image folder that does not exist",
            nothing(),
            "noise-check --images {d}/no-such-folder --model pixels --out {d}/out",
            &["no-such-folder"],
        ),
        fails(
            "noise-check: images without classes",
            images(),
            "noise-check --images {d}/imgs --model pixels --out {d}/out",
            &["imgs", "3 image(s) have no class", "--labels"],
        ),
    ]
}

/// ImageNet-like logits of 3 items over 4 classifier classes, their items file and names.
fn logits_setup() -> Setup {
    all(vec![
        Box::new(|d| npy(d, "logits.npy", 3, 4)),
        file("logits.items.csv", "id\na\nb\nc\n"),
        file("names.json", r#"["cat","dog","fish","bird"]"#),
    ])
}

/// An archive made from `small.csv`, before each row of the downlink loop.
fn archive_of_small() -> Setup {
    all(vec![
        small_csv(),
        earlier("archive init --archive {d}/archive --features {d}/small.csv --k 2"),
    ])
}

/// The downlink loop's refusals: each leaves the archive as it was (no batch staged).
fn archive_rows() -> Vec<Row> {
    let batch = "id,a,b,c\nn1,1,2,3\nn2,3,1,0\nn3,0,0,9\n";
    vec![
        fails(
            "archive rank: a batch of other feature dimensions",
            all(vec![
                archive_of_small(),
                file("narrow.csv", "id,a,b\nx,1,2\ny,3,4\n"),
            ]),
            "archive rank --archive {d}/archive --features {d}/narrow.csv",
            &[
                "narrow",
                "2 features per item",
                "the archive's items have 3",
            ],
        ),
        fails(
            "archive rank: labels that do not match the batch's items",
            all(vec![
                archive_of_small(),
                file("batch.csv", batch),
                file("labels.csv", "n1,x\nn2,y\nzz,z\n"),
            ]),
            "archive rank --archive {d}/archive --features {d}/batch.csv --labels {d}/labels.csv",
            &["labels.csv", "zz"],
        ),
        fails(
            "archive rank: a seen id that is not an item of the batch",
            all(vec![
                archive_of_small(),
                file("batch.csv", batch),
                file("seen.txt", "n9\n"),
            ]),
            "archive rank --archive {d}/archive --features {d}/batch.csv --seen {d}/seen.txt",
            &["\"n9\"", "not an item of batch \"batch\""],
        ),
        fails(
            "archive rank: a folder that is not an archive",
            all(vec![small_csv(), file("batch.csv", batch)]),
            "archive rank --archive {d} --features {d}/batch.csv",
            &["not an archive folder", "archive.json"],
        ),
        fails(
            "archive fold: a batch never ranked",
            archive_of_small(),
            "archive fold --archive {d}/archive --name later",
            &["no pending batch \"later\"", "demud archive rank"],
        ),
        fails(
            "archive fold: the same batch twice",
            all(vec![
                archive_of_small(),
                file("batch.csv", batch),
                earlier("archive rank --archive {d}/archive --features {d}/batch.csv -q"),
                earlier("archive fold --archive {d}/archive --name batch"),
            ]),
            "archive fold --archive {d}/archive --name batch",
            &["batch \"batch\" was folded into the archive already"],
        ),
        fails(
            "archive init: over an existing archive",
            archive_of_small(),
            "archive init --archive {d}/archive --features {d}/small.csv --k 2",
            &["archive", "exists and is not empty"],
        ),
        fails(
            "archive init: a batch name with a slash",
            small_csv(),
            "archive init --archive {d}/archive --features {d}/small.csv --k 2 --name a/b",
            &["a/b", "a batch name is"],
        ),
    ]
}

const GOOD: &str = "a,1,2\nb,3,4\nc,5,7\n";
const CODED: &str = "a,1,0.5,2.5\nb,2,0.1,3.5\nc,1,0.7,1.5\nd,2,0.2,0.25\n";
const SLOW: &str = "rank,index,id,label,score\n1,0,1,a,9\n2,1,2,a,8\n3,3,4,b,7\n4,5,6,c,6\n";

/// The run's render kept as `old-render`, then discover run again into the run folder with
/// other settings (which drops the render there).
fn stale_render() -> Setup {
    Box::new(|d| {
        copy_dir(&d.join("run/render"), &d.join("old-render"));
        ok_in(
            d,
            "discover --features {d}/features.npy --k 1 --out {d}/run --quiet",
        );
    })
}

/// The scaled run picks the base collection's items in the same order; its scores, squared
/// distances below the smallest f64, show as 0 and are said to have underflowed, not to be
/// copies.
fn same_picks_as_base(d: &Path, ran: &Ran) {
    ok_in(
        d,
        "discover --features {d}/base.csv --k 2 --out {d}/base --quiet",
    );
    assert_eq!(indices(&d.join("out")), indices(&d.join("base")));
    assert!(
        ran.stderr.contains("score(s) are below the smallest f64")
            && !ran.stderr.contains("reconstructs them exactly"),
        "{}",
        ran.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// The runner.

/// Runs one row in its own folder; `Err` says what went wrong.
fn run_row(row: &Row) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    (row.setup)(d);
    let before = snapshot(d);
    let started = Instant::now();
    let out = run_in(d, &row.args);
    let took = started.elapsed();
    let ran = Ran {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    if took > row.limit {
        return Err(format!("took {took:?}, more than {:?}", row.limit));
    }
    for trace in ["panicked", "stack backtrace", "frame #", "RUST_BACKTRACE"] {
        if ran.stderr.contains(trace) {
            return Err(format!("{trace:?} on stderr:\n{}", ran.stderr));
        }
    }
    match &row.expect {
        Expect::Fails(pieces) => {
            if out.status.success() {
                return Err(format!("succeeded; expected {pieces:?}\n{}", ran.stderr));
            }
            let missing: Vec<&String> =
                pieces.iter().filter(|p| !ran.stderr.contains(*p)).collect();
            if !missing.is_empty() {
                return Err(format!("message lacks {missing:?}:\n{}", ran.stderr));
            }
            // Our own errors are one line (clap's usage errors have their own layout).
            let message: Vec<&str> = ran
                .stderr
                .lines()
                .filter(|l| !l.starts_with("warning:") && !l.starts_with("note:"))
                .collect();
            if ran.stderr.starts_with("Error: ") && message.len() != 1 {
                return Err(format!("not one line:\n{}", ran.stderr));
            }
            if let Some(cause) = pieces.iter().find(|p| p.as_str() == "No such file") {
                if ran.stderr.matches(cause.as_str()).count() != 1 {
                    return Err(format!("the cause is repeated:\n{}", ran.stderr));
                }
            }
            let after = snapshot(d);
            if after != before {
                let changed: Vec<&PathBuf> = after
                    .keys()
                    .chain(before.keys())
                    .filter(|k| after.get(*k) != before.get(*k))
                    .collect();
                return Err(format!("the failure changed {changed:?}"));
            }
            Ok(())
        }
        Expect::Succeeds(check) => {
            if !out.status.success() {
                return Err(format!("failed:\n{}", ran.stderr));
            }
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(d, &ran))).map_err(|e| {
                let text = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!(
                    "check failed: {text}\nstdout: {}\nstderr: {}",
                    ran.stdout, ran.stderr
                )
            })
        }
    }
}

#[test]
fn every_bad_input_of_the_reliability_issue() {
    // A failed check is reported with its row below, not as a panic's backtrace.
    std::panic::set_hook(Box::new(|_| {}));
    let only = std::env::var("BAD_INPUT_ROW").ok();
    let table: Vec<Row> = table()
        .into_iter()
        .filter(|r| only.as_ref().is_none_or(|o| r.name.contains(o.as_str())))
        .collect();
    let mut names: Vec<&str> = table.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), table.len(), "row names are unique");
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(row) = table.get(i) else { break };
                if let Err(why) = run_row(row) {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{}: demud {}\n  {why}", row.name, row.args));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let _ = std::panic::take_hook();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        table.len(),
        failures.join("\n\n")
    );
}

/// `feat.csv`: 12 items in two groups (i0-i5 near the origin, i6-i11 near (5, 5, 5)), no
/// labels; `lab.csv`: `id,label` with `label` from `labels` (one per item, in order), and the
/// lines in `extra` appended.
fn labelled(labels: [&'static str; 12], extra: &'static str) -> Setup {
    Box::new(move |d| {
        let mut features = String::new();
        let mut text = String::from("id,label\n");
        for (i, label) in labels.iter().enumerate() {
            let base = if i < 6 { 0.0 } else { 5.0 };
            let t = (i % 6) as f64;
            features += &format!(
                "i{i},{},{},{}\n",
                base + t * 0.3,
                base + (t * 1.7).sin(),
                base + t * 0.1
            );
            if !label.is_empty() {
                text += &format!("i{i},{label}\n");
            }
        }
        write(d, "feat.csv", &features);
        write(d, "lab.csv", &(text + extra));
    })
}

const TWO_GROUPS: [&str; 12] = ["a", "a", "a", "a", "a", "a", "b", "b", "b", "b", "b", "b"];

/// The audit's bad inputs (issue 12, item 2).
fn audit_rows() -> Vec<Row> {
    let audit =
        "audit --features {d}/feat.csv --labels {d}/lab.csv -k 1 --neighbours 3 --out {d}/out";
    let mut one_off = TWO_GROUPS;
    one_off[2] = "b";
    let mut solo = TWO_GROUPS;
    solo[0] = "solo";
    let mut missing = TWO_GROUPS;
    missing[11] = "";
    vec![
        succeeds(
            "audit: an item labelled as the other group is ranked first, resembling its own",
            labelled(one_off, ""),
            audit,
            Box::new(|d, ran| {
                let table = rows(&d.join("out/audit.csv"));
                assert_eq!(table.len(), 12);
                assert_eq!(table[0][..4], ["1", "i2", "b", "a"]);
                assert!(ran.stdout.contains("i2"), "{}", ran.stdout);
                for f in ["features.csv", "neighbours.csv", "audit.json"] {
                    assert!(d.join("out").join(f).is_file(), "{f}");
                }
            }),
        ),
        fails(
            "audit: a label for an id that is not an item",
            labelled(TWO_GROUPS, "zz,a\n"),
            audit,
            &["lab.csv", "line 14", "\"zz\"", "not an item"],
        ),
        fails(
            "audit: an item without a label",
            labelled(missing, ""),
            audit,
            &["lab.csv", "have no label", "i11"],
        ),
        fails(
            "audit: an item labelled twice",
            labelled(TWO_GROUPS, "i3,b\n"),
            audit,
            &["lab.csv", "line 14", "\"i3\"", "labelled twice", "line 5"],
        ),
        fails(
            "audit: a class of one item",
            labelled(solo, ""),
            audit,
            &[
                "lab.csv",
                "class \"solo\" has one item",
                "\"i0\"",
                "at least 2",
            ],
        ),
        fails(
            "audit: a single class",
            labelled(["a"; 12], ""),
            audit,
            &["lab.csv", "at least 2 classes"],
        ),
        fails(
            "audit: a missing feature value",
            file("feat.csv", "i0,a,1,2\ni1,a,nan,3\ni2,b,5,5\ni3,b,6,5\n"),
            "audit --features {d}/feat.csv --out {d}/out",
            &["feat.csv", "item \"i1\"", "feature \"f0\"", "missing (NaN)"],
        ),
        fails(
            "audit: no labels anywhere",
            labelled(TWO_GROUPS, ""),
            "audit --features {d}/feat.csv --out {d}/out",
            &["feat.csv", "no labels", "--labels"],
        ),
        fails(
            "audit: --out holds an input",
            labelled(TWO_GROUPS, ""),
            "audit --features {d}/feat.csv --labels {d}/lab.csv --out {d}",
            &["holds the input", "feat.csv"],
        ),
        fails(
            "audit: a noise fraction outside (0, 1)",
            labelled(TWO_GROUPS, ""),
            "audit --features {d}/feat.csv --labels {d}/lab.csv --benchmark-noise 1.5",
            &["--benchmark-noise", "1.5", "between 0 and 1"],
        ),
    ]
}
