//! Per-node shard files of a distributed run: the pattern naming each rank's file, the rows
//! each rank keeps of one shared file, and `demud-mpi shard`, which splits a `.npy` the way a
//! run over the shared file would split it.

use anyhow::{bail, Context, Result};
use demud_datasets::atomic::write_atomic;
use demud_datasets::features::{items_path, npy_header, open_features, MappedMatrix, MappedView};
use demud_datasets::CsvLayout;
use ndarray::{s, ArrayView2, Axis};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The placeholder of a shard pattern.
pub const RANK: &str = "{rank}";

/// Rows written per block by [`write_shards`]: the shard is copied a block at a time, never
/// held whole.
const BLOCK_ROWS: usize = 4096;

/// The rows of an `n`-item collection that rank `rank` of `size` keeps: `n r / P .. n (r+1) / P`
/// (contiguous, in rank order, sizes differing by at most one; a rank may keep none).
pub fn rows_of(n: usize, rank: usize, size: usize) -> Range<usize> {
    n * rank / size..n * (rank + 1) / size
}

/// The file of `rank` in a shard pattern: every `{rank}` replaced by the rank number. A pattern
/// without `{rank}` would give every rank the same file, and is refused.
pub fn shard_path(pattern: &Path, rank: usize) -> Result<PathBuf> {
    let text = pattern.to_str().with_context(|| {
        format!(
            "--shards {}: the pattern is not valid UTF-8",
            pattern.display()
        )
    })?;
    if !text.contains(RANK) {
        bail!(
            "--shards {text}: the pattern must contain {RANK} (replaced by each rank's number), or every rank would read the same file"
        );
    }
    Ok(PathBuf::from(text.replace(RANK, &rank.to_string())))
}

/// Maps a `.npy` for a run: little-endian f32 or f16 only (what can be ranked in place).
pub fn map(path: &Path) -> Result<MappedMatrix> {
    MappedMatrix::open(path)?.with_context(|| {
        format!(
            "{}: demud-mpi maps little-endian f32 or f16 .npy files only",
            path.display()
        )
    })
}

/// One shard written by [`write_shards`].
#[derive(Debug, PartialEq, Eq)]
pub struct Shard {
    /// Its file.
    pub path: PathBuf,
    /// The input's rows it holds.
    pub rows: Range<usize>,
}

/// Splits the `.npy` at `input` into `ranks` shards named by `pattern` ([`shard_path`]): shard r
/// holds rows [`rows_of`]`(n, r, ranks)`, in the input's precision, so a run over the shards
/// ranks the items a run over `input` ranks, with the same global indices. When the input has
/// an items file beside it, each shard gets its part (`<stem>.items.csv` beside the shard).
///
/// Nothing is overwritten: every output is checked first, and an existing one is an error
/// naming it. Each file is copied block by block into a temporary file renamed into place
/// ([`write_atomic`]), so an interrupted split leaves no partial shard under a shard's name.
pub fn write_shards(input: &Path, ranks: usize, pattern: &Path) -> Result<Vec<Shard>> {
    if ranks == 0 {
        bail!("--ranks must be at least 1");
    }
    let matrix = map(input)?;
    let beside = items_path(input);
    // The ids and labels (checked against the .npy: fingerprint, count, unique ids) when the
    // input has an items file; without one its ids are row numbers, which the run gives too.
    let names = match beside.is_file() {
        true => Some(open_features(input, CsvLayout::default(), None)?),
        false => None,
    };
    let mut shards = Vec::with_capacity(ranks);
    let (n, _) = matrix.dim();
    for r in 0..ranks {
        let path = shard_path(pattern, r)?;
        let mut outputs = vec![path.clone()];
        if names.is_some() {
            outputs.push(items_path(&path));
        }
        for out in outputs {
            if out.exists() || std::path::absolute(&out)? == std::path::absolute(input)? {
                bail!(
                    "{} exists: demud-mpi shard does not overwrite files",
                    out.display()
                );
            }
        }
        shards.push(Shard {
            path,
            rows: rows_of(n, r, ranks),
        });
    }
    for shard in &shards {
        let rows = shard.rows.clone();
        write_atomic(&shard.path, |w| {
            match matrix.view() {
                MappedView::F32(x) => {
                    copy_rows(w, "<f4", x.slice(s![rows, ..]), |v| v.to_le_bytes())
                }
                MappedView::F16(x) => {
                    copy_rows(w, "<f2", x.slice(s![rows, ..]), |v| v.to_le_bytes())
                }
            }?;
            Ok(())
        })?;
        if let Some(table) = &names {
            write_items(&items_path(&shard.path), table, shard.rows.clone())?;
        }
    }
    Ok(shards)
}

/// Writes `rows` as a `.npy` of `descr` values, a block of rows at a time.
fn copy_rows<T: Copy, const W: usize>(
    w: &mut dyn Write,
    descr: &str,
    rows: ArrayView2<T>,
    le_bytes: fn(T) -> [u8; W],
) -> std::io::Result<()> {
    w.write_all(&npy_header(descr, rows.nrows(), rows.ncols()))?;
    let mut bytes = Vec::with_capacity(BLOCK_ROWS * rows.ncols() * W);
    for block in rows.axis_chunks_iter(Axis(0), BLOCK_ROWS) {
        bytes.clear();
        for &v in block.iter() {
            bytes.extend_from_slice(&le_bytes(v));
        }
        w.write_all(&bytes)?;
    }
    Ok(())
}

/// The items file of a shard: `id[,label]` of its rows, with the header `read_items` skips.
fn write_items(
    path: &Path,
    table: &demud_datasets::features::FeatureTable,
    rows: Range<usize>,
) -> Result<()> {
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        match &table.labels {
            Some(labels) => {
                csv.write_record(["id", "label"])?;
                for i in rows {
                    csv.write_record([&table.ids[i], &labels[i]])?;
                }
            }
            None => {
                csv.write_record(["id"])?;
                for i in rows {
                    csv.write_record([&table.ids[i]])?;
                }
            }
        }
        csv.flush()?;
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn ranks_keep_contiguous_ranges_covering_every_row_once() {
        for n in [0, 1, 5, 7, 100] {
            for size in 1..=6 {
                let ranges: Vec<_> = (0..size).map(|r| rows_of(n, r, size)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[size - 1].end, n);
                for pair in ranges.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                }
                let (min, max) = ranges.iter().fold((usize::MAX, 0), |(a, b), r| {
                    (a.min(r.len()), b.max(r.len()))
                });
                assert!(max - min <= 1, "n {n} size {size}: {ranges:?}");
            }
        }
        assert_eq!(rows_of(5, 0, 4), 0..1);
        assert_eq!(rows_of(5, 3, 4), 3..5);
    }

    #[test]
    fn the_pattern_names_each_ranks_file() {
        let p = Path::new("/local/{rank}/archive-{rank}.npy");
        assert_eq!(
            shard_path(p, 12).unwrap(),
            Path::new("/local/12/archive-12.npy")
        );
        let err = shard_path(Path::new("/local/archive.npy"), 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must contain {rank}"), "{err}");
        assert!(err.contains("/local/archive.npy"), "{err}");
    }

    fn collection(dir: &Path, n: usize, labelled: bool) -> PathBuf {
        let x = Array2::from_shape_fn((n, 3), |(i, j)| (i * 3 + j) as f32);
        let ids: Vec<String> = (0..n).map(|i| format!("item{i}")).collect();
        let labels: Vec<String> = (0..n).map(|i| format!("c{}", i % 2)).collect();
        let path = dir.join("x.npy");
        demud_datasets::features::write_npy_features(
            &path,
            &ids,
            labelled.then_some(&labels[..]),
            &x,
        )
        .unwrap();
        path
    }

    #[test]
    fn shards_hold_the_rows_a_run_keeps_with_their_ids() {
        let dir = tempfile::tempdir().unwrap();
        let input = collection(dir.path(), 7, true);
        let pattern = dir.path().join("shard-{rank}.npy");
        let shards = write_shards(&input, 3, &pattern).unwrap();
        let whole = demud_datasets::features::read_features(&input, CsvLayout::default(), None)
            .unwrap()
            .matrix
            .to_f64();
        for (r, shard) in shards.iter().enumerate() {
            assert_eq!(shard.rows, rows_of(7, r, 3));
            let table =
                demud_datasets::features::read_features(&shard.path, CsvLayout::default(), None)
                    .unwrap();
            assert_eq!(
                table.matrix.to_f64(),
                whole.slice(s![shard.rows.clone(), ..])
            );
            let ids: Vec<String> = shard.rows.clone().map(|i| format!("item{i}")).collect();
            assert_eq!(table.ids, ids);
            let labels = table.labels.unwrap();
            assert_eq!(labels[0], format!("c{}", shard.rows.start % 2));
        }
    }

    #[test]
    fn a_split_overwrites_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let input = collection(dir.path(), 4, false);
        let pattern = dir.path().join("shard-{rank}.npy");
        std::fs::write(dir.path().join("shard-1.npy"), "keep").unwrap();
        let err = write_shards(&input, 2, &pattern).unwrap_err().to_string();
        assert!(err.contains("shard-1.npy exists"), "{err}");
        assert!(!dir.path().join("shard-0.npy").exists(), "checked first");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("shard-1.npy")).unwrap(),
            "keep"
        );
        let err = write_shards(&input, 0, &pattern).unwrap_err().to_string();
        assert!(err.contains("--ranks"), "{err}");
    }

    #[test]
    fn a_shard_without_an_items_file_gets_none() {
        let dir = tempfile::tempdir().unwrap();
        let input = collection(dir.path(), 4, false);
        std::fs::remove_file(items_path(&input)).unwrap();
        let shards = write_shards(&input, 2, &dir.path().join("s{rank}.npy")).unwrap();
        assert!(shards.iter().all(|s| !items_path(&s.path).exists()));
    }
}
