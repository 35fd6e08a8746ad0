//! DEMUD at scale (issue 15): seconds per selection and peak memory on collections generated
//! on disk and memory-mapped, in f32 and f16 storage, next to one f32 matrix-vector pass
//! (`sgemv`) over the same items, measured in the same run.
//!
//! `cargo bench --bench scale` runs n = 100,000 (f32 and f16) and n = 1,000,000 (f16: an
//! 8.2 GB file; its f32 twin would take 16 GB and is not made), d = 4,096, k = 50.
//! `DEMUD_SCALE_SIZES=100000:f32,100000:f16` chooses the runs, `DEMUD_SCALE_DIR` the folder of
//! the generated files (default: the system's temporary folder), `DEMUD_SCALE_SELECTIONS` the
//! selections timed per run (default 20), `DEMUD_SCALE_KEEP=1` keeps the files (deleted
//! after each run otherwise).
//!
//! Each run is a child process, so that its peak memory (`VmHWM`, which counts the mapped
//! file's pages it has read) is its own. In the child: one pass in the storage precision
//! reads the file into the page cache (the cold pass); the median of 5 more is the warm pass;
//! the engine starts from a model of the first 200 items (as `benches/selection.rs`), so the
//! start is the exact O(n d k) build of the per-item state (what a refresh costs every 256
//! selections); then the selections are timed. Last, for the f32 comparison over the same
//! items, f16 items are widened block by block (100,000 rows, 1.6 GB) and `sgemv` is timed
//! on each block: the sum is one f32 pass over the collection, from memory as in the f32 run.

use demud::model::Truncation;
use demud::{DemudParams, Element, Init, SubspaceModel};
use ndarray::{s, ArrayView2};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "common/large_npy.rs"]
mod large_npy;
use large_npy::Precision;

const D: usize = 4096;
const K: usize = 50;
const SEED: u64 = 15;
/// Items of the prior model the engine starts from.
const PRIOR: usize = 200;
/// Rows per block of the f32 comparison pass over f16 items.
const SGEMV_BLOCK: usize = 100_000;

fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::F32 => "f32",
        Precision::F16 => "f16",
    }
}

fn parse_precision(s: &str) -> Precision {
    match s {
        "f32" => Precision::F32,
        "f16" => Precision::F16,
        other => panic!("{other:?} is not a precision: f32 or f16"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn timed<R>(f: impl FnOnce() -> R) -> (R, f64) {
    let start = Instant::now();
    let r = f();
    (r, start.elapsed().as_secs_f64())
}

/// Peak resident memory of this process so far, bytes.
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let n = args[2].parse().expect("n");
        let selections = args[5].parse().expect("selections");
        child(
            n,
            parse_precision(&args[3]),
            Path::new(&args[4]),
            selections,
        );
        return;
    }
    // `cargo bench` passes --bench; a plain `cargo test --benches` run passes nothing: keep it short.
    let full = args.iter().any(|a| a == "--bench");
    let sizes: Vec<(usize, Precision)> = match std::env::var("DEMUD_SCALE_SIZES") {
        Ok(s) if full => s
            .split(',')
            .map(|v| {
                let (n, p) = v.trim().split_once(':').expect("sizes are N:f32 or N:f16");
                (n.parse().expect("N is a number"), parse_precision(p))
            })
            .collect(),
        _ if full => vec![
            (100_000, Precision::F32),
            (100_000, Precision::F16),
            (1_000_000, Precision::F16),
        ],
        _ => vec![(600, Precision::F32), (600, Precision::F16)],
    };
    let selections: usize = std::env::var("DEMUD_SCALE_SELECTIONS")
        .ok()
        .map_or(if full { 20 } else { 3 }, |v| v.parse().expect("a number"));
    let dir = std::env::var_os("DEMUD_SCALE_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let keep = std::env::var("DEMUD_SCALE_KEEP").is_ok_and(|v| v == "1");
    println!(
        "DEMUD at scale: d = {D}, k = {K}, mapped .npy, {selections} selections per run; f16 kernel {:?}; {} cores; OPENBLAS_CORETYPE={}",
        demud::element::half_dot::Kernel::detected(),
        std::thread::available_parallelism().map_or(1, usize::from),
        std::env::var("OPENBLAS_CORETYPE").unwrap_or_else(|_| "(unset)".into()),
    );
    println!(
        "{:>8} {:>5} {:>9} {:>8} {:>9} {:>10} {:>10} {:>10} {:>11} {:>9} {:>9} {:>7}  load",
        "n",
        "store",
        "data GB",
        "gen (s)",
        "start (s)",
        "sel. (ms)",
        "pass (ms)",
        "cold (ms)",
        "sgemv (ms)",
        "sel/sgemv",
        "peak GB",
        "/data"
    );
    for (n, precision) in sizes {
        let path = dir.join(format!(
            "demud-scale-{n}x{D}-{}.npy",
            precision_name(precision)
        ));
        let ((), generated) =
            timed(|| large_npy::write(&path, n, D, SEED, precision).expect("write the collection"));
        let out = std::process::Command::new(std::env::current_exe().expect("this program"))
            .args([
                "--child",
                &n.to_string(),
                precision_name(precision),
                path.to_str().expect("a UTF-8 path"),
                &selections.to_string(),
            ])
            .output()
            .expect("run the child");
        if !keep {
            std::fs::remove_file(&path).expect("remove the generated file");
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
            panic!(
                "the run of {n} {} failed: {}{}",
                precision_name(precision),
                text,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let v: Vec<f64> = line
            .split_whitespace()
            .take(7)
            .map(|x| x.parse().expect("numbers"))
            .collect();
        let loads = line
            .split_whitespace()
            .skip(7)
            .collect::<Vec<_>>()
            .join(" ");
        let (data, start, selection, pass, cold, sgemv, peak) =
            (v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
        println!(
            "{n:>8} {:>5} {:>9.2} {generated:>8.1} {start:>9.1} {:>10.1} {:>10.1} {:>10.1} {:>11.1} {:>9.2} {:>9.2} {:>7.2}  {loads}",
            precision_name(precision),
            data / 1e9,
            selection * 1e3,
            pass * 1e3,
            cold * 1e3,
            sgemv * 1e3,
            selection / sgemv,
            peak / 1e9,
            peak / data,
        );
    }
}

/// One run: prints `RESULT data start selection pass cold sgemv peak load-before load-after`.
fn child(n: usize, precision: Precision, path: &Path, selections: usize) {
    let before = load();
    let file = std::fs::File::open(path).expect("open the collection");
    // SAFETY: the file was written whole by the parent before this process started, and
    // nothing writes to it while it is mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("map the collection");
    // .npy 1.0: the header's length at bytes 8-9; the data follows, 64-byte aligned.
    let offset = 10 + usize::from(u16::from_le_bytes([map[8], map[9]]));
    let bytes = &map[offset..];
    let data = bytes.len() as f64;
    let result = match precision {
        Precision::F32 => measure::<f32>(bytemuck::cast_slice(bytes), n, selections),
        Precision::F16 => measure::<half::f16>(bytemuck::cast_slice(bytes), n, selections),
    };
    let (start, selection, pass, cold, sgemv, peak) = result;
    println!(
        "RESULT {data} {start} {selection} {pass} {cold} {sgemv} {peak} {before} -> {}",
        load()
    );
}

fn measure<T: Element>(
    values: &[T],
    n: usize,
    selections: usize,
) -> (f64, f64, f64, f64, f64, f64) {
    let x = ArrayView2::from_shape((n, D), values).expect("n x d values");
    let probe = x.row(n / 2);
    let (_, cold) = timed(|| std::hint::black_box(T::dot_rows(x, probe)));
    let pass = median(
        (0..5)
            .map(|_| timed(|| std::hint::black_box(T::dot_rows(x, probe))).1)
            .collect(),
    );
    let prior = x.slice(s![..PRIOR.min(n), ..]).mapv(Element::to_f64);
    let model = SubspaceModel::from_items(prior.view(), K, Truncation::DropNullDirections)
        .expect("prior SVD");
    let params = DemudParams::new(K).init(Init::Model(model));
    let (mut run, start) = timed(|| params.discover(x).expect("a valid run"));
    let count = selections.min(n - 1);
    let (_, total) = timed(|| {
        for _ in 0..count {
            run.next().expect("items remain").expect("a selection");
        }
    });
    let selection = total / count as f64;
    let peak = peak_memory() as f64;
    drop(run);
    // One f32 pass over the same items: the pass itself for f32 storage; for f16, sgemv on
    // blocks widened to f32 (each out of cache), summed.
    let sgemv = if T::NAME == "f32" {
        pass
    } else {
        let probe32 = probe.mapv(|v| v.to_f64() as f32);
        x.axis_chunks_iter(ndarray::Axis(0), SGEMV_BLOCK)
            .map(|block| {
                let wide = block.mapv(|v| v.to_f64() as f32);
                median(
                    (0..3)
                        .map(|_| timed(|| std::hint::black_box(wide.dot(&probe32))).1)
                        .collect(),
                )
            })
            .sum()
    };
    (start, selection, pass, cold, sgemv, peak)
}
