//! Where classes (and noise) sit relative to each other in a feature space: class centroids,
//! the cosine distance between them, the minimum spanning tree of that distance and a 2-D
//! layout of it by classical multidimensional scaling (for drawing the tree).
//!
//! This is the analysis of "why do all noise images land in one class": the centroid of the
//! noise images' features is one more node beside the classes' centroids, and its nearest
//! neighbours in the tree are the classes the noise is confused with.
//!
//! ```
//! use demud::ood::geometry::{centroids, cosine_distances, minimum_spanning_tree};
//! use ndarray::array;
//! let x = array![[1.0, 0.0], [1.0, 0.2], [0.0, 1.0], [-1.0, 0.0]];
//! let c = centroids(x.view(), &[0, 0, 1, 2], 3).unwrap();
//! let d = cosine_distances(c.view()).unwrap();
//! let tree = minimum_spanning_tree(d.view()).unwrap();
//! assert_eq!(tree.len(), 2);
//! ```

use crate::error::{DemudError, Result};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use ndarray_linalg::{Eigh, UPLO};

/// The mean feature vector of each class: row c is the mean of the rows of `features` with
/// `labels[i] == c`. Every class in `0..n_classes` needs an item.
pub fn centroids(
    features: ArrayView2<f64>,
    labels: &[usize],
    n_classes: usize,
) -> Result<Array2<f64>> {
    super::head::check_labels(labels, features.nrows(), n_classes)?;
    let mut sums = Array2::<f64>::zeros((n_classes, features.ncols()));
    let mut counts = vec![0usize; n_classes];
    for (row, &l) in features.rows().into_iter().zip(labels) {
        sums.row_mut(l).scaled_add(1.0, &row);
        counts[l] += 1;
    }
    for (mut row, &n) in sums.rows_mut().into_iter().zip(&counts) {
        row /= n as f64;
    }
    Ok(sums)
}

/// The cosine distance between every pair of rows: d(a, b) = (1 − cos(a, b)) / 2, in [0, 1]
/// (0: same direction, 1/2: orthogonal, 1: opposite). A row of zeros has no direction and
/// is refused.
pub fn cosine_distances(points: ArrayView2<f64>) -> Result<Array2<f64>> {
    let norms: Array1<f64> = points
        .rows()
        .into_iter()
        .map(|r| r.dot(&r).sqrt())
        .collect();
    if let Some(i) = norms.iter().position(|&n| !(n > 0.0 && n.is_finite())) {
        return Err(DemudError::invalid(
            "points",
            format!(
                "row {i} has norm {}: a cosine distance needs a non-zero, finite vector",
                norms[i]
            ),
        ));
    }
    let unit = &points / &norms.insert_axis(Axis(1));
    // cos = the Gram matrix of the unit rows; rounding may push it a hair past ±1.
    let mut d = unit
        .dot(&unit.t())
        .mapv(|c| (1.0 - c.clamp(-1.0, 1.0)) / 2.0);
    d.diag_mut().fill(0.0);
    Ok(d)
}

/// One edge of a tree: its two nodes (`a < b`) and its weight.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge {
    /// The lower node.
    pub a: usize,
    /// The higher node.
    pub b: usize,
    /// The distance between them.
    pub weight: f64,
}

fn check_distances(d: ArrayView2<f64>) -> Result<usize> {
    let n = d.nrows();
    if n == 0 || d.ncols() != n {
        return Err(DemudError::invalid(
            "distances",
            format!(
                "must be a non-empty square matrix, got {} x {}",
                n,
                d.ncols()
            ),
        ));
    }
    for ((i, j), &v) in d.indexed_iter() {
        if !(v.is_finite() && v >= 0.0) || (v - d[(j, i)]).abs() > 1e-9 * (1.0 + v.abs()) {
            return Err(DemudError::invalid(
                "distances",
                format!("entry ({i}, {j}) = {v}: distances must be finite, >= 0 and symmetric"),
            ));
        }
    }
    Ok(n)
}

/// The minimum spanning tree of the complete graph whose edge weights are `distances` (a
/// symmetric n x n matrix): the n − 1 edges of least total weight that connect every node.
///
/// Prim's algorithm on the dense matrix: grow the tree from node 0, each step adding the
/// outside node nearest to the tree by the edge that reaches it. O(n²), which is optimal for
/// a complete graph. Ties go to the lower node, so the result is deterministic. Edges are
/// returned in the order they were added.
pub fn minimum_spanning_tree(distances: ArrayView2<f64>) -> Result<Vec<Edge>> {
    let n = check_distances(distances)?;
    let mut in_tree = vec![false; n];
    // For every node outside the tree: its distance to the tree and the tree node at it.
    let mut best = vec![(f64::INFINITY, 0usize); n];
    in_tree[0] = true;
    for j in 1..n {
        best[j] = (distances[(0, j)], 0);
    }
    let mut edges = Vec::with_capacity(n.saturating_sub(1));
    for _ in 1..n {
        let next = (0..n)
            .filter(|&j| !in_tree[j])
            .min_by(|&a, &b| best[a].0.total_cmp(&best[b].0).then(a.cmp(&b)))
            .expect("a node is outside the tree");
        let (weight, from) = best[next];
        edges.push(Edge {
            a: from.min(next),
            b: from.max(next),
            weight,
        });
        in_tree[next] = true;
        for j in 0..n {
            if !in_tree[j] && distances[(next, j)] < best[j].0 {
                best[j] = (distances[(next, j)], next);
            }
        }
    }
    Ok(edges)
}

/// Classical (Torgerson) multidimensional scaling: `dims` coordinates per node whose
/// Euclidean distances approximate `distances`.
///
/// With D² the squared distances and J = I − 11ᵀ/n the centring matrix, B = −½ J D² J is the
/// Gram matrix of centred points that have exactly these distances (when they exist in
/// Euclidean space); its top eigenpairs (λ_k, v_k) give the coordinates v_k √λ_k. Negative
/// eigenvalues (distances that no Euclidean configuration has) contribute nothing. The
/// result is unique up to rotation and reflection; each axis's sign is fixed so that its
/// largest-magnitude coordinate is positive.
pub fn classical_mds(distances: ArrayView2<f64>, dims: usize) -> Result<Array2<f64>> {
    let n = check_distances(distances)?;
    if dims == 0 {
        return Err(DemudError::invalid("dims", "must be at least 1"));
    }
    let d2 = distances.mapv(|v| v * v);
    let row_mean = d2.mean_axis(Axis(1)).expect("n > 0");
    let all_mean = row_mean.mean().expect("n > 0");
    // B_ij = −½ (D²_ij − mean_i − mean_j + mean), the double centring written out.
    let b = Array2::from_shape_fn((n, n), |(i, j)| {
        -0.5 * (d2[(i, j)] - row_mean[i] - row_mean[j] + all_mean)
    });
    let (values, vectors) = b
        .eigh(UPLO::Lower)
        .map_err(|e| DemudError::linalg("the MDS eigendecomposition", e))?;
    // eigh sorts ascending; take the largest first.
    let mut coords = Array2::<f64>::zeros((n, dims));
    for k in 0..dims.min(n) {
        let idx = n - 1 - k;
        let lambda = values[idx].max(0.0);
        let mut v = vectors.column(idx).mapv(|x| x * lambda.sqrt());
        let largest = v
            .iter()
            .copied()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        if largest < 0.0 {
            v.mapv_inplace(|x| -x);
        }
        coords.column_mut(k).assign(&v);
    }
    Ok(coords)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn centroids_are_class_means() {
        let x = array![[1.0, 2.0], [3.0, 4.0], [10.0, 0.0]];
        let c = centroids(x.view(), &[0, 0, 1], 2).unwrap();
        assert_eq!(c, array![[2.0, 3.0], [10.0, 0.0]]);
        // A class without items is refused.
        assert!(centroids(x.view(), &[0, 0, 0], 2).is_err());
    }

    /// By hand: (1, 0), (0, 2), (−3, 0), (1, 1). cos between them: e1·e2 = 0 → d = 1/2;
    /// e1 and −e1 → d = 1; (1,0)·(1,1)/√2 = 1/√2 → d = (1 − 1/√2)/2 ≈ 0.146447;
    /// (0,2)·(1,1) → also 1/√2; (−3,0)·(1,1) → −1/√2 → d = (1 + 1/√2)/2 ≈ 0.853553.
    #[test]
    fn cosine_distance_by_hand() {
        let p = array![[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [1.0, 1.0]];
        let d = cosine_distances(p.view()).unwrap();
        let r = 0.5f64.sqrt();
        let expected = array![
            [0.0, 0.5, 1.0, (1.0 - r) / 2.0],
            [0.5, 0.0, 0.5, (1.0 - r) / 2.0],
            [1.0, 0.5, 0.0, (1.0 + r) / 2.0],
            [(1.0 - r) / 2.0, (1.0 - r) / 2.0, (1.0 + r) / 2.0, 0.0]
        ];
        for (a, b) in d.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-12, "{d}");
        }
        assert!(cosine_distances(array![[1.0, 0.0], [0.0, 0.0]].view()).is_err());
    }

    /// A hand-checked graph of 5 nodes:
    ///
    /// ```text
    ///      0   1   2   3   4
    ///  0   -   2   6   9   8
    ///  1   2   -   3   7   5
    ///  2   6   3   -   4   9
    ///  3   9   7   4   -   1
    ///  4   8   5   9   1   -
    /// ```
    ///
    /// Kruskal by hand: 3–4 (1), 0–1 (2), 1–2 (3), 2–3 (4) connect all; total 10. (1–4 at 5
    /// would close a cycle once 2–3 is in.)
    #[test]
    fn minimum_spanning_tree_by_hand() {
        let d = array![
            [0.0, 2.0, 6.0, 9.0, 8.0],
            [2.0, 0.0, 3.0, 7.0, 5.0],
            [6.0, 3.0, 0.0, 4.0, 9.0],
            [9.0, 7.0, 4.0, 0.0, 1.0],
            [8.0, 5.0, 9.0, 1.0, 0.0]
        ];
        let tree = minimum_spanning_tree(d.view()).unwrap();
        let total: f64 = tree.iter().map(|e| e.weight).sum();
        assert_eq!(total, 10.0);
        let mut pairs: Vec<(usize, usize)> = tree.iter().map(|e| (e.a, e.b)).collect();
        pairs.sort();
        assert_eq!(pairs, vec![(0, 1), (1, 2), (2, 3), (3, 4)]);
        assert!(minimum_spanning_tree(array![[0.0]].view())
            .unwrap()
            .is_empty());
        assert!(minimum_spanning_tree(array![[0.0, 1.0], [2.0, 0.0]].view()).is_err());
    }

    /// MDS of the distances of known 2-D points gives points with the same pairwise
    /// distances (it recovers them up to rotation, reflection and translation), and a third
    /// axis of zeros.
    #[test]
    fn mds_recovers_planar_points() {
        let p: Array2<f64> = array![
            [0.0, 0.0],
            [3.0, 0.0],
            [0.0, 4.0],
            [-1.0, -2.0],
            [2.5, 1.5],
            [-2.0, 3.0]
        ];
        let n = p.nrows();
        let dist = Array2::from_shape_fn((n, n), |(i, j)| {
            let diff = &p.row(i) - &p.row(j);
            diff.dot(&diff).sqrt() as f64
        });
        let q = classical_mds(dist.view(), 3).unwrap();
        for i in 0..n {
            for j in 0..n {
                let diff = &q.row(i) - &q.row(j);
                assert!(
                    (diff.dot(&diff).sqrt() - dist[(i, j)]).abs() < 1e-8,
                    "{i} {j}"
                );
            }
        }
        assert!(q.column(2).iter().all(|v| v.abs() < 1e-6), "{q}");
        // Centred (the third axis is rounding noise of a zero eigenvalue).
        let sums = q.sum_axis(Axis(0));
        assert!(sums[0].abs() < 1e-8 && sums[1].abs() < 1e-8, "{sums}");
    }
}
