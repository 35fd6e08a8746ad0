//! What every command shares on the terminal: progress bars and libtorch's thread count.

use demud_datasets::extraction::ExtractionRecord;
use demud_datasets::images::ImageCollection;
use demud_encoders::{extract, ExtractOptions, Extraction, ExtractorSpec, FeatureExtractor};
use indicatif::{ProgressBar, ProgressStyle};

/// Whether a command shows progress bars and summaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Progress bars (on a terminal) and a summary line.
    Normal,
    /// Nothing but results and errors.
    Quiet,
}

impl Verbosity {
    /// From a command's `--quiet` flag.
    pub fn from_quiet(quiet: bool) -> Self {
        if quiet {
            Verbosity::Quiet
        } else {
            Verbosity::Normal
        }
    }
}

/// A progress bar on stderr, hidden when quiet (and by indicatif when not a terminal).
pub fn progress_bar(verbosity: Verbosity, what: &str, length: u64) -> ProgressBar {
    if verbosity == Verbosity::Quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Sets the threads libtorch may use, when given (default: its own choice, the core count).
pub fn set_torch_threads(threads: Option<i32>) {
    if let Some(threads) = threads {
        tch::set_num_threads(threads);
    }
}

/// Tells glibc to keep freed memory in the process: no `mmap` per large block, no trimming.
///
/// By default glibc serves every allocation over 32 MB (most of a batch's activations in
/// libtorch's forward pass) with a fresh `mmap` and unmaps it on free, so every forward pass
/// page-faults its activations in again: measured by `benches/extraction.rs`, half of
/// extraction's CPU time went to the kernel, and keeping the memory made extraction 2.1x
/// faster. The price: the process keeps its peak memory until it exits, which suits a
/// command that runs one job.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes glibc's thresholds for later allocations; it is called
    // first thing in `main`, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Runs an extraction with a progress bar, then warns of each image skipped, naming it.
pub fn extract_with_progress(
    extractor: &mut dyn FeatureExtractor,
    collection: &ImageCollection,
    options: ExtractOptions,
    verbosity: Verbosity,
) -> anyhow::Result<Extraction> {
    let bar = progress_bar(
        verbosity,
        &extractor.describe(),
        collection.items.len() as u64,
    );
    let result = extract(extractor, collection, options, |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    for (item, why) in &result.skipped {
        eprintln!("warning: skipped {}: {why}", item.id);
    }
    Ok(result)
}

/// Builds the extractor of `spec`, runs it over `collection` with a progress bar (default
/// options: unreadable images skipped and named) and returns the extraction with the records
/// of its features outputs.
pub fn extract_spec(
    spec: &ExtractorSpec,
    collection: &ImageCollection,
    verbosity: Verbosity,
) -> anyhow::Result<(Extraction, Vec<ExtractionRecord>)> {
    let mut extractor = spec.build()?;
    let result = extract_with_progress(
        extractor.as_mut(),
        collection,
        ExtractOptions::default(),
        verbosity,
    )?;
    let records = spec.records(extractor.as_ref())?;
    Ok((result, records))
}
