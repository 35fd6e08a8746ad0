//! Helpers shared by the command-line tests.

use std::path::Path;

/// A path as the `&str` argument the binary takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The data rows of a CSV file (header and `#` comment lines left out).
pub fn rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_path(path)
        .unwrap();
    r.records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}
