//! DEMUD over several processes: every process (rank) holds a contiguous range of the
//! collection's rows and a copy of the model, and all of them make the same selections as one
//! process holding the whole collection ([`DemudParams::discover`]).
//!
//! The engine does no communication itself: it calls a [`Collective`], implemented over MPI by
//! the `demud-cli` crate's `mpi` feature, and in-process by [`ThreadRanks`] (threads standing in
//! for ranks, for tests).
//!
//! Per selection, with the fast update (see `fast.rs`):
//!
//! 1. every rank updates its rows' fast state with `g_r = X_r x` (its share of the one pass over
//!    the collection) and finds its best remaining item and its second-best score;
//! 2. one all-gather of `(score, global index, second score)` per rank picks the global best
//!    (ties to the lower index, as one process breaks them);
//! 3. only when another item is within [`Element::NEAR_TIE`] of the best (the gathered second
//!    scores say so) a second all-gather of each rank's best exact re-score of its near-tied
//!    items decides, as the one-process loop re-scores them;
//! 4. the owner broadcasts the chosen row (and its `mu . x`, so every rank's fast update uses
//!    the number one process would), and every rank updates its model identically.
//!
//! The init (`mean`, `svd`) runs distributed too: the collection mean is an all-reduced sum;
//! the SVD is either the randomized SVD with its d x l sums all-reduced, or, where one process
//! would take the exact SVD, a TSQR of the ranks' R factors (`SubspaceModel::of_row_ranges`
//! says why not the Gram matrix). Refreshes of the fast state are local.

use super::fast::FastScores;
use super::rescaling::{Largest, Rescaling};
use super::{argmax, prepare_data, rescale_inputs, DemudParams, Init, ScorePath, Selection};
use super::{Compatibility, SelectionRule, UpdateMethod};
use crate::element::Element;
use crate::error::{DemudError, Result};
use crate::model::{IncrementalMethod, RankZeroStyle, RowRanges, SubspaceModel, Truncation};
use crate::scoring::{exact_scores, explain, MissingPolicy};
use ndarray::{Array1, Array2, ArrayView2, Axis, CowArray, Ix2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::{Arc, Barrier, Mutex};

/// The collective operations a distributed run needs, over a group of `size` ranks. Every rank
/// calls the same operations in the same order; each returns the same result on every rank.
pub trait Collective {
    /// This rank, `0..size`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Every rank's `local` (the same length on every rank), concatenated in rank order.
    fn all_gather(&self, local: &[f64]) -> Vec<f64>;
    /// Replaces `values` by their element-wise sum over the ranks. The result must be
    /// bit-identical on every rank (every rank's model is updated from it).
    fn all_reduce_sum(&self, values: &mut [f64]);
    /// Replaces `values` on every rank by `root`'s.
    fn broadcast(&self, values: &mut [f64], root: usize);
}

/// Ranks simulated by threads of one process: each thread holds one [`ThreadRanks`] and runs
/// the distributed loop on its rows. Every operation is an exchange through shared slots between
/// two barriers; sums are taken in rank order, so they are the same on every rank.
pub struct ThreadRanks {
    rank: usize,
    shared: Arc<Exchange>,
}

struct Exchange {
    barrier: Barrier,
    slots: Mutex<Vec<Vec<f64>>>,
}

impl ThreadRanks {
    /// A group of `size` ranks, one handle per rank (hand each to its own thread).
    pub fn group(size: usize) -> Vec<ThreadRanks> {
        let shared = Arc::new(Exchange {
            barrier: Barrier::new(size),
            slots: Mutex::new(vec![Vec::new(); size]),
        });
        (0..size)
            .map(|rank| ThreadRanks {
                rank,
                shared: Arc::clone(&shared),
            })
            .collect()
    }

    fn exchange(&self, local: &[f64]) -> Vec<Vec<f64>> {
        self.shared.slots.lock().expect("no rank panicked")[self.rank] = local.to_vec();
        self.shared.barrier.wait();
        let all = self.shared.slots.lock().expect("no rank panicked").clone();
        // Nobody writes the next operation's slot before everyone has read this one.
        self.shared.barrier.wait();
        all
    }
}

impl Collective for ThreadRanks {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.shared.barrier_size()
    }
    fn all_gather(&self, local: &[f64]) -> Vec<f64> {
        self.exchange(local).concat()
    }
    fn all_reduce_sum(&self, values: &mut [f64]) {
        let all = self.exchange(values);
        values.fill(0.0);
        for part in all {
            values.iter_mut().zip(part).for_each(|(v, p)| *v += p);
        }
    }
    fn broadcast(&self, values: &mut [f64], root: usize) {
        let all = self.exchange(values);
        values.copy_from_slice(&all[root]);
    }
}

impl Exchange {
    fn barrier_size(&self) -> usize {
        self.slots.lock().expect("no rank panicked").len()
    }
}

/// The other ranks' row ranges, as the SVD of the whole collection sees them.
struct Ranks<'c, C: Collective> {
    comm: &'c C,
    total: usize,
}

impl<C: Collective> RowRanges for Ranks<'_, C> {
    fn total_rows(&self) -> usize {
        self.total
    }
    fn sum(&self, values: &mut [f64]) -> Result<()> {
        self.comm.all_reduce_sum(values);
        Ok(())
    }
    fn stack(&self, r: Array2<f64>) -> Result<Option<Array2<f64>>> {
        if self.comm.size() == 1 {
            return Ok(None);
        }
        // Fixed-size all-gather: every rank's R padded with zero rows to the tallest (zero rows
        // change no R factor).
        let cols = r.ncols();
        let tallest = self
            .comm
            .all_gather(&[r.nrows() as f64])
            .into_iter()
            .fold(0.0_f64, f64::max) as usize;
        let mut padded = Array2::<f64>::zeros((tallest, cols));
        padded.slice_mut(ndarray::s![..r.nrows(), ..]).assign(&r);
        let all = self
            .comm
            .all_gather(padded.as_slice().expect("a new array is contiguous"));
        let stacked = Array2::from_shape_vec((tallest * self.comm.size(), cols), all)
            .map_err(|e| DemudError::invalid("distributed", e.to_string()))?;
        Ok(Some(stacked))
    }
}

/// A running distributed discovery on one rank: an iterator over the [`Selection`]s, the same
/// on every rank (global item indices). Created by [`DemudParams::discover_distributed`].
pub struct DistributedDiscovery<'a, 'c, T: Element, C: Collective> {
    comm: &'c C,
    /// This rank's rows, in the engine's units.
    data: CowArray<'a, T, Ix2>,
    /// Global index of this rank's first row.
    offset: usize,
    /// Items in all the ranks together.
    total: usize,
    /// Global index of every rank's first row, in rank order.
    starts: Vec<usize>,
    params: DemudParams,
    active: Vec<bool>,
    limit: usize,
    made: usize,
    model: Option<SubspaceModel>,
    state: Option<FastScores>,
    since_rebuild: usize,
    rescaling: Rescaling,
    failed: bool,
}

impl DemudParams {
    /// Starts a distributed run on this rank's `rows`: rank r holds the rows after those of
    /// ranks 0..r (contiguous ranges in rank order; a rank may hold none). Every rank must call
    /// this with the same parameters, and then iterate the same number of times.
    ///
    /// Supported: the `index`, `random`, `mean` and `svd` inits and a prior data set or saved
    /// model (on every rank); the `brand` and `ross` updates with the fast score path and the
    /// plain `lowhigh` score; missing values under `zero`. Refused (the same error on every
    /// rank): `full` and `static`, seen/withheld items, classes of interest, weights, other
    /// score methods, the exact score path, reference compatibility, the isolated-item rule,
    /// and missing values left in place (`ignore`).
    pub fn discover_distributed<'a, 'c, T: Element, C: Collective>(
        &self,
        rows: ArrayView2<'a, T>,
        comm: &'c C,
    ) -> Result<DistributedDiscovery<'a, 'c, T, C>> {
        self.check_distributed()?;
        let (local_n, d) = rows.dim();
        let counts = comm.all_gather(&[local_n as f64, d as f64]);
        let sizes: Vec<usize> = counts.chunks(2).map(|c| c[0] as usize).collect();
        if let Some(r) = counts.chunks(2).position(|c| c[1] as usize != d) {
            return Err(DemudError::DimensionMismatch {
                what: "another rank's rows",
                expected: d,
                found: counts[2 * r + 1] as usize,
            });
        }
        let offset: usize = sizes[..comm.rank()].iter().sum();
        let total: usize = sizes.iter().sum();
        self.check(total, d)?;
        // Values are checked locally; a refusal on one rank is agreed by all before anyone
        // goes on (a rank that went on alone would wait for the others forever).
        let prepared = prepare_data(rows, self.missing).map_err(|e| match e {
            DemudError::MissingValue { item, feature } => DemudError::MissingValue {
                item: item + offset,
                feature,
            },
            DemudError::InfiniteValue { item, feature } => DemudError::InfiniteValue {
                item: item + offset,
                feature,
            },
            other => other,
        });
        let local_largest = prepared.as_ref().map_or(Largest::default(), |p| p.1);
        let failed = comm.all_gather(&[
            f64::from(u8::from(prepared.is_err())),
            local_largest.value,
            (local_largest.item + offset) as f64,
            local_largest.feature as f64,
        ]);
        let (data, _) = prepared?;
        if let Some(r) = failed.chunks(4).position(|c| c[0] != 0.0) {
            return Err(DemudError::invalid(
                "distributed",
                format!("rank {r} refused its rows (its error says why)"),
            ));
        }
        // The largest |value| of the whole collection (the first such item, as one process
        // finds it) decides the rescaling, identically on every rank.
        let largest = failed.chunks(4).fold(Largest::default(), |best, c| {
            if c[1] > best.value {
                Largest {
                    value: c[1],
                    item: c[2] as usize,
                    feature: c[3] as usize,
                }
            } else {
                best
            }
        });
        let (data, init, rescaling) = rescale_inputs(data, largest, &self.init)?;
        let model = match &init {
            Init::Prior(prior) => Some(SubspaceModel::of_collection(
                prior.view(),
                self.k,
                Truncation::DropNullDirections,
                self.svd,
                self.seed,
            )?),
            Init::Model(saved) => Some(saved.clone()),
            _ => None,
        };
        let state = model
            .as_ref()
            .map(|m| FastScores::rebuild(data.view(), m, self.k));
        Ok(DistributedDiscovery {
            comm,
            active: vec![true; data.nrows()],
            data,
            offset,
            total,
            starts: sizes
                .iter()
                .scan(0, |start, &n| {
                    let this = *start;
                    *start += n;
                    Some(this)
                })
                .collect(),
            limit: self.n_select.unwrap_or(total).min(total),
            params: DemudParams {
                init,
                ..self.clone()
            },
            made: 0,
            model,
            state,
            since_rebuild: 0,
            rescaling,
            failed: false,
        })
    }

    /// Refuses what the distributed loop does not do. Depends on the parameters only, so every
    /// rank refuses alike without communicating.
    fn check_distributed(&self) -> Result<()> {
        let refuse = |what: &'static str, why: &str| {
            Err(DemudError::invalid(
                what,
                format!("{why} is not supported in a distributed run"),
            ))
        };
        if !matches!(self.update, UpdateMethod::Brand | UpdateMethod::Ross) {
            return refuse(
                "update",
                "only `brand` and `ross` (the fast update) run distributed: `full`/`static`",
            );
        }
        if !self.scoring.is_plain_norm() || self.scoring.interest().is_some() {
            return refuse(
                "score",
                "a score other than plain `lowhigh` (weights, `low`/`high`, a class of interest)",
            );
        }
        if self.path != ScorePath::Auto {
            return refuse("path", "the exact score path");
        }
        if self.compat != Compatibility::Clean {
            return refuse("compat", "reference compatibility");
        }
        if self.rule != SelectionRule::Residual {
            return refuse("selection", "the isolated-item rule");
        }
        if !self.seen.is_empty() || !self.withheld.is_empty() {
            return refuse("seen", "seen or withheld items");
        }
        if self.missing == MissingPolicy::Ignore {
            return refuse(
                "missing",
                "`ignore` (missing values left in place need the exact path)",
            );
        }
        Ok(())
    }
}

/// The best of the gathered `(score, global index)` pairs: the largest score, ties to the lower
/// index (as [`argmax`] breaks them over one process's items in order).
fn global_best(pairs: impl Iterator<Item = (f64, f64)>) -> Option<(usize, f64)> {
    let mut all: Vec<(usize, f64)> = pairs
        .filter(|&(_, i)| i >= 0.0)
        .map(|(s, i)| (i as usize, s))
        .collect();
    all.sort_by_key(|&(i, _)| i);
    argmax(all.into_iter())
}

impl<T: Element, C: Collective> DistributedDiscovery<'_, '_, T, C> {
    /// Number of selections this run will make in all.
    pub fn len_total(&self) -> usize {
        self.limit
    }

    /// Global index of this rank's first row, and the number of items in all ranks.
    pub fn rows(&self) -> (usize, usize) {
        (self.offset, self.total)
    }

    /// The current model (the same on every rank), in the data's units.
    pub fn model(&self) -> Option<SubspaceModel> {
        let r = self.rescaling;
        self.model.as_ref().map(|m| m.rescaled(|v| r.undo(v)))
    }

    /// This rank's best remaining item by `scores` (local row, score) among `active` rows.
    fn local_best(&self, scores: &[f64]) -> Option<(usize, f64)> {
        argmax(
            (0..self.active.len())
                .filter(|&i| self.active[i])
                .map(|i| (i, scores[i])),
        )
    }

    /// The global best under exact scores computed by each rank on its own rows.
    fn exact_pick(&self, model: &SubspaceModel) -> (usize, f64) {
        let scores = exact_scores(self.data.view(), &self.active, model, &self.params.scoring);
        let local = self.local_best(scores.as_slice().expect("contiguous"));
        let mine = local.map_or([f64::NEG_INFINITY, -1.0], |(i, s)| {
            [s, (i + self.offset) as f64]
        });
        let all = self.comm.all_gather(&mine);
        global_best(all.chunks(2).map(|c| (c[0], c[1]))).expect("an active item remains")
    }

    /// The collection mean: column sums all-reduced (no missing values remain).
    fn collection_mean(&self) -> Array1<f64> {
        let mut sums = self
            .data
            .map_axis(Axis(0), |col| col.iter().map(|v| v.to_f64()).sum::<f64>());
        self.comm
            .all_reduce_sum(sums.as_slice_mut().expect("a new array is contiguous"));
        sums / self.total as f64
    }

    /// The first selection and the model that chose it, for the inits without a model.
    fn first_pick(&self) -> Result<(usize, Option<SubspaceModel>)> {
        let model = match &self.params.init {
            Init::Index(i) => return Ok((*i, None)),
            Init::Random => {
                let i = ChaCha8Rng::seed_from_u64(self.params.seed).random_range(0..self.total);
                return Ok((i, None));
            }
            Init::Mean => {
                SubspaceModel::mean_only(self.collection_mean(), self.total, RankZeroStyle::Empty)
            }
            Init::Svd => SubspaceModel::of_row_ranges(
                self.data.view(),
                self.collection_mean(),
                self.params.k,
                Truncation::DropNullDirections,
                self.params.svd,
                self.params.seed,
                &Ranks {
                    comm: self.comm,
                    total: self.total,
                },
            )?,
            Init::Prior(_) | Init::Model(_) => unreachable!("these inits start with a model"),
        };
        let (i, _) = self.exact_pick(&model);
        Ok((i, Some(model)))
    }

    /// The next selection from the fast scores, near-ties re-scored exactly (as one process
    /// does): the global index.
    fn next_pick(&self) -> usize {
        let state = self
            .state
            .as_ref()
            .expect("the fast state exists with a model");
        let model = self.model.as_ref().expect("a model exists");
        let scores = state.scores();
        let scores = scores.as_slice().expect("contiguous");
        // Phase 1: each rank's best and second-best score.
        let best = self.local_best(scores);
        let second = best.map_or(f64::NEG_INFINITY, |(b, _)| {
            (0..self.active.len())
                .filter(|&i| self.active[i] && i != b)
                .map(|i| scores[i])
                .fold(f64::NEG_INFINITY, f64::max)
        });
        let mine = best.map_or([f64::NEG_INFINITY, -1.0, second], |(i, s)| {
            [s, (i + self.offset) as f64, second]
        });
        let all = self.comm.all_gather(&mine);
        let (index, top) =
            global_best(all.chunks(3).map(|c| (c[0], c[1]))).expect("an active item remains");
        // The largest score of any other item: the winner's rank's second, the others' best.
        let runner_up = all
            .chunks(3)
            .map(|c| {
                if c[1] as usize == index && c[1] >= 0.0 {
                    c[2]
                } else {
                    c[0]
                }
            })
            .fold(f64::NEG_INFINITY, f64::max);
        let floor = top - T::NEAR_TIE * top.abs();
        if runner_up < floor {
            return index;
        }
        // Phase 2: every item within rounding of the best is re-scored exactly by its rank.
        let close: Vec<usize> = (0..self.active.len())
            .filter(|&i| self.active[i] && scores[i] >= floor)
            .collect();
        let rows = self.data.select(Axis(0), &close);
        let exact = exact_scores(
            rows.view(),
            &vec![true; close.len()],
            model,
            &self.params.scoring,
        );
        let local = argmax(close.iter().map(|&i| i + self.offset).zip(exact));
        let mine = local.map_or([f64::NEG_INFINITY, -1.0], |(i, s)| [s, i as f64]);
        let all = self.comm.all_gather(&mine);
        global_best(all.chunks(2).map(|c| (c[0], c[1]))).map_or(index, |(i, _)| i)
    }

    /// Item `index` (global) on every rank, from its owner, with the fast state's `mu . x`.
    fn fetch(&self, index: usize) -> (Array1<f64>, f64) {
        let d = self.data.ncols();
        let mut buffer = vec![0.0; d + 1];
        let owner = self.owner(index);
        if owner == self.comm.rank() {
            let local = index - self.offset;
            for (b, v) in buffer.iter_mut().zip(self.data.row(local)) {
                *b = v.to_f64();
            }
            buffer[d] = self.state.as_ref().map_or(0.0, |s| s.mean_dot(local));
        }
        self.comm.broadcast(&mut buffer, owner);
        let mean_dot = buffer.pop().expect("d + 1 values");
        (Array1::from(buffer), mean_dot)
    }

    /// The rank holding global item `index`: the last whose range starts at or before it
    /// (ranks with empty ranges share their start with the next rank).
    fn owner(&self, index: usize) -> usize {
        self.starts.partition_point(|&s| s <= index) - 1
    }

    fn select(&mut self) -> Result<Selection> {
        let (index, first_model) = if self.model.is_none() {
            let (index, chooser) = self.first_pick()?;
            self.model = chooser;
            (index, true)
        } else {
            (self.next_pick(), false)
        };
        let (x, mean_dot_x) = self.fetch(index);
        let (expected, residual, score) = match &self.model {
            Some(model) => {
                let (expected, residual) = explain(model, x.view());
                let score = self.params.scoring.score(residual.view());
                (expected, residual, score)
            }
            None => (x.clone(), Array1::zeros(x.len()), 0.0),
        };
        self.learn(x, mean_dot_x, first_model)?;
        if let Some(local) = index.checked_sub(self.offset) {
            if local < self.active.len() {
                self.active[local] = false;
            }
        }
        self.made += 1;
        let r = self.rescaling;
        Ok(Selection {
            rank: self.made,
            index,
            score: r.undo_squared(score),
            expected: expected.mapv_into(|v| r.undo(v)),
            residual: residual.mapv_into(|v| r.undo(v)),
        })
    }

    /// Adds the selected item to every rank's model and this rank's fast state.
    fn learn(&mut self, x: Array1<f64>, mean_dot_x: f64, first_model: bool) -> Result<()> {
        let k = self.params.k;
        if first_model {
            // The model that chose the first item is discarded: the seen data is that item.
            let model = SubspaceModel::rank_zero(x.view(), RankZeroStyle::Empty);
            self.state = Some(FastScores::rebuild(self.data.view(), &model, k));
            self.model = Some(model);
            self.since_rebuild = 0;
            return Ok(());
        }
        let method = match self.params.update {
            UpdateMethod::Ross => IncrementalMethod::Ross,
            _ => IncrementalMethod::Brand,
        };
        let model = self.model.as_mut().expect("model exists");
        let change = model.add_item(x.view(), method, k)?;
        let state = self
            .state
            .as_mut()
            .expect("the fast state exists with a model");
        self.since_rebuild += 1;
        let every = self.params.refresh_every;
        if every > 0 && self.since_rebuild >= every {
            state.refresh(self.data.view(), model);
            self.since_rebuild = 0;
        } else {
            let item = x.mapv(T::from_f64);
            state.apply_item(self.data.view(), item.view(), mean_dot_x, &change, model);
        }
        Ok(())
    }
}

impl<T: Element, C: Collective> Iterator for DistributedDiscovery<'_, '_, T, C> {
    type Item = Result<Selection>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.made >= self.limit {
            return None;
        }
        let result = self.select();
        self.failed = result.is_err();
        Some(result)
    }
}

#[cfg(test)]
mod tests;
