//! Class hierarchy files, for the taxon distance of `demud ood`: a CSV whose first line is a
//! header naming the levels (`class,genus,family` or `subcategory,category`) and every
//! further line a class followed by its ancestors, nearest first. Ancestors may be left
//! empty at the end of a line (a shallower class); a class listed twice, an empty class or
//! an empty ancestor before a filled one is an error naming the line.
//!
//! ```
//! use demud_datasets::hierarchy::{read_hierarchy, write_hierarchy};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("h.csv");
//! let table = vec![("oak".to_string(), vec!["Quercus".to_string(), "Fagaceae".to_string()])];
//! write_hierarchy(&path, &["species", "genus", "family"], &table).unwrap();
//! assert_eq!(read_hierarchy(&path).unwrap(), table);
//! ```

use crate::atomic::write_atomic;
use crate::error::{DataError, Result};
use crate::features::csv_error;
use std::collections::HashMap;
use std::path::Path;

/// One class and its ancestors, nearest first.
pub type HierarchyRow = (String, Vec<String>);

/// Reads a hierarchy file (see the module).
pub fn read_hierarchy(path: &Path) -> Result<Vec<HierarchyRow>> {
    Ok(read_lines(path)?.into_iter().map(|(_, row)| row).collect())
}

/// Reads a group file, a hierarchy file of one level (`class,group`, header first), for
/// `classes`: the group of each class, in their order. A listed class that is not one of
/// `classes`, a line without a group or with more than one level is an error naming the
/// line; a class that is not listed is an error naming the file.
pub fn read_groups(path: &Path, classes: &[String]) -> Result<Vec<String>> {
    let mut group_of: HashMap<String, String> = HashMap::new();
    for (line, (class, ancestors)) in read_lines(path)? {
        if !classes.contains(&class) {
            return Err(DataError::line(
                path,
                line,
                format!(
                    "class {class:?} is not a class of the collection ({} classes, e.g. {:?})",
                    classes.len(),
                    classes.first().map_or("", String::as_str)
                ),
            ));
        }
        match ancestors.as_slice() {
            [group] => {
                group_of.insert(class, group.clone());
            }
            _ => {
                return Err(DataError::line(
                    path,
                    line,
                    format!(
                        "class {class:?} has {} groups; a group file has `class,group` lines",
                        ancestors.len()
                    ),
                ))
            }
        }
    }
    classes
        .iter()
        .map(|c| {
            group_of.get(c).cloned().ok_or_else(|| {
                DataError::file(
                    path,
                    format!("class {c:?} of the collection has no group here"),
                )
            })
        })
        .collect()
}

/// The lines of a hierarchy file with their line numbers.
fn read_lines(path: &Path) -> Result<Vec<(u64, HierarchyRow)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let mut rows = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(0, |p| p.line());
        let class = record.get(0).unwrap_or("").to_string();
        if class.is_empty() {
            return Err(DataError::line(
                path,
                line,
                "the class (first column) is empty",
            ));
        }
        if let Some(first) = seen.insert(class.clone(), line) {
            return Err(DataError::line(
                path,
                line,
                format!("class {class:?} is listed again (first on line {first})"),
            ));
        }
        let cells: Vec<&str> = record.iter().skip(1).collect();
        let filled = cells
            .iter()
            .rposition(|c| !c.is_empty())
            .map_or(0, |i| i + 1);
        if let Some(gap) = cells[..filled].iter().position(|c| c.is_empty()) {
            return Err(DataError::line(
                path,
                line,
                format!(
                    "class {class:?}: ancestor {} is empty but a farther one is not",
                    gap + 1
                ),
            ));
        }
        rows.push((
            line,
            (
                class,
                cells[..filled].iter().map(|c| c.to_string()).collect(),
            ),
        ));
    }
    if rows.is_empty() {
        return Err(DataError::file(path, "no class below the header"));
    }
    Ok(rows)
}

/// Writes a hierarchy file atomically, with `header` naming the class column and the levels.
pub fn write_hierarchy(path: &Path, header: &[&str], rows: &[HierarchyRow]) -> Result<()> {
    write_atomic(path, |w| {
        let mut csv = csv::WriterBuilder::new().flexible(true).from_writer(w);
        csv.write_record(header)?;
        for (class, ancestors) in rows {
            csv.write_record(std::iter::once(class).chain(ancestors))?;
        }
        csv.flush()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<HierarchyRow>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.csv");
        std::fs::write(&path, text).unwrap();
        read_hierarchy(&path)
    }

    #[test]
    fn reads_classes_with_their_ancestors() {
        let rows = read("class,genus,family\noak,Quercus,Fagaceae\nmoss,,\n").unwrap();
        assert_eq!(
            rows[0],
            ("oak".into(), vec!["Quercus".into(), "Fagaceae".into()])
        );
        assert_eq!(rows[1], ("moss".into(), vec![]));
    }

    #[test]
    fn bad_lines_are_named() {
        let err = read("class,genus\noak,Quercus\noak,Fagus\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 3") && err.contains("first on line 2"),
            "{err}"
        );
        let err = read("class,genus,family\noak,,Fagaceae\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("ancestor 1"),
            "{err}"
        );
        let err = read("class,genus\n,Quercus\n").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("empty"), "{err}");
        assert!(read("class,genus\n").is_err());
    }

    #[test]
    fn groups_are_read_for_the_classes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.csv");
        let classes = vec!["cat".to_string(), "oak".to_string()];
        let groups = |text: &str| {
            std::fs::write(&path, text).unwrap();
            read_groups(&path, &classes).map_err(|e| e.to_string())
        };
        assert_eq!(
            groups("class,group\noak,in\ncat,out\n").unwrap(),
            vec!["out".to_string(), "in".to_string()]
        );
        let err = groups("class,group\noak,in\ndog,out\ncat,out\n").unwrap_err();
        assert!(err.contains("line 3") && err.contains("\"dog\""), "{err}");
        let err = groups("class,group\noak,in\n").unwrap_err();
        assert!(err.contains("g.csv") && err.contains("\"cat\""), "{err}");
        let err = groups("class,group\noak,in,x\ncat,out\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("2 groups"), "{err}");
    }
}
