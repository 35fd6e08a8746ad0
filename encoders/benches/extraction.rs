//! Images per second of EfficientNet-Lite0 extraction: this crate (tch) against the same
//! model run by Python PyTorch in the project venv, on the same images, in the same run.
//!
//! `cargo bench -p demud-encoders --bench extraction` (after scripts/setup). Images: the Mars
//! sun JPEGs of ../shared when present (copied as they are, repeated to 64), generated
//! 256 x 256 PNGs otherwise. Rows:
//!
//! - `extract()`: the library's extraction loop as it stands ([`demud_encoders::extract`], its
//!   default decode workers);
//! - `sequential`: decode, [`Preprocess::apply`], `normalised_batch`, forward, one image after
//!   the other on one thread between forward passes ([`prepare_in_batches`] with 0 workers);
//! - `pipeline, N workers`: the same with decode and resize on N worker threads
//!   ([`prepare_in_batches`]) while the caller normalises and runs the network;
//! - `rust forward` / `python forward`: the forward pass alone on identical preprocessed
//!   tensors (Python: `extraction_pytorch.py`, torch from the venv, the same libtorch).
//!
//! Each row gives images/s (best of 3 passes), its ratio to Python's forward pass alone with 2
//! torch threads and the same allocator settings, the kernel's share of the CPU time its
//! passes took (`getrusage(RUSAGE_SELF)`, all threads: system / (user + system)), and how many
//! passes were done again because other processes took the CPU during them (more than a tenth
//! of a core, from /proc/stat; on 2 cores a compiler next door halves 2 torch threads or
//! worse), with in brackets those kept anyway after 4 tries. Rows take turns pass by pass.
//!
//! The table is printed twice: with glibc's malloc as it comes, then with glibc told to keep
//! freed memory (`mallopt(M_MMAP_MAX, 0)`, `mallopt(M_TRIM_THRESHOLD, ...)`, for both the Rust
//! process and the Python one). By default glibc serves each allocation over 32 MB (most of a
//! batch's activations) by a fresh `mmap` and returns it on free, so every forward pass
//! page-faults its activations in again: that is where the kernel time goes.
//!
//! Knobs for investigation (environment): `DEMUD_BENCH_IMAGES` (64), `DEMUD_BENCH_BATCH`
//! (32), `DEMUD_BENCH_SIDE` (scale the images to this side first, as full-size JPEGs: rover
//! frames are 1024 px and more; 0 = as they are).

use demud_datasets::images::{ImageCollection, ImageItem, Preprocess};
use demud_encoders::efficientnet::EfficientNetLite0;
use demud_encoders::extract::default_decode_workers;
use demud_encoders::extract::normalised_batch;
use demud_encoders::pipeline::{prepare_in_batches, PreparedImage};
use demud_encoders::{extract, Encoder, ExtractOptions, LayerExtractor, OnUnreadable};
use image::RgbImage;
use ndarray::Array4;
use ndarray_npy::WriteNpyExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

const REPEATS: usize = 3;

/// One pass of a row of the table.
type Pass<'a> = Box<dyn FnMut() + 'a>;
const THREADS: i32 = 2;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        })
        .unwrap_or(default)
}

/// `images` files in `dir`: the Mars JPEGs byte for byte (or re-encoded at `side` px), or
/// generated PNGs when ../shared is absent.
fn collection(dir: &Path, images: usize, side: u32) -> (ImageCollection, String) {
    let mars = workspace().join("../shared/data/mars-sun");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&mars)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    sources.sort();
    let mut items = Vec::new();
    let mut bytes = 0;
    for i in 0..images {
        let name = match sources.get(i % sources.len().max(1)) {
            Some(path) if side == 0 => {
                let name = format!("{i:03}.jpg");
                std::fs::copy(path, dir.join(&name)).unwrap();
                name
            }
            Some(path) => {
                let name = format!("{i:03}.jpg");
                let image = image::open(path).unwrap().to_rgb8();
                let image = image::imageops::resize(
                    &image,
                    side,
                    side,
                    image::imageops::FilterType::Triangle,
                );
                image.save(dir.join(&name)).unwrap();
                name
            }
            None => {
                let name = format!("{i:03}.png");
                let side = if side == 0 { 256 } else { side };
                let image = RgbImage::from_fn(side, side, |x, y| {
                    image::Rgb([(x ^ y) as u8, (x * 3) as u8, (y * 5 + i as u32) as u8])
                });
                image.save(dir.join(&name)).unwrap();
                name
            }
        };
        bytes += std::fs::metadata(dir.join(&name)).unwrap().len();
        items.push(ImageItem {
            id: name,
            label: None,
        });
    }
    let first = image::open(dir.join(&items[0].id)).unwrap();
    let what = format!(
        "{images} {} ({} x {} px, {:.1} kB each on average)",
        if sources.is_empty() {
            "generated PNGs"
        } else {
            "Mars sun JPEGs (../shared)"
        },
        first.width(),
        first.height(),
        bytes as f64 / images as f64 / 1e3
    );
    (
        ImageCollection {
            root: dir.to_path_buf(),
            items,
        },
        what,
    )
}

/// User and system CPU seconds of this process so far, all threads.
fn cpu_times() -> (f64, f64) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    (seconds(usage.ru_utime), seconds(usage.ru_stime))
}

/// Resident memory now and at its peak (MB), from /proc/self/status.
fn resident_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1e3)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds the machine has spent busy, all CPUs and processes (/proc/stat: user, nice,
/// system, irq, softirq, steal).
fn machine_busy() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: f64 = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .enumerate()
        .filter(|(i, _)| matches!(i, 0 | 1 | 2 | 5 | 6 | 7))
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum();
    ticks / ticks_per_s
}

/// Where the clocks stood at the start of something timed.
struct Snapshot {
    wall: Instant,
    busy: f64,
    user: f64,
    system: f64,
}

impl Snapshot {
    fn now() -> Self {
        let (user, system) = cpu_times();
        Snapshot {
            wall: Instant::now(),
            busy: machine_busy(),
            user,
            system,
        }
    }

    /// Wall seconds, this process's user and system seconds, and the CPU seconds every other
    /// process took, since the snapshot.
    fn since(&self) -> (f64, f64, f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        let (user, system) = cpu_times();
        let (user, system) = (user - self.user, system - self.system);
        let others = machine_busy() - self.busy - user - system;
        (wall, user, system, others)
    }
}

/// Other processes may use at most this share of one CPU during a pass; a pass they disturbed
/// more (on 2 cores, a compiler next door halves the throughput of 2 torch threads or worse)
/// is done again once the machine is quiet.
const DISTURBANCE: f64 = 0.1;
/// Passes tried before a disturbed one is kept (and flagged).
const TRIES: usize = 4;

/// Waits, at most 3 minutes, until other processes leave the CPUs alone for 2 s.
fn wait_for_quiet() {
    let start = Instant::now();
    while start.elapsed().as_secs() < 180 {
        let snapshot = Snapshot::now();
        std::thread::sleep(std::time::Duration::from_secs(2));
        let (wall, _, _, others) = snapshot.since();
        if others <= DISTURBANCE * wall {
            return;
        }
    }
}

/// One row of the table: the best images/s over its passes, the kernel's share of the CPU
/// time of its passes, and how many passes other processes disturbed.
#[derive(Default)]
struct Measured {
    images_per_s: f64,
    user: f64,
    system: f64,
    /// Passes done again because other processes took the CPU.
    redone: usize,
    /// Passes kept although disturbed (after [`TRIES`]).
    disturbed: usize,
}

impl Measured {
    /// Times one pass of `f` over `images` images, again if other processes disturbed it.
    fn pass(&mut self, images: usize, f: &mut dyn FnMut()) {
        for attempt in 1..=TRIES {
            let snapshot = Snapshot::now();
            f();
            let (wall, user, system, others) = snapshot.since();
            let quiet = others <= DISTURBANCE * wall;
            if quiet || attempt == TRIES {
                self.images_per_s = self.images_per_s.max(images as f64 / wall);
                self.user += user;
                self.system += system;
                self.disturbed += usize::from(!quiet);
                return;
            }
            self.redone += 1;
            wait_for_quiet();
        }
    }

    fn kernel_share(&self) -> f64 {
        self.system / (self.user + self.system).max(1e-9)
    }
}

/// Python's forward pass alone on `input`: images/s and its kernel share.
fn python(input: &Path, batch: usize, threads: i32, keep_memory: bool) -> Measured {
    let out = std::process::Command::new(workspace().join(".venv/bin/python"))
        .arg(workspace().join("encoders/benches/extraction_pytorch.py"))
        .arg(input)
        .args([
            batch.to_string(),
            REPEATS.to_string(),
            threads.to_string(),
            if keep_memory { "keep" } else { "default" }.to_string(),
        ])
        .output()
        .expect("the venv's python (scripts/setup)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let numbers: Vec<f64> = text
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    // The share is what the script measured; one second of CPU time split in that ratio.
    Measured {
        images_per_s: numbers[0],
        user: 1.0 - numbers[1],
        system: numbers[1],
        redone: numbers[2] as usize,
        disturbed: numbers[3] as usize,
    }
}

/// glibc keeps freed memory for reuse instead of unmapping it: no allocation is served by
/// its own `mmap` (which glibc unmaps on free), and the heap's top is never trimmed.
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator parameters; both values are valid for them.
    unsafe {
        assert_eq!(libc::mallopt(libc::M_MMAP_MAX, 0), 1);
        assert_eq!(libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX), 1);
    }
}

/// Per image, on one thread: decoding alone, the copy `to_rgb8` makes of an image already in
/// RGB, decoding a JPEG at a reduced DCT scale (no larger than the resize needs) then
/// [`Preprocess::apply`], with how far its pixels land from the usual path's (in levels). What
/// faster paths in `ImageCollection::load` would save.
fn faster_paths(collection: &ImageCollection, pre: &Preprocess) -> String {
    let n = collection.items.len() as f64;
    let (mut decode, mut copy, mut scaled, mut usual) = (0.0, 0.0, 0.0, 0.0);
    let (mut diff_sum, mut diff_max, mut values) = (0.0f64, 0u8, 0.0f64);
    for item in &collection.items {
        let path = collection.path(item);
        let t = Instant::now();
        let image = image::open(&path).unwrap();
        decode += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let rgb = image.to_rgb8();
        copy += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let prepared = pre.apply(&rgb);
        usual += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
        let small = match image::codecs::jpeg::JpegDecoder::new(file) {
            Ok(mut decoder) => {
                let (w, h) = (image.width(), image.height());
                let (rw, rh) = pre.geometry(w, h).resized;
                decoder.scale(rw.min(w) as u16, rh.min(h) as u16).unwrap();
                image::DynamicImage::from_decoder(decoder)
                    .unwrap()
                    .into_rgb8()
            }
            Err(_) => rgb.clone(), // not a JPEG
        };
        let fast = pre.apply(&small);
        scaled += t.elapsed().as_secs_f64();
        for (a, b) in fast.as_raw().iter().zip(prepared.as_raw()) {
            let d = a.abs_diff(*b);
            diff_sum += f64::from(d);
            diff_max = diff_max.max(d);
            values += 1.0;
        }
    }
    let ms = |s: f64| s * 1e3 / n;
    format!(
        "decode alone {:.2} ms + to_rgb8 copy {:.2} ms; decode at a reduced JPEG scale + resize and crop {:.2} ms \
         (usual decode + resize and crop {:.2} ms; pixels off by {:.2} levels on average, {} at most)",
        ms(decode),
        ms(copy),
        ms(scaled),
        ms(decode + copy + usual),
        diff_sum / values.max(1.0),
        diff_max
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches` builds it; only `cargo bench` measures.
    }
    let images = knob("DEMUD_BENCH_IMAGES", 64);
    let batch = knob("DEMUD_BENCH_BATCH", 32);
    let side = knob("DEMUD_BENCH_SIDE", 0) as u32;
    tch::set_num_threads(THREADS);
    let weights = workspace().join("models/efficientnet-lite0.safetensors");
    let model = EfficientNetLite0::load(&weights).expect("weights: run scripts/setup");
    let dir = tempfile::tempdir().unwrap();
    let (collection, what) = collection(dir.path(), images, side);
    let layers = ["pool".to_string()];
    let pre: Preprocess = model.preprocess();

    // Where the time of one image goes, one thread, outside any pipeline.
    let (mut load, mut apply, mut normalise) = (0.0, 0.0, 0.0);
    let mut prepared = Vec::new();
    for item in &collection.items {
        let t = Instant::now();
        let image = collection.load(item).unwrap();
        load += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let image = pre.apply(&image);
        apply += t.elapsed().as_secs_f64();
        let t = Instant::now();
        std::hint::black_box(pre.normalise(&image));
        normalise += t.elapsed().as_secs_f64();
        prepared.push(image);
    }
    let t = Instant::now();
    for chunk in prepared.chunks(batch) {
        let _ = std::hint::black_box(normalised_batch(&pre, chunk));
    }
    let batch_input = t.elapsed().as_secs_f64();
    let per_image = |s: f64| s * 1e3 / images as f64;
    let values: Vec<f32> = prepared.iter().flat_map(|i| pre.normalise(i)).collect();
    let input = Array4::from_shape_vec((images, 3, 224, 224), values).unwrap();
    let tensor =
        tch::Tensor::from_slice(input.as_slice().unwrap()).view([images as i64, 3, 224, 224]);
    let input_path = dir.path().join("input.npy");
    input
        .write_npy(std::fs::File::create(&input_path).unwrap())
        .unwrap();

    // The `pool` layer of a batch.
    let pool = |input: &tch::Tensor| {
        tch::no_grad(|| model.forward(input, &layers).unwrap().swap_remove(0))
    };
    let starts: Vec<usize> = (0..images).step_by(batch).collect();
    let forward_alone = |threads: i32| {
        tch::set_num_threads(threads);
        for &start in &starts {
            let n = batch.min(images - start) as i64;
            let _ = pool(&tensor.narrow(0, start as i64, n));
        }
    };
    let prepare = |item: &ImageItem| collection.load(item).map(|image| pre.apply(&image));
    let pipeline = |workers: usize, threads: i32| {
        tch::set_num_threads(threads);
        prepare_in_batches(
            &collection.items,
            batch,
            workers,
            prepare,
            |prepared: Vec<PreparedImage>| {
                let images = prepared
                    .into_iter()
                    .map(|p| p.image)
                    .collect::<Result<Vec<_>, _>>()?;
                let input = normalised_batch(&pre, &images);
                let out = pool(&input);
                let rows = Vec::<f32>::try_from(out.flatten(0, -1)).unwrap();
                assert_eq!(rows.len(), images.len() * 1280);
                Ok(())
            },
        )
        .unwrap();
    };
    let mut extractor = LayerExtractor::new(
        Box::new(EfficientNetLite0::load(&weights).unwrap()),
        &layers,
        pre,
        batch,
    )
    .unwrap();
    let library_name = format!("extract(), {} worker(s)", default_decode_workers());
    let mut library = || {
        tch::set_num_threads(THREADS);
        let options = ExtractOptions {
            on_unreadable: OnUnreadable::Fail,
            ..ExtractOptions::default()
        };
        extract(&mut extractor, &collection, options, |_| {}).unwrap();
    };
    // Warm-up: the first forward pass of a process sets libtorch up.
    forward_alone(THREADS);

    println!(
        "EfficientNet-Lite0 extraction of {what}, batch {batch}, images/s (best of {REPEATS})"
    );
    println!(
        "one image on one thread: decode {:.2} ms, resize and crop {:.2} ms, normalise {:.2} ms; \
         normalised_batch (normalise, gather the batch, copy it into a tensor) {:.2} ms",
        per_image(load),
        per_image(apply),
        per_image(normalise),
        per_image(batch_input)
    );
    println!(
        "faster paths, one image: {}",
        faster_paths(&collection, &pre)
    );
    // Rows: name, torch threads, what one pass does.
    let mut rows: Vec<(&str, i32, Pass)> = vec![
        (&library_name, THREADS, Box::new(&mut library)),
        (
            "sequential (0 workers)",
            THREADS,
            Box::new(|| pipeline(0, THREADS)),
        ),
        (
            "pipeline, 1 worker",
            THREADS,
            Box::new(|| pipeline(1, THREADS)),
        ),
        (
            "pipeline, 2 workers",
            THREADS,
            Box::new(|| pipeline(2, THREADS)),
        ),
        ("pipeline, 1 worker", 1, Box::new(|| pipeline(1, 1))),
        (
            "rust forward alone",
            THREADS,
            Box::new(|| forward_alone(THREADS)),
        ),
        ("rust forward alone", 1, Box::new(|| forward_alone(1))),
    ];
    for keep_memory in [false, true] {
        if keep_memory {
            keep_freed_memory();
            println!("\nglibc malloc keeping freed memory (M_MMAP_MAX 0, M_TRIM_THRESHOLD max; Python too):");
        } else {
            println!("\nglibc malloc as it comes:");
        }
        // Passes of the rows take turns, so that a disturbance (another process) spreads
        // over them rather than spoiling one.
        let mut measured: Vec<Measured> = rows.iter().map(|_| Measured::default()).collect();
        for _ in 0..REPEATS {
            for ((_, _, f), m) in rows.iter_mut().zip(&mut measured) {
                m.pass(images, f.as_mut());
            }
        }
        tch::set_num_threads(THREADS);
        let python_2 = python(&input_path, batch, THREADS, keep_memory);
        let python_1 = python(&input_path, batch, 1, keep_memory);
        let reference = python_2.images_per_s;
        println!(
            "{:<27} {:>13} {:>9} {:>21} {:>13} {:>16}",
            "",
            "torch threads",
            "images/s",
            "/ python forward (2)",
            "kernel share",
            "redone (kept)"
        );
        let named = rows.iter().map(|(name, threads, _)| (*name, *threads));
        let python_rows = [
            ("python forward alone", THREADS),
            ("python forward alone", 1),
        ];
        for ((name, threads), m) in named
            .chain(python_rows)
            .zip(measured.iter().chain([&python_2, &python_1]))
        {
            println!(
                "{name:<27} {threads:>13} {:>9.1} {:>21.2} {:>12.0}% {:>16}",
                m.images_per_s,
                m.images_per_s / reference,
                m.kernel_share() * 100.0,
                format!("{} ({})", m.redone, m.disturbed)
            );
        }
        let (now, peak) = resident_mb();
        println!("resident memory: {now:.0} MB now, {peak:.0} MB at the peak so far");
    }
}
