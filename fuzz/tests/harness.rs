//! The fuzzing harness finds what it is meant to find (a panic, an error without the file's
//! name, an allocation above the limit), names the target, seed and iteration, saves the
//! input, and runs every real target cleanly and reproducibly.

use demud_datasets::DataError;
use demud_fuzz::harness::{kind, run, Budget, Settings};
use demud_fuzz::mutate::Mutator;
use demud_fuzz::targets::{target, Checks, Target, TARGETS};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::process::Command;

fn settings(work: &Path, seed: u64, iterations: u64) -> Settings {
    Settings {
        seed,
        budget: Budget::Iterations(iterations),
        crashes: work.join("crashes"),
        corpus_out: None,
        work: work.join("work"),
        progress_every: 0.0,
    }
}

/// A reader with a planted bug: it panics on any input holding the byte `!`, and its errors
/// name the file unless the input holds `?`.
struct Planted;

impl Target for Planted {
    fn name(&self) -> &'static str {
        "planted"
    }
    fn file_name(&self) -> &'static str {
        "input.txt"
    }
    fn prepare(&self, _dir: &Path, _rng: &mut ChaCha8Rng) -> Result<Vec<Vec<u8>>, String> {
        Ok(vec![b"abc".to_vec(), b"hello".to_vec()])
    }
    fn tokens(&self) -> &'static [&'static str] {
        &["!", "?"]
    }
    fn mutate(&self, _m: &mut Mutator, input: &[u8]) -> Vec<u8> {
        input.to_vec()
    }
    fn check(&self, input: &Path) -> Checks {
        let bytes = std::fs::read(input).unwrap();
        assert!(!bytes.contains(&b'!'), "the planted bug");
        let mut checks = Checks::default();
        let file = std::path::PathBuf::from(if bytes.contains(&b'?') {
            "elsewhere"
        } else {
            input.to_str().unwrap()
        });
        let result: Result<(), DataError> = if bytes.len() % 2 == 0 {
            Ok(())
        } else {
            Err(std::io::Error::other("odd length"))
                .map_err(|source| DataError::Io { path: file, source })
        };
        checks.read(result, &[input]);
        checks
    }
}

#[test]
fn a_panic_is_found_with_its_target_seed_iteration_and_saved_input() {
    demud_fuzz::guard::keep_panic_messages();
    let work = tempfile::tempdir().unwrap();
    let finding = run(&Planted, &settings(work.path(), 5, 100_000)).unwrap_err();
    assert_eq!((finding.target, finding.seed), ("planted", 5));
    assert!(finding.iteration >= 2, "the seeds have no '!'");
    let saved = std::fs::read(finding.saved.as_ref().unwrap()).unwrap();
    let what = finding.what.clone();
    // Either the planted panic or the planted unnamed error came first; each is found.
    if what.starts_with("panic") {
        assert!(what.contains("the planted bug"), "{what}");
        assert!(
            saved.contains(&b'!'),
            "the saved input is the one that panicked"
        );
    } else {
        assert!(what.contains("does not name the file"), "{what}");
        assert!(saved.contains(&b'?') && saved.len() % 2 == 1);
    }
    let shown = finding.to_string();
    assert!(
        shown.contains("target planted, seed 5, iteration") && shown.contains("--replay"),
        "{shown}"
    );
}

#[test]
fn every_target_runs_cleanly_accepts_its_seeds_and_refuses_mutations_reproducibly() {
    let work = tempfile::tempdir().unwrap();
    for name in TARGETS {
        let target = target(name).unwrap();
        let a = run(target.as_ref(), &settings(&work.path().join("a"), 11, 400)).unwrap();
        assert_eq!(a.iterations, 400, "{name}");
        assert!(
            a.accepted > 0 && a.refused > 0,
            "{name}: {} accepted, {} refused",
            a.accepted,
            a.refused
        );
        assert!(a.kinds.len() > 1, "{name}: {:?}", a.kinds);
        // The same seed reads the same inputs with the same outcomes; another seed others.
        let b = run(target.as_ref(), &settings(&work.path().join("b"), 11, 400)).unwrap();
        assert_eq!((a.accepted, &a.kinds), (b.accepted, &b.kinds), "{name}");
        let c = run(target.as_ref(), &settings(&work.path().join("c"), 12, 400)).unwrap();
        assert_ne!((a.accepted, &a.kinds), (c.accepted, &c.kinds), "{name}");
    }
}

#[test]
fn error_kinds_keep_the_words_and_drop_paths_numbers_and_quoted_text() {
    let dir = Path::new("/tmp/fuzz-x/csv");
    assert_eq!(
        kind(
            "/tmp/fuzz-x/csv/input.csv, line 12: column 3 (wave length): cannot read \"1e\" as a number",
            dir
        ),
        "column # …: cannot read …"
    );
    assert_eq!(
        kind(
            "/tmp/fuzz-x/csv/m.csv, line 2: /tmp/fuzz-x/csv/images/zz.png does not exist",
            dir
        ),
        "<path> does not exist"
    );
    assert_eq!(
        kind(
            "/tmp/fuzz-x/csv/items.csv, line 4: id \"a\\\"b,(c\" is not an item of the collection",
            dir
        ),
        "id … is not an item"
    );
}

fn fuzz_binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_demud-fuzz"))
}

#[test]
fn the_binary_reports_an_allocation_above_the_limit_instead_of_aborting() {
    // With a limit of 0 bytes, the first allocation of a reader is "too large": the guard
    // must name the target, seed and iteration, save the input and exit with status 3.
    let work = tempfile::tempdir().unwrap();
    let crashes = work.path().join("crashes");
    let out = fuzz_binary()
        .args(["--target", "csv", "--iterations", "10", "--seed", "4"])
        .args(["--max-alloc-mib", "0", "--crashes"])
        .arg(&crashes)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("target csv (seed 4, iteration 0) asked for"),
        "{stderr}"
    );
    let saved: Vec<_> = std::fs::read_dir(&crashes).unwrap().collect();
    assert_eq!(saved.len(), 1, "{stderr}");
}

#[test]
fn the_binary_fuzzes_every_target_and_replays_an_input() {
    let work = tempfile::tempdir().unwrap();
    let out = fuzz_binary()
        .args(["--target", "all", "--iterations", "150", "--seed", "9"])
        .arg("--crashes")
        .arg(work.path().join("crashes"))
        .arg("--corpus-out")
        .arg(work.path().join("corpus"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in TARGETS {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(name) && l.contains(" 150 ")),
            "{name}: {stdout}"
        );
    }
    assert!(stdout.contains("no panic, abort, inconsistent result or unnamed error"));

    // An `.npy` claiming 10^12 values: refused by the reader, within a 64 MiB allocation
    // limit, when replayed.
    let huge = work.path().join("huge.npy");
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let mut header = dict.to_string();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 16]);
    std::fs::write(&huge, bytes).unwrap();
    let out = fuzz_binary()
        .args(["--target", "npy", "--max-alloc-mib", "64", "--replay"])
        .arg(&huge)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("refused by the main reader") && stdout.contains("holds 16 bytes"),
        "{stdout}"
    );
}
