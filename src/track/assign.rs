//! Optimal assignment for the tracker's association steps.
//!
//! [`hungarian`] solves the rectangular linear assignment problem exactly (the shortest
//! augmenting path form of the Hungarian method, the same family as Jonker-Volgenant), in
//! `O(n² m)` for `n <= m`. [`match_gated`] builds on it the matching ByteTrack gets from
//! `lap.lapjv(cost, cost_limit = thresh)`: pairs below the gate are forbidden and leaving a row
//! and a column unmatched costs `thresh`, i.e. it maximises the total `weight - 0` over
//! allowed pairs, where the caller's weight is `iou - min_iou`. The gated problem splits into
//! independent connected components of allowed pairs, each solved on its own, so a frame of
//! scattered objects costs little more than computing the weights.

/// Minimum-cost assignment for a row-major `rows × cols` cost matrix.
///
/// Returns, per row, the column it gets: every row gets one when `rows <= cols`, otherwise
/// exactly `cols` rows do. Non-finite costs are treated as worse than any finite assignment.
pub fn hungarian(cost: &[f64], rows: usize, cols: usize) -> Vec<Option<usize>> {
    assert_eq!(cost.len(), rows * cols, "cost matrix size");
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    let max_finite = cost
        .iter()
        .filter(|c| c.is_finite())
        .fold(0.0f64, |m, c| m.max(c.abs()));
    let big = (2.0 * max_finite + 1.0) * (rows.max(cols) as f64);
    let at = |r: usize, c: usize| {
        let v = cost[r * cols + c];
        if v.is_finite() {
            v
        } else {
            big
        }
    };
    if rows <= cols {
        solve(rows, cols, at)
    } else {
        let by_col = solve(cols, rows, |c, r| at(r, c));
        let mut by_row = vec![None; rows];
        for (c, r) in by_col.iter().enumerate() {
            if let Some(r) = *r {
                by_row[r] = Some(c);
            }
        }
        by_row
    }
}

/// The Hungarian method with potentials for `n <= m` (1-based internally, column 0 is the
/// virtual start of each augmenting path).
fn solve(n: usize, m: usize, a: impl Fn(usize, usize) -> f64) -> Vec<Option<usize>> {
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; m + 1];
    let mut p = vec![0usize; m + 1]; // row (1-based) holding each column, 0 = free
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![0.0; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        minv.fill(f64::INFINITY);
        used.fill(false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = a(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            if j1 == 0 {
                break; // unreachable with finite costs and n <= m
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        // Flip the augmenting path back to the start.
        while j0 != 0 {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        }
    }
    let mut out = vec![None; n];
    for (j, &i) in p.iter().enumerate().skip(1) {
        if i != 0 {
            out[i - 1] = Some(j - 1);
        }
    }
    out
}

/// Matches rows to columns maximising the total weight, where `weight(r, c)` is `None` for a
/// forbidden pair and `Some(w)`, `w >= 0`, for an allowed one. Returns `(row, col)` pairs.
pub fn match_gated(
    rows: usize,
    cols: usize,
    weight: impl Fn(usize, usize) -> Option<f64>,
) -> Vec<(usize, usize)> {
    let w: Vec<Option<f64>> = (0..rows * cols)
        .map(|k| weight(k / cols, k % cols).filter(|w| w.is_finite()))
        .collect();
    // Connected components of allowed pairs: nodes 0..rows are rows, rows.. are columns.
    let mut parent: Vec<usize> = (0..rows + cols).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for r in 0..rows {
        for c in 0..cols {
            if w[r * cols + c].is_some() {
                let (a, b) = (find(&mut parent, r), find(&mut parent, rows + c));
                parent[a] = b;
            }
        }
    }
    let mut groups: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    let mut group_of = vec![usize::MAX; rows + cols];
    for node in 0..rows + cols {
        let root = find(&mut parent, node);
        if group_of[root] == usize::MAX {
            group_of[root] = groups.len();
            groups.push((Vec::new(), Vec::new()));
        }
        let g = &mut groups[group_of[root]];
        if node < rows {
            g.0.push(node);
        } else {
            g.1.push(node - rows);
        }
    }
    let mut pairs = Vec::new();
    for (gr, gc) in groups {
        if gr.is_empty() || gc.is_empty() {
            continue;
        }
        if gr.len() == 1 && gc.len() == 1 {
            pairs.push((gr[0], gc[0])); // connected, so allowed
            continue;
        }
        // Allowed pairs cost -(w + ε) (ε prefers using a zero-weight allowed pair over none),
        // forbidden ones 0, the same as leaving both unmatched.
        let cost: Vec<f64> = gr
            .iter()
            .flat_map(|&r| gc.iter().map(move |&c| (r, c)))
            .map(|(r, c)| w[r * cols + c].map_or(0.0, |w| -(w + 1e-9)))
            .collect();
        for (k, c) in hungarian(&cost, gr.len(), gc.len()).into_iter().enumerate() {
            if let Some(c) = c {
                let (r, c) = (gr[k], gc[c]);
                if w[r * cols + c].is_some() {
                    pairs.push((r, c));
                }
            }
        }
    }
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::test_rng::Rng;

    /// Best total over all ways to give each of the `min(rows, cols)` smaller side a distinct
    /// partner.
    fn brute_force(cost: &[f64], rows: usize, cols: usize) -> f64 {
        fn go(cost: &[f64], rows: usize, cols: usize, r: usize, used: &mut [bool]) -> f64 {
            if r == rows {
                return 0.0;
            }
            let mut best = f64::INFINITY;
            for c in 0..cols {
                if !used[c] {
                    used[c] = true;
                    best = best.min(cost[r * cols + c] + go(cost, rows, cols, r + 1, used));
                    used[c] = false;
                }
            }
            best
        }
        if rows <= cols {
            go(cost, rows, cols, 0, &mut vec![false; cols])
        } else {
            let t: Vec<f64> = (0..rows * cols)
                .map(|k| cost[(k % rows) * cols + k / rows])
                .collect();
            go(&t, cols, rows, 0, &mut vec![false; rows])
        }
    }

    fn total(cost: &[f64], cols: usize, a: &[Option<usize>]) -> f64 {
        a.iter()
            .enumerate()
            .filter_map(|(r, c)| c.map(|c| cost[r * cols + c]))
            .sum()
    }

    #[test]
    fn hungarian_matches_brute_force() {
        let mut rng = Rng::new(0x5eed);
        for trial in 0..600 {
            let rows = 1 + (rng.next_u64() % 6) as usize;
            let cols = 1 + (rng.next_u64() % 6) as usize;
            // Some trials use few distinct values to exercise ties.
            let cost: Vec<f64> = (0..rows * cols)
                .map(|_| {
                    if trial % 3 == 0 {
                        (rng.next_u64() % 4) as f64
                    } else {
                        rng.f64() * 10.0 - 5.0
                    }
                })
                .collect();
            let a = hungarian(&cost, rows, cols);
            let assigned: Vec<usize> = a.iter().flatten().copied().collect();
            assert_eq!(assigned.len(), rows.min(cols));
            let mut distinct = assigned.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), assigned.len(), "column used twice");
            let want = brute_force(&cost, rows, cols);
            let got = total(&cost, cols, &a);
            assert!((got - want).abs() < 1e-9, "{rows}x{cols}: {got} vs {want}");
        }
    }

    #[test]
    fn hungarian_edge_cases() {
        assert_eq!(hungarian(&[], 0, 3), Vec::<Option<usize>>::new());
        assert_eq!(hungarian(&[], 2, 0), vec![None, None]);
        let inf = f64::INFINITY;
        // The infinite pair is avoided when possible.
        assert_eq!(
            hungarian(&[inf, 1.0, 1.0, 100.0], 2, 2),
            vec![Some(1), Some(0)]
        );
        assert_eq!(hungarian(&[f64::NAN, 3.0], 1, 2), vec![Some(1)]);
    }

    #[test]
    fn gated_matching_matches_brute_force() {
        // Brute force over all partial matchings of allowed pairs, maximising total weight.
        fn best(w: &[Option<f64>], rows: usize, cols: usize, r: usize, used: &mut [bool]) -> f64 {
            if r == rows {
                return 0.0;
            }
            let mut b = best(w, rows, cols, r + 1, used);
            for c in 0..cols {
                if let (false, Some(x)) = (used[c], w[r * cols + c]) {
                    used[c] = true;
                    b = b.max(x + best(w, rows, cols, r + 1, used));
                    used[c] = false;
                }
            }
            b
        }
        let mut rng = Rng::new(42);
        for _ in 0..400 {
            let rows = (rng.next_u64() % 6) as usize;
            let cols = (rng.next_u64() % 6) as usize;
            let w: Vec<Option<f64>> = (0..rows * cols)
                .map(|_| (rng.f64() < 0.4).then(|| rng.f64()))
                .collect();
            let pairs = match_gated(rows, cols, |r, c| w[r * cols + c]);
            let mut rs: Vec<usize> = pairs.iter().map(|p| p.0).collect();
            let mut cs: Vec<usize> = pairs.iter().map(|p| p.1).collect();
            rs.sort_unstable();
            rs.dedup();
            cs.sort_unstable();
            cs.dedup();
            assert_eq!(rs.len(), pairs.len());
            assert_eq!(cs.len(), pairs.len());
            let got: f64 = pairs
                .iter()
                .map(|&(r, c)| w[r * cols + c].expect("only allowed pairs"))
                .sum();
            let want = best(&w, rows, cols, 0, &mut vec![false; cols]);
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn gated_matching_prefers_a_strong_pair_like_lapjv() {
        // Row 0 fits column 0 very well; taking it leaves row 1 alone, but beats the two
        // mediocre pairs (0,1) + (1,0): 0.7 > 0.1 + 0.1.
        let w = [Some(0.7), Some(0.1), Some(0.1), None];
        assert_eq!(match_gated(2, 2, |r, c| w[r * 2 + c]), vec![(0, 0)]);
    }
}
