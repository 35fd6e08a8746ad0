//! Explanation arrays written as a discovery makes its selections (issue 15): each selection's
//! x̂ and e go to the run's files when it is made, so a run holds the data plus O(d) per
//! selection in flight, not every selection's explanations until the end.
//!
//! [`RunWriter`] streams the rows into a staging folder beside the run folder
//! ([`StagingFolder`]) under hidden `.NAME.partial` names; [`RunWriter::finish`] completes
//! the headers, renames them, writes the records and puts the folder in place in one step.
//! A failed or interrupted run leaves the previous run folder as it was and no complete-looking
//! array anywhere. [`ExplanationArrays`] keeps the rows in memory instead, for
//! [`super::run_discovery`]'s [`NewRun`] (small runs, tests).

use super::{
    write_records, ConditionerFile, Explanations, NewRun, RankedExplanations, CONDITIONER_FILE,
    CONDITIONER_FORMAT, CONDITIONER_VERSION, EXPECTED_FILE, RANKED_EXPECTED_FILE,
    RANKED_RESIDUAL_FILE, RESIDUAL_FILE,
};
use crate::atomic::StagingFolder;
use crate::error::{DataError, Result};
use demud::Conditioner;
use ndarray::{Array2, ArrayView1};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// One selection's explanation, handed to an [`ExplanationSink`] as it is made.
#[derive(Clone, Copy, Debug)]
pub struct ExplanationRow<'a> {
    /// x̂ in the features the user gave.
    pub expected: ArrayView1<'a, f64>,
    /// e in those features (NaN where a feature was missing).
    pub residual: ArrayView1<'a, f64>,
    /// x̂ in the space DEMUD ranked (the conditioned features; the features themselves
    /// without conditioning).
    pub ranked_expected: ArrayView1<'a, f64>,
    /// e in that space.
    pub ranked_residual: ArrayView1<'a, f64>,
}

/// Where a discovery puts each selection's explanation as it is made
/// ([`super::run_discovery_into`]).
pub trait ExplanationSink {
    /// Called once, before the first row: at most `rows` rows of `d` features will come;
    /// `conditioner` maps the features into the space DEMUD ranks (the identity when it ranks
    /// them as they are).
    fn begin(&mut self, rows: usize, d: usize, conditioner: &Conditioner) -> Result<()>;
    /// The next selection's explanation, in selection order.
    fn push(&mut self, row: ExplanationRow<'_>) -> Result<()>;
}

/// The explanations of a run kept in memory: [`NewRun::explanations`] and [`NewRun::ranked`]
/// as [`super::run_discovery`] returns them.
#[derive(Debug, Default)]
pub struct ExplanationArrays {
    d: usize,
    conditioner: Option<Conditioner>,
    rows: usize,
    expected: Vec<f64>,
    residual: Vec<f64>,
    ranked_expected: Vec<f64>,
    ranked_residual: Vec<f64>,
}

impl ExplanationSink for ExplanationArrays {
    fn begin(&mut self, _rows: usize, d: usize, conditioner: &Conditioner) -> Result<()> {
        self.d = d;
        self.conditioner = Some(conditioner.clone());
        Ok(())
    }
    fn push(&mut self, row: ExplanationRow<'_>) -> Result<()> {
        self.expected.extend(row.expected.iter());
        self.residual.extend(row.residual.iter());
        self.ranked_expected.extend(row.ranked_expected.iter());
        self.ranked_residual.extend(row.ranked_residual.iter());
        self.rows += 1;
        Ok(())
    }
}

impl ExplanationArrays {
    /// The arrays, one row per selection pushed; `None` when the sink was never begun.
    pub fn into_arrays(self) -> Option<(Explanations, RankedExplanations)> {
        let conditioner = self.conditioner?;
        let (n, d) = (self.rows, self.d);
        let array = |v: Vec<f64>, d: usize| {
            Array2::from_shape_vec((n, d), v).expect("rows of the width begun with")
        };
        let d_ranked = conditioner.output_dim();
        Some((
            Explanations {
                expected: array(self.expected, d),
                residual: array(self.residual, d),
            },
            RankedExplanations {
                conditioner,
                expected: array(self.ranked_expected, d_ranked),
                residual: array(self.ranked_residual, d_ranked),
            },
        ))
    }
}

/// The `.npy` header ndarray-npy writes for a little-endian, C-order `rows x d` f64 array.
/// For any two `usize` dimensions it is 128 bytes (its 64-byte padding absorbs every digit
/// count), so a header with the final row count fits where the reserved one was.
pub(crate) fn npy_header(rows: usize, d: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {d})}}");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    out.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// One `rows x d` f64 `.npy` array written a row at a time: the header claims the rows
/// reserved, and is rewritten with the rows written when fewer came (a run that stopped early).
#[derive(Debug)]
pub(crate) struct NpyRows {
    path: PathBuf,
    file: BufWriter<File>,
    d: usize,
    reserved: usize,
    rows: usize,
    header_len: usize,
}

impl NpyRows {
    /// Creates the file (refusing an existing one) with the header of `reserved` rows.
    pub(crate) fn create(path: &Path, reserved: usize, d: usize) -> Result<Self> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| DataError::write(path, e))?;
        let header = npy_header(reserved, d);
        let mut file = BufWriter::with_capacity(1 << 16, file);
        file.write_all(&header)
            .map_err(|e| DataError::write(path, e))?;
        Ok(NpyRows {
            path: path.to_path_buf(),
            file,
            d,
            reserved,
            rows: 0,
            header_len: header.len(),
        })
    }

    /// Appends one row of `d` values.
    pub(crate) fn push(&mut self, row: ArrayView1<'_, f64>) -> Result<()> {
        if row.len() != self.d || self.rows == self.reserved {
            return Err(DataError::write(
                &self.path,
                format!(
                    "row {} of {} values for an array of {} x {}",
                    self.rows + 1,
                    row.len(),
                    self.reserved,
                    self.d
                ),
            ));
        }
        for v in row.iter() {
            self.file
                .write_all(&v.to_le_bytes())
                .map_err(|e| DataError::write(&self.path, e))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Flushes and syncs the file, its header rewritten when fewer rows came than reserved.
    /// Returns the rows written.
    pub(crate) fn finish(self) -> Result<usize> {
        let path = self.path;
        let io = |e: std::io::Error| DataError::write(&path, e);
        let mut file = self.file.into_inner().map_err(|e| io(e.into_error()))?;
        if self.rows != self.reserved {
            let header = npy_header(self.rows, self.d);
            if header.len() != self.header_len {
                return Err(DataError::write(&path, "the array's header changed length"));
            }
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            file.write_all(&header).map_err(io)?;
            file.set_len((self.header_len + 8 * self.rows * self.d) as u64)
                .map_err(io)?;
        }
        file.sync_all().map_err(io)?;
        Ok(self.rows)
    }
}

/// The arrays a run folder streams: the explanations in the features, and in the conditioned
/// space when the run conditioned them.
#[derive(Debug)]
struct Streams {
    expected: NpyRows,
    residual: NpyRows,
    ranked: Option<(Conditioner, NpyRows, NpyRows)>,
}

/// The hidden name an array streams under until the run is finished.
fn partial(staging: &Path, name: &str) -> PathBuf {
    staging.join(format!(".{name}.partial"))
}

/// A run folder written while the run is made: the [`ExplanationSink`] of `demud discover`.
/// [`RunWriter::begin`] makes the staging folder beside the run folder; the explanation arrays
/// stream into it; [`RunWriter::finish`] writes the records and puts the folder in place, as
/// [`super::write_run`] does. Dropped unfinished (an error, a panic), the staging folder is
/// removed and the run folder is untouched.
#[derive(Debug)]
pub struct RunWriter {
    staging: StagingFolder,
    streams: Option<Streams>,
}

impl RunWriter {
    /// Starts the run folder `dir` (nothing at `dir` changes until [`RunWriter::finish`]).
    pub fn begin(dir: &Path) -> Result<Self> {
        Ok(RunWriter {
            staging: StagingFolder::begin(dir)?,
            streams: None,
        })
    }

    /// The run folder it writes.
    pub fn dir(&self) -> &Path {
        self.staging.target()
    }

    /// Completes the streamed arrays, writes `run`'s records beside them and puts the folder
    /// in place. `run` holds no explanation arrays: its record says whether they were written,
    /// and they must have one row per selection.
    pub fn finish(self, run: &NewRun) -> Result<()> {
        let RunWriter { staging, streams } = self;
        let dir = staging.target().to_path_buf();
        if run.explanations.is_some() || run.ranked.is_some() {
            return Err(DataError::file(
                &dir,
                "a streamed run takes its explanations from the rows written, not from arrays",
            ));
        }
        let wanted = run.record.explanations == super::ExplanationFiles::Written;
        let mut written = Vec::new();
        match (wanted, streams) {
            (false, None) => {}
            (true, Some(s)) => {
                let n = run.selections.len();
                let mut arrays = vec![(EXPECTED_FILE, s.expected), (RESIDUAL_FILE, s.residual)];
                let mut conditioner = None;
                if let Some((c, e, r)) = s.ranked {
                    arrays.extend([(RANKED_EXPECTED_FILE, e), (RANKED_RESIDUAL_FILE, r)]);
                    conditioner = Some(c);
                }
                for (name, rows) in arrays {
                    let made = rows.finish()?;
                    if made != n {
                        return Err(DataError::file(
                            &dir,
                            format!("{made} rows of {name} for {n} selections"),
                        ));
                    }
                    let from = partial(staging.path(), name);
                    std::fs::rename(&from, staging.path().join(name))
                        .map_err(|e| DataError::write(&from, e))?;
                }
                written.extend([EXPECTED_FILE, RESIDUAL_FILE]);
                if let Some(conditioner) = conditioner {
                    super::write_json(
                        &staging.path().join(CONDITIONER_FILE),
                        &ConditionerFile {
                            format: CONDITIONER_FORMAT.into(),
                            version: CONDITIONER_VERSION,
                            conditioner,
                        },
                    )?;
                    written.extend([CONDITIONER_FILE, RANKED_EXPECTED_FILE, RANKED_RESIDUAL_FILE]);
                }
            }
            (true, None) => {
                return Err(DataError::file(
                    &dir,
                    "the run records explanations that were never streamed",
                ))
            }
            (false, Some(_)) => {
                return Err(DataError::file(
                    &dir,
                    "explanations were streamed for a run that records none",
                ))
            }
        }
        write_records(staging.path(), &dir, run, wanted, written)?;
        staging.commit()
    }
}

impl ExplanationSink for RunWriter {
    fn begin(&mut self, rows: usize, d: usize, conditioner: &Conditioner) -> Result<()> {
        if self.streams.is_some() {
            return Err(DataError::file(self.dir(), "explanations begun twice"));
        }
        let at = |name| partial(self.staging.path(), name);
        let ranked = match conditioner.is_identity() {
            true => None,
            false => {
                let d_ranked = conditioner.output_dim();
                Some((
                    conditioner.clone(),
                    NpyRows::create(&at(RANKED_EXPECTED_FILE), rows, d_ranked)?,
                    NpyRows::create(&at(RANKED_RESIDUAL_FILE), rows, d_ranked)?,
                ))
            }
        };
        self.streams = Some(Streams {
            expected: NpyRows::create(&at(EXPECTED_FILE), rows, d)?,
            residual: NpyRows::create(&at(RESIDUAL_FILE), rows, d)?,
            ranked,
        });
        Ok(())
    }

    fn push(&mut self, row: ExplanationRow<'_>) -> Result<()> {
        let Some(s) = self.streams.as_mut() else {
            return Err(DataError::file(
                self.staging.target(),
                "a row before the explanations began",
            ));
        };
        s.expected.push(row.expected)?;
        s.residual.push(row.residual)?;
        if let Some((_, e, r)) = s.ranked.as_mut() {
            e.push(row.ranked_expected)?;
            r.push(row.ranked_residual)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn npy_of(array: &Array2<f64>) -> Vec<u8> {
        use ndarray_npy::WriteNpyExt;
        let mut out = Vec::new();
        array.write_npy(&mut out).unwrap();
        out
    }

    #[test]
    fn the_header_is_ndarray_npys() {
        for (n, d) in [
            (0, 0),
            (0, 3),
            (1, 1),
            (2, 3),
            (12, 4096),
            (1_000_000, 4096),
        ] {
            let bytes = npy_of(&Array2::zeros((n.min(12), d)));
            let header = npy_header(n.min(12), d);
            assert_eq!(header, bytes[..header.len()], "{n} x {d}");
            assert_eq!(npy_header(n, d).len(), 128);
        }
        assert_eq!(npy_header(usize::MAX, usize::MAX).len(), 128);
    }

    #[test]
    fn rows_streamed_are_the_array_written_whole_even_when_fewer_came() {
        let dir = tempfile::tempdir().unwrap();
        let a = Array2::from_shape_fn((5, 3), |(i, j)| i as f64 - 0.25 * j as f64);
        for (reserved, taken) in [(5, 5), (5, 2), (1_000_000_000, 3), (4, 0)] {
            let path = dir.path().join(format!("{reserved}-{taken}.npy"));
            let mut rows = NpyRows::create(&path, reserved, 3).unwrap();
            for r in 0..taken {
                rows.push(a.row(r)).unwrap();
            }
            assert_eq!(rows.finish().unwrap(), taken);
            let whole = npy_of(&a.slice(ndarray::s![..taken, ..]).to_owned());
            assert_eq!(std::fs::read(&path).unwrap(), whole, "{reserved} {taken}");
        }
        let path = dir.path().join("full.npy");
        let mut rows = NpyRows::create(&path, 1, 3).unwrap();
        rows.push(a.row(0)).unwrap();
        assert!(rows.push(a.row(1)).is_err(), "more rows than reserved");
        assert!(NpyRows::create(&path, 1, 3).is_err(), "an existing file");
    }
}
