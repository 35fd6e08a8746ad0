//! `demud-fuzz`: fuzzes demud's file readers for a time budget (see the crate documentation).
//!
//! ```text
//! demud-fuzz --target csv|npy|items|model|manifest|all --seconds S --seed N
//!            [--iterations N] [--crashes DIR] [--corpus-out DIR] [--max-alloc-mib M]
//!            [--replay FILE]
//! ```

use demud_fuzz::guard::{self, GuardedAllocator};
use demud_fuzz::harness::{self, Budget, Settings, Stats};
use demud_fuzz::targets::{target, TARGETS};
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: GuardedAllocator = GuardedAllocator;

const USAGE: &str = "usage: demud-fuzz --target csv|npy|items|model|manifest|all [--seconds S] [--iterations N] [--seed N]
                  [--crashes DIR] [--corpus-out DIR] [--max-alloc-mib M] [--replay FILE] [--kinds N]

  --seconds S        time budget, split evenly over the targets (default 60)
  --iterations N     inputs per target instead of a time budget (the same inputs on any machine)
  --seed N           seed of every random choice (default 0)
  --crashes DIR      where an input that crashed a reader is saved (default target/demud-fuzz/crashes)
  --corpus-out DIR   save every input with a new outcome (an error kind not seen before)
  --max-alloc-mib M  largest single allocation a reader may make (default 1024)
  --replay FILE      read one saved input with the target's readers and say what they made of it
  --kinds N          error kinds listed per target (default 8)
exit status: 0 nothing found; 1 a panic, an inconsistent result or an error without its file's name;
             2 usage; 3 an allocation above the limit";

struct Args {
    targets: Vec<&'static str>,
    seconds: f64,
    iterations: Option<u64>,
    seed: u64,
    crashes: PathBuf,
    corpus_out: Option<PathBuf>,
    max_alloc_mib: usize,
    replay: Option<PathBuf>,
    kinds: usize,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        targets: Vec::new(),
        seconds: 60.0,
        iterations: None,
        seed: 0,
        crashes: PathBuf::from("target/demud-fuzz/crashes"),
        corpus_out: None,
        max_alloc_mib: 1024,
        replay: None,
        kinds: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = |what: &str| format!("{flag}: {value:?} is not {what}");
        match flag.as_str() {
            "--target" => {
                args.targets = if value == "all" {
                    TARGETS.to_vec()
                } else {
                    value
                        .split(',')
                        .map(|t| {
                            TARGETS.iter().find(|n| **n == t).copied().ok_or(format!(
                                "unknown target {t:?} (the targets: {}, all)",
                                TARGETS.join(", ")
                            ))
                        })
                        .collect::<Result<_, _>>()?
                }
            }
            "--seconds" => {
                args.seconds = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or(number("a positive number of seconds"))?
            }
            "--iterations" => args.iterations = Some(value.parse().map_err(|_| number("a count"))?),
            "--seed" => args.seed = value.parse().map_err(|_| number("a whole number"))?,
            "--crashes" => args.crashes = value.into(),
            "--corpus-out" => args.corpus_out = Some(value.into()),
            "--max-alloc-mib" => {
                args.max_alloc_mib = value.parse().map_err(|_| number("a number of MiB"))?
            }
            "--replay" => args.replay = Some(value.into()),
            "--kinds" => args.kinds = value.parse().map_err(|_| number("a count"))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if args.targets.is_empty() {
        return Err("--target is required".into());
    }
    if args.replay.is_some() && args.targets.len() != 1 {
        return Err("--replay reads one input: name one target".into());
    }
    Ok(args)
}

fn summary(stats: &Stats) {
    let errors: u64 = stats.kinds.values().sum();
    println!(
        "{:<9} {:>11} {:>10} {:>10} {:>11} {:>6} {:>8.1} {:>9.0}",
        stats.target,
        stats.iterations,
        stats.accepted,
        stats.refused,
        errors,
        stats.kinds.len(),
        stats.seconds,
        stats.iterations as f64 / stats.seconds.max(1e-9)
    );
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("demud-fuzz: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if message.is_empty() { 0 } else { 2 });
        }
    };
    guard::keep_panic_messages();
    guard::set_limit(args.max_alloc_mib << 20);
    let work = match tempfile::Builder::new().prefix("demud-fuzz").tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("demud-fuzz: cannot make a scratch folder: {e}");
            return ExitCode::from(2);
        }
    };
    let per_target = args.seconds / args.targets.len() as f64;
    let settings = Settings {
        seed: args.seed,
        budget: match args.iterations {
            Some(n) => Budget::Iterations(n),
            None => Budget::Seconds(per_target),
        },
        crashes: args.crashes.clone(),
        corpus_out: args.corpus_out.clone(),
        work: work.path().to_path_buf(),
        progress_every: if per_target >= 120.0 { 60.0 } else { 0.0 },
    };

    if let Some(file) = &args.replay {
        let target = target(args.targets[0]).expect("a known target");
        return match harness::replay(target.as_ref(), file, &settings) {
            Ok(checks) => {
                println!(
                    "{}: {} by the main reader; {} error(s) over all readers",
                    file.display(),
                    if checks.accepted == Some(true) {
                        "accepted"
                    } else {
                        "refused"
                    },
                    checks.errors.len()
                );
                for error in &checks.errors {
                    println!("  {error}");
                }
                ExitCode::SUCCESS
            }
            Err(finding) => {
                eprintln!("demud-fuzz: FOUND: {finding}");
                ExitCode::from(1)
            }
        };
    }

    println!(
        "demud-fuzz: seed {}, {} per target, inputs <= {} KiB, allocations <= {} MiB",
        args.seed,
        match settings.budget {
            Budget::Seconds(s) => format!("{s:.1} s"),
            Budget::Iterations(n) => format!("{n} inputs"),
        },
        demud_fuzz::mutate::MAX_INPUT >> 10,
        args.max_alloc_mib
    );
    let mut all = Vec::new();
    for name in &args.targets {
        let target = target(name).expect("a known target");
        match harness::run(target.as_ref(), &settings) {
            Ok(stats) => all.push(stats),
            Err(finding) => {
                eprintln!("demud-fuzz: FOUND: {finding}");
                return ExitCode::from(1);
            }
        }
    }
    println!(
        "{:<9} {:>11} {:>10} {:>10} {:>11} {:>6} {:>8} {:>9}",
        "target", "inputs", "accepted", "refused", "errors", "kinds", "seconds", "inputs/s"
    );
    for stats in &all {
        summary(stats);
    }
    for stats in &all {
        let mut kinds: Vec<(&String, &u64)> = stats.kinds.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        println!(
            "{}: {} error kinds; the most frequent:",
            stats.target,
            kinds.len()
        );
        for (kind, count) in kinds.iter().take(args.kinds) {
            println!("  {count:>10}  {kind}");
        }
    }
    println!("demud-fuzz: no panic, abort, inconsistent result or unnamed error");
    ExitCode::SUCCESS
}
