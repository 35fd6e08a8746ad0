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
use ndarray::{s, Array1, Array2, ArrayView2, Axis, Zip};

/// Per-item state of the fast path, for every row of the collection.
#[derive(Clone, Debug)]
pub(crate) struct FastScores {
    squared_distance: Array1<f64>,
    coords: Array2<f64>,
    mean_dot: Array1<f64>,
    mean_norm2: f64,
    rank: usize,
}

/// Rows converted to f64 per block of the exact rebuild.
const BLOCK_ROWS: usize = 256;

impl FastScores {
    /// Computes the state exactly from the model: O(n d r).
    pub(crate) fn rebuild<T: Element>(data: ArrayView2<T>, model: &SubspaceModel) -> Self {
        let (n, d) = data.dim();
        let mean = model.mean();
        let basis = model.basis();
        let mut squared_distance = Array1::zeros(n);
        let mut coords = Array2::zeros((n, model.rank()));
        let mut mean_dot = Array1::zeros(n);
        let mut block = Array2::<f64>::zeros((BLOCK_ROWS.min(n), d));
        for start in (0..n).step_by(BLOCK_ROWS) {
            let end = (start + BLOCK_ROWS).min(n);
            let mut rows = block.slice_mut(s![..end - start, ..]);
            Zip::from(&mut rows)
                .and(data.slice(s![start..end, ..]))
                .for_each(|o, &v| *o = v.to_f64());
            mean_dot.slice_mut(s![start..end]).assign(&rows.dot(&mean));
            rows -= &mean;
            squared_distance
                .slice_mut(s![start..end])
                .assign(&rows.map_axis(Axis(1), |r| r.dot(&r)));
            coords
                .slice_mut(s![start..end, ..])
                .assign(&rows.dot(&basis));
        }
        FastScores {
            squared_distance,
            coords,
            mean_dot,
            mean_norm2: mean.dot(&mean),
            rank: model.rank(),
        }
    }

    /// Score of row `i`: `a_i - ||p_i||^2`.
    pub(crate) fn score(&self, i: usize) -> f64 {
        let p = self.coords.row(i);
        self.squared_distance[i] - p.dot(&p)
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
        debug_assert_eq!(change.shift_in_basis.len(), self.rank);
        let inv = 1.0 / (change.old_count as f64 + 1.0);
        let x = data.row(selected);
        // The one pass over the collection, in the storage precision (BLAS gemv).
        let g = data.dot(&x).mapv(Element::to_f64);
        let shift_norm2 = change.shift.dot(&change.shift);
        let mean_dot_x = self.mean_dot[selected];
        // s_i = v . (x_i - mu)
        let shift_dot = Zip::from(&g)
            .and(&self.mean_dot)
            .map_collect(|&g, &t| g - t - mean_dot_x + self.mean_norm2);
        let width = change.rotation.nrows();
        let mut extended = Array2::<f64>::zeros((g.len(), width));
        {
            let mut old = extended.slice_mut(s![.., ..self.rank]);
            old.assign(&self.coords);
            old -= &change.shift_in_basis.mapv(|l| l * inv);
        }
        if let Some(norm) = change.new_direction {
            let along = self.coords.dot(&change.shift_in_basis);
            Zip::from(extended.column_mut(self.rank))
                .and(&shift_dot)
                .and(&along)
                .for_each(|z, &s, &l| *z = (s - l) / norm - norm * inv);
        }
        self.coords = extended.dot(&change.rotation);
        Zip::from(&mut self.squared_distance)
            .and(&shift_dot)
            .for_each(|a, &s| *a += -2.0 * s * inv + shift_norm2 * inv * inv);
        Zip::from(&mut self.mean_dot)
            .and(&g)
            .for_each(|t, &g| *t += (g - *t) * inv);
        self.mean_norm2 = updated.mean().dot(&updated.mean());
        self.rank = updated.rank();
    }
}
