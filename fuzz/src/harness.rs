//! The fuzzing loop: seeds first, then mutated inputs drawn from a growing corpus, each
//! written to the target's input file and read under `catch_unwind`, until the budget is
//! spent or something is found.

use crate::guard;
use crate::mutate::Mutator;
use crate::targets::{Checks, Target};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The most inputs the corpus holds.
const CORPUS: usize = 2000;

/// How long a target is fuzzed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Budget {
    /// For this many seconds.
    Seconds(f64),
    /// For this many inputs (the same inputs on any machine, for a given seed).
    Iterations(u64),
}

/// How a target is fuzzed.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The seed of every random choice.
    pub seed: u64,
    /// How long.
    pub budget: Budget,
    /// Where an input that crashed a reader is saved.
    pub crashes: PathBuf,
    /// Where inputs with a new outcome are saved, when given.
    pub corpus_out: Option<PathBuf>,
    /// A scratch folder (one subfolder per target).
    pub work: PathBuf,
    /// Seconds between progress lines on stderr (0: none).
    pub progress_every: f64,
}

/// What a run of one target did.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// The target.
    pub target: &'static str,
    /// Inputs read.
    pub iterations: u64,
    /// Inputs the main reader accepted.
    pub accepted: u64,
    /// Inputs the main reader refused.
    pub refused: u64,
    /// Every reader's errors by kind (their first words, numbers and quoted text elided),
    /// with counts.
    pub kinds: BTreeMap<String, u64>,
    /// Seconds spent.
    pub seconds: f64,
    /// Size of the corpus at the end.
    pub corpus: usize,
}

/// A crash, an inconsistent result, or an error without its file's name.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The target.
    pub target: &'static str,
    /// The run's seed.
    pub seed: u64,
    /// The iteration (0-based; the seeds come first).
    pub iteration: u64,
    /// What happened.
    pub what: String,
    /// The saved input, when there was one to save.
    pub saved: Option<PathBuf>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "target {}, seed {}, iteration {}: {}",
            self.target, self.seed, self.iteration, self.what
        )?;
        match &self.saved {
            Some(path) => write!(
                f,
                "\n  input saved as {} (replay: demud-fuzz --target {} --replay {})",
                path.display(),
                self.target,
                path.display()
            ),
            None => Ok(()),
        }
    }
}

/// A seed for one target and purpose, derived from the run's seed.
fn derive(seed: u64, name: &str, purpose: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes().chain(purpose.to_le_bytes()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    hash ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// An error message's kind: the message after the file's name (and line), with paths inside
/// `dir` as `<path>`, quoted and parenthesised text as `…`, numbers as `#`, at most six words
/// and none of the input's own text.
pub fn kind(message: &str, dir: &Path) -> String {
    let message = message.replace(&dir.display().to_string(), "<dir>");
    let after = message
        .split_once(": ")
        .map_or(message.as_str(), |(_, rest)| rest);
    // A path given unquoted (it may hold spaces) ahead of the reader's words.
    if after.starts_with("<dir>") && after.ends_with(" does not exist") {
        return "<path> does not exist".into();
    }
    let mut out = String::new();
    let mut closing = None;
    let mut escaped = false;
    let mut last_digit = false;
    for c in after.chars() {
        if let Some(close) = closing {
            // Quoted text is Rust's debug form: `\"` inside it does not close it.
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == close {
                closing = None;
            }
            continue;
        }
        match c {
            '"' | '(' if c == '"' || out.is_empty() || out.ends_with(' ') => {
                if !out.ends_with('…') {
                    out.push('…');
                }
                closing = Some(if c == '(' { ')' } else { '"' });
            }
            '0'..='9' => {
                if !last_digit {
                    out.push('#');
                }
            }
            _ => out.push(c),
        }
        last_digit = c.is_ascii_digit();
    }
    // Up to the first word glued to elided text or holding control characters: the input's
    // own bytes, not the reader's words.
    let plain = |word: &&str| {
        (!word.contains('…') || matches!(*word, "…" | "…:" | "…," | "…;" | "…."))
            && !word.chars().any(|c| c.is_control() || c == '\u{fffd}')
    };
    out.split_whitespace()
        .map(|word| {
            if word.contains("<dir>") {
                "<path>"
            } else {
                word
            }
        })
        .take_while(plain)
        .take(6)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fuzzes `target` under `settings`.
pub fn run(target: &dyn Target, settings: &Settings) -> Result<Stats, Finding> {
    let name = target.name();
    let dir = settings.work.join(name);
    let finding = |iteration: u64, what: String, saved: Option<PathBuf>| Finding {
        target: name,
        seed: settings.seed,
        iteration,
        what,
        saved,
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| finding(0, format!("cannot create {}: {e}", dir.display()), None))?;
    let mut prepare_rng = ChaCha8Rng::seed_from_u64(derive(settings.seed, name, 0));
    let seeds = guard::catch_panic(|| target.prepare(&dir, &mut prepare_rng))
        .map_err(|panic| finding(0, format!("a panic while writing the seeds: {panic}"), None))?
        .map_err(|e| finding(0, format!("a seed did not round-trip: {e}"), None))?;
    let input = dir.join(target.file_name());
    let context = guard::Context {
        target: name,
        seed: settings.seed,
        input: input.clone(),
        crashes: settings.crashes.clone(),
    };
    guard::set_context(context.clone());
    let save = |iteration: u64, what: &str| guard::save_input(&context, iteration, what).ok();

    let mut m = Mutator::new(ChaCha8Rng::seed_from_u64(derive(settings.seed, name, 1)));
    let mut corpus = seeds.clone();
    let mut stats = Stats {
        target: name,
        ..Stats::default()
    };
    let start = Instant::now();
    let mut next_progress = settings.progress_every;
    let mut iteration: u64 = 0;
    loop {
        let done = match settings.budget {
            Budget::Seconds(s) => start.elapsed() >= Duration::from_secs_f64(s),
            Budget::Iterations(n) => iteration >= n,
        };
        if done {
            break;
        }
        let bytes = if (iteration as usize) < seeds.len() {
            seeds[iteration as usize].clone()
        } else {
            let mut bytes = corpus[m.below(corpus.len())].clone();
            let other = corpus[m.below(corpus.len())].clone();
            for _ in 0..m.count() {
                if m.rng().random_bool(target.structural_share()) {
                    bytes = target.mutate(&mut m, &bytes);
                } else {
                    m.mutate_bytes(&mut bytes, &other, target.tokens());
                }
            }
            bytes
        };
        // A new file each time: rewriting one in place (truncating it) makes ext4 flush it to
        // disk at every close, which made the loop wait on the disk 80% of the time.
        let _ = std::fs::remove_file(&input);
        std::fs::write(&input, &bytes).map_err(|e| {
            finding(
                iteration,
                format!("cannot write {}: {e}", input.display()),
                None,
            )
        })?;
        guard::set_iteration(iteration);
        let checks = guard::catch(|| target.check(&input)).map_err(|panic| {
            finding(
                iteration,
                format!("panic: {panic}"),
                save(iteration, "panic"),
            )
        })?;
        if let Some(wrong) = checks.wrong {
            return Err(finding(iteration, wrong, save(iteration, "wrong")));
        }
        stats.iterations += 1;
        let new = record(&mut stats, &checks, &dir);
        if checks.accepted == Some(true) {
            stats.accepted += 1;
        } else {
            stats.refused += 1;
        }
        if new || (checks.accepted == Some(true) && m.below(16) == 0) {
            if corpus.len() < CORPUS {
                corpus.push(bytes.clone());
            } else {
                // Full: the new input takes the place of an earlier one (never a seed).
                let at = seeds.len() + m.below(CORPUS - seeds.len());
                corpus[at] = bytes.clone();
            }
            if let (true, Some(out)) = (new, &settings.corpus_out) {
                let out = out.join(name);
                let file = out.join(format!("{iteration:09}-{}", target.file_name()));
                std::fs::create_dir_all(&out)
                    .and_then(|()| std::fs::write(&file, &bytes))
                    .map_err(|e| {
                        finding(
                            iteration,
                            format!("cannot write {}: {e}", file.display()),
                            None,
                        )
                    })?;
            }
        }
        iteration += 1;
        if settings.progress_every > 0.0 && start.elapsed().as_secs_f64() >= next_progress {
            next_progress += settings.progress_every;
            eprintln!(
                "demud-fuzz: {name}: {:.0} s, {} inputs, {} accepted, {} refused, {} error kinds, corpus {}",
                start.elapsed().as_secs_f64(),
                stats.iterations,
                stats.accepted,
                stats.refused,
                stats.kinds.len(),
                corpus.len()
            );
        }
    }
    stats.seconds = start.elapsed().as_secs_f64();
    stats.corpus = corpus.len();
    Ok(stats)
}

/// Counts the errors of `checks` by kind; whether any kind (or "accepted") is new.
fn record(stats: &mut Stats, checks: &Checks, dir: &Path) -> bool {
    let mut new = false;
    for message in &checks.errors {
        let count = stats.kinds.entry(kind(message, dir)).or_insert(0);
        new |= *count == 0;
        *count += 1;
    }
    new || (checks.accepted == Some(true) && stats.accepted == 0)
}

/// Reads one saved input with `target`'s readers (after writing what they need beside it in
/// `settings.work`), as the fuzzing loop would.
pub fn replay(target: &dyn Target, file: &Path, settings: &Settings) -> Result<Checks, Finding> {
    let name = target.name();
    let dir = settings.work.join(name);
    let finding = |what: String| Finding {
        target: name,
        seed: settings.seed,
        iteration: 0,
        what,
        saved: Some(file.to_path_buf()),
    };
    std::fs::create_dir_all(&dir).map_err(|e| finding(e.to_string()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(derive(settings.seed, name, 0));
    guard::catch_panic(|| target.prepare(&dir, &mut rng))
        .map_err(|panic| finding(format!("a panic while writing the seeds: {panic}")))?
        .map_err(|e| finding(format!("a seed did not round-trip: {e}")))?;
    let input = dir.join(target.file_name());
    std::fs::copy(file, &input).map_err(|e| finding(format!("{}: {e}", file.display())))?;
    guard::set_context(guard::Context {
        target: name,
        seed: settings.seed,
        input: input.clone(),
        crashes: settings.crashes.clone(),
    });
    let checks =
        guard::catch(|| target.check(&input)).map_err(|p| finding(format!("panic: {p}")))?;
    match &checks.wrong {
        Some(wrong) => Err(finding(wrong.clone())),
        None => Ok(checks),
    }
}
