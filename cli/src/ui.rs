//! What every command shares on the terminal: progress bars and libtorch's thread count.

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
