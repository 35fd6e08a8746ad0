//! What turns a crash into a report: panics are caught and their message kept, and an
//! allocator that refuses (with a report, then exit) any single allocation above a limit, since
//! a failed allocation aborts the process where no `catch_unwind` can see it.
//!
//! The inputs are kilobytes; a reader that asks for gigabytes trusted a size the file claims
//! and would, on a larger claim, abort a real run. [`GuardedAllocator`] is installed as the
//! global allocator by the `demud-fuzz` binary; [`set_context`] tells it which input is being
//! read, so that its report names the target, the seed, the iteration and a saved copy of the
//! input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The exit status after an allocation above the limit.
pub const EXIT_ALLOCATION: i32 = 3;

/// Largest single allocation allowed while an input is read (default 1 GiB).
static LIMIT: AtomicUsize = AtomicUsize::new(1 << 30);
/// Set while an over-limit allocation is being reported, so that the report's own
/// allocations pass.
static REPORTING: AtomicBool = AtomicBool::new(false);
/// Whether the limit applies (only while a reader runs).
static ARMED: AtomicBool = AtomicBool::new(false);
static ITERATION: AtomicU64 = AtomicU64::new(0);
static CONTEXT: Mutex<Option<Context>> = Mutex::new(None);

/// Which input is being read, for a report.
#[derive(Clone, Debug)]
pub struct Context {
    /// The target's name.
    pub target: &'static str,
    /// The run's seed.
    pub seed: u64,
    /// The file the reader is reading.
    pub input: PathBuf,
    /// Where to save a copy of it.
    pub crashes: PathBuf,
}

/// Sets the target, seed and input of the reads that follow.
pub fn set_context(context: Context) {
    *CONTEXT.lock().unwrap_or_else(|e| e.into_inner()) = Some(context);
}

/// Sets the iteration of the read that follows.
pub fn set_iteration(iteration: u64) {
    ITERATION.store(iteration, Ordering::Relaxed);
}

/// Sets the largest single allocation allowed while a reader runs.
pub fn set_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// Runs `f` (a reader) with the allocation limit in force.
pub fn armed<R>(f: impl FnOnce() -> R) -> R {
    struct Disarm;
    impl Drop for Disarm {
        fn drop(&mut self) {
            ARMED.store(false, Ordering::Relaxed);
        }
    }
    ARMED.store(true, Ordering::Relaxed);
    let _disarm = Disarm;
    f()
}

/// The global allocator of the `demud-fuzz` binary: the system allocator, with a report and
/// exit status [`EXIT_ALLOCATION`] instead of an abort when a reader asks for more than the
/// limit in one allocation.
pub struct GuardedAllocator;

impl GuardedAllocator {
    fn check(size: usize) {
        if size > LIMIT.load(Ordering::Relaxed)
            && ARMED.load(Ordering::Relaxed)
            && !REPORTING.swap(true, Ordering::SeqCst)
        {
            report_allocation(size);
        }
    }
}

// SAFETY: every call is forwarded to `System` with the same arguments; `check` only reads
// atomics (and, once, reports and exits the process).
unsafe impl GlobalAlloc for GuardedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::check(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::check(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::check(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

/// Saves the input, says who asked for how much, and exits.
fn report_allocation(size: usize) -> ! {
    let context = CONTEXT.lock().map(|c| c.clone()).unwrap_or(None);
    let iteration = ITERATION.load(Ordering::Relaxed);
    match context {
        Some(c) => {
            let saved = save_input(&c, iteration, "alloc");
            eprintln!(
                "demud-fuzz: target {} (seed {}, iteration {iteration}) asked for {size} bytes in one allocation while reading {}; input saved as {}",
                c.target,
                c.seed,
                c.input.display(),
                saved.map_or_else(|e| format!("<not saved: {e}>"), |p| p.display().to_string())
            );
        }
        None => eprintln!("demud-fuzz: an allocation of {size} bytes outside any input"),
    }
    std::process::exit(EXIT_ALLOCATION)
}

/// Copies the current input into the crashes folder as
/// `<target>-seed<seed>-iteration<i>-<what>.<extension>`.
pub fn save_input(context: &Context, iteration: u64, what: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(&context.crashes)?;
    let extension = context
        .input
        .extension()
        .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    let saved = context.crashes.join(format!(
        "{}-seed{}-iteration{iteration}-{what}{extension}",
        context.target, context.seed
    ));
    std::fs::copy(&context.input, &saved)?;
    Ok(saved)
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    static CATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs a panic hook that keeps the message and location of a panic inside [`catch`] or
/// [`catch_panic`] (for the report) instead of printing it; other panics print as before.
pub fn keep_panic_messages() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !CATCHING.with(std::cell::Cell::get) {
            return default(info);
        }
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<no message>".to_string());
        let at = info
            .location()
            .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{message}{at}")));
    }));
}

/// Runs `f`; a panic comes back as its message.
pub fn catch_panic<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    LAST_PANIC.with(|p| p.borrow_mut().take());
    let was = CATCHING.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(was));
    result.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// Runs `f` (a reader) with the allocation limit in force; a panic comes back as its
/// message.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_panic(|| armed(f))
}
