//! Helpers shared by the command-line tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `demud` binary.
#[allow(dead_code)] // each test file uses its own share of the helpers
pub fn demud(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_demud"))
        .args(args)
        .output()
        .expect("the demud binary runs")
}

/// Runs `demud`, which must succeed, and returns what it printed.
#[allow(dead_code)]
pub fn ok(args: &[&str]) -> String {
    let out = demud(args);
    assert!(
        out.status.success(),
        "demud {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `demud`, which must fail, and returns its error output.
#[allow(dead_code)]
pub fn fails(args: &[&str]) -> String {
    let out = demud(args);
    assert!(!out.status.success(), "demud {args:?} should have failed");
    String::from_utf8(out.stderr).unwrap()
}

/// A path as the `&str` argument the binary takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The data rows of a CSV file (header and `#` comment lines left out).
#[allow(dead_code)]
pub fn rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_path(path)
        .unwrap();
    r.records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}
