//! The fast score update: one pass over the collection plus O(n k^2) per selection.
//!
//! Per item i the state holds `a_i = ||x_i - mu||^2`, `p_i = U^T (x_i - mu)` and
//! `t_i = mu . x_i`; the score is `a_i - ||p_i||^2`. After an incremental update with
//! `v = x - mu` (x the selected item, m the old count), `mu' = mu + v/(m+1)` and
//! `U' = [U, J] R`, everything follows from `g_i = x . x_i` (one matrix-vector product):
//!
//! ```text
//! s_i   = v . (x_i - mu)      = g_i - t_i - mu.x + ||mu||^2
//! a_i'  = a_i - 2 s_i/(m+1) + ||v||^2/(m+1)^2
//! p_i'  = R^T [ p_i - L/(m+1) ;  (s_i - L . p_i)/K - K/(m+1) ]     (L = U^T v, K = ||v - U L||)
//! t_i'  = t_i + (g_i - t_i)/(m+1)
//! ```
//!
//! The bracket is `[U, J]^T (x_i - mu')`, using `J^T (x_i - mu) = (s_i - L . p_i)/K` and
//! `J^T v = K`.

use crate::element::Element;
use crate::model::{BasisChange, SubspaceModel};
use crate::scoring::for_each_centred_block;
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};

/// Per-item state of the fast path, for every row of the collection. The buffers are sized
/// once (n x k) and reused, so a selection allocates nothing of size n x k.
#[derive(Clone, Debug)]
pub(crate) struct FastScores {
    squared_distance: Array1<f64>,
    /// `p_i` in the first `rank` columns of n x capacity.
    coords: Array2<f64>,
    /// `[p_i - L/(m+1), J^T (x_i - mu')]` before the rotation, n x (capacity + 1).
    scratch: Array2<f64>,
    mean_dot: Array1<f64>,
    scores: Array1<f64>,
    mean_norm2: f64,
    rank: usize,
}

impl FastScores {
    /// Computes the state exactly from the model: O(n d r). `capacity` is the largest rank the
    /// model will reach.
    pub(crate) fn rebuild<T: Element>(
        data: ArrayView2<T>,
        model: &SubspaceModel,
        capacity: usize,
    ) -> Self {
        let n = data.nrows();
        let capacity = capacity.max(model.rank());
        let mut state = FastScores {
            squared_distance: Array1::zeros(n),
            coords: Array2::zeros((n, capacity)),
            scratch: Array2::zeros((n, capacity + 1)),
            mean_dot: Array1::zeros(n),
            scores: Array1::zeros(n),
            mean_norm2: 0.0,
            rank: 0,
        };
        state.refresh(data, model);
        state
    }

    /// Recomputes every quantity exactly from the model, reusing the buffers.
    pub(crate) fn refresh<T: Element>(&mut self, data: ArrayView2<T>, model: &SubspaceModel) {
        let mean = model.mean();
        let basis = model.basis();
        let rank = model.rank();
        let mean_norm2 = mean.dot(&mean);
        for_each_centred_block(data, mean, |start, centred| {
            let end = start + centred.nrows();
            // mu . x_i = mu . (x_i - mu) + ||mu||^2
            self.mean_dot
                .slice_mut(s![start..end])
                .assign(&centred.dot(&mean).mapv(|v| v + mean_norm2));
            self.squared_distance
                .slice_mut(s![start..end])
                .assign(&centred.map_axis(Axis(1), |r| r.dot(&r)));
            general_mat_mul(
                1.0,
                &centred,
                &basis,
                0.0,
                &mut self.coords.slice_mut(s![start..end, ..rank]),
            );
        });
        self.mean_norm2 = mean_norm2;
        self.rank = rank;
        self.update_scores();
    }

    fn update_scores(&mut self) {
        Zip::from(&mut self.scores)
            .and(&self.squared_distance)
            .and(self.coords.slice(s![.., ..self.rank]).rows())
            .for_each(|score, &a, p| *score = a - p.dot(&p));
    }

    /// Scores `a_i - ||p_i||^2` of every row (selected rows included; the caller masks them).
    pub(crate) fn scores(&self) -> ArrayView1<'_, f64> {
        self.scores.view()
    }

    /// Applies an incremental update in which row `selected` joined the model, whose state
    /// is now `updated`.
    pub(crate) fn apply<T: Element>(
        &mut self,
        data: ArrayView2<T>,
        selected: usize,
        change: &BasisChange,
        updated: &SubspaceModel,
    ) {
        let mean_dot_x = self.mean_dot[selected];
        self.apply_item(data, data.row(selected), mean_dot_x, change, updated);
    }

    /// `mu . x_i` as the state holds it for row `i` (`t_i`): what [`FastScores::apply_item`]
    /// needs of a selected item, which a distributed run sends along with the item.
    pub(crate) fn mean_dot(&self, i: usize) -> f64 {
        self.mean_dot[i]
    }

    /// [`FastScores::apply`] for a selected item `x` that need not be one of `data`'s rows (in a
    /// distributed run it is another process's), with its `t = mu . x` under the old model.
    pub(crate) fn apply_item<T: Element>(
        &mut self,
        data: ArrayView2<T>,
        x: ArrayView1<T>,
        mean_dot_x: f64,
        change: &BasisChange,
        updated: &SubspaceModel,
    ) {
        debug_assert_eq!(change.shift_in_basis.len(), self.rank);
        let r = self.rank;
        let inv = 1.0 / (change.old_count as f64 + 1.0);
        // The one pass over the collection, in the storage precision (BLAS gemv; for f16 a
        // fused widen-and-multiply-add kernel, `element::half_dot`).
        let g = T::dot_rows(data, x);
        let shift_norm2 = change.shift.dot(&change.shift);
        // s_i = v . (x_i - mu)
        let shift_dot = Zip::from(&g)
            .and(&self.mean_dot)
            .map_collect(|&g, &t| g - t - mean_dot_x + self.mean_norm2);
        let old = self.coords.slice(s![.., ..r]);
        let shifted_mean = change.shift_in_basis.mapv(|l| l * inv);
        Zip::from(self.scratch.slice_mut(s![.., ..r]).rows_mut())
            .and(old.rows())
            .for_each(|mut z, p| {
                Zip::from(&mut z)
                    .and(&p)
                    .and(&shifted_mean)
                    .for_each(|z, &p, &l| *z = p - l);
            });
        if let Some(norm) = change.new_direction {
            let along = old.dot(&change.shift_in_basis);
            Zip::from(self.scratch.column_mut(r))
                .and(&shift_dot)
                .and(&along)
                .for_each(|z, &s, &l| *z = (s - l) / norm - norm * inv);
        }
        let width = change.rotation.nrows();
        let keep = change.rotation.ncols();
        general_mat_mul(
            1.0,
            &self.scratch.slice(s![.., ..width]),
            &change.rotation,
            0.0,
            &mut self.coords.slice_mut(s![.., ..keep]),
        );
        Zip::from(&mut self.squared_distance)
            .and(&shift_dot)
            .for_each(|a, &s| *a += -2.0 * s * inv + shift_norm2 * inv * inv);
        Zip::from(&mut self.mean_dot)
            .and(&g)
            .for_each(|t, &g| *t += (g - *t) * inv);
        self.mean_norm2 = updated.mean().dot(&updated.mean());
        self.rank = keep;
        debug_assert_eq!(keep, updated.rank());
        self.update_scores();
    }
}
