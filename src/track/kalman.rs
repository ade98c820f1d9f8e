//! Constant-velocity Kalman filter on `(cx, cy, a, h)` (box centre, aspect ratio `w / h`, height)
//! and their velocities, as in ByteTrack / DeepSORT, with a variable time step.
//!
//! Velocities are per *nominal frame*: [`KalmanBox::predict`] takes the elapsed time as a
//! multiple `s` of the nominal frame interval, the transition moves the position by `s` times
//! the velocity and the process noise grows linearly with `s` (a random walk), so skipped or
//! dropped frames are one longer step instead of a change of behaviour.
//!
//! Noise follows ByteTrack: standard deviations are `1/20` (position) and `1/160` (velocity) of
//! the box height, except the aspect ratio, which has small fixed ones.

// Small fixed-size matrix code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

const STD_WEIGHT_POSITION: f64 = 1.0 / 20.0;
const STD_WEIGHT_VELOCITY: f64 = 1.0 / 160.0;

type Mat8 = [[f64; 8]; 8];

/// Filter state of one track: mean and covariance of `[cx, cy, a, h, vcx, vcy, va, vh]`.
#[derive(Clone, Debug)]
pub struct KalmanBox {
    mean: [f64; 8],
    cov: Mat8,
}

/// `[x1, y1, x2, y2]` → `[cx, cy, w / h, h]`; `None` for an empty or non-finite box.
pub fn xyah_from_bbox(b: [f32; 4]) -> Option<[f64; 4]> {
    let [x1, y1, x2, y2] = b.map(f64::from);
    let (w, h) = (x2 - x1, y2 - y1);
    let ok = [x1, y1, x2, y2].iter().all(|v| v.is_finite()) && w > 0.0 && h > 0.0;
    ok.then(|| [x1 + w / 2.0, y1 + h / 2.0, w / h, h])
}

/// `[cx, cy, w / h, h]` → `[x1, y1, x2, y2]`, keeping the box non-empty.
pub fn bbox_from_xyah(m: &[f64]) -> [f32; 4] {
    let h = m[3].max(1e-3);
    let w = m[2].max(1e-6) * h;
    [
        (m[0] - w / 2.0) as f32,
        (m[1] - h / 2.0) as f32,
        (m[0] + w / 2.0) as f32,
        (m[1] + h / 2.0) as f32,
    ]
}

/// Height used to scale the noise; a one-pixel floor keeps the covariance positive definite.
fn noise_scale(h: f64) -> f64 {
    if h.is_finite() {
        h.abs().max(1.0)
    } else {
        1.0
    }
}

impl KalmanBox {
    /// A new track at measurement `z = [cx, cy, a, h]` with zero velocity and wide uncertainty.
    pub fn new(z: [f64; 4]) -> Self {
        let h = noise_scale(z[3]);
        let (p, v) = (STD_WEIGHT_POSITION * h, STD_WEIGHT_VELOCITY * h);
        let std = [
            2.0 * p,
            2.0 * p,
            1e-2,
            2.0 * p,
            10.0 * v,
            10.0 * v,
            1e-5,
            10.0 * v,
        ];
        let mut cov = [[0.0; 8]; 8];
        for i in 0..8 {
            cov[i][i] = std[i] * std[i];
        }
        let mut mean = [0.0; 8];
        mean[..4].copy_from_slice(&z);
        KalmanBox { mean, cov }
    }

    /// Mean of `[cx, cy, a, h, vcx, vcy, va, vh]` (velocities per nominal frame).
    pub fn mean(&self) -> &[f64; 8] {
        &self.mean
    }

    /// The predicted box `[x1, y1, x2, y2]`.
    pub fn bbox(&self) -> [f32; 4] {
        bbox_from_xyah(&self.mean)
    }

    /// Advances the state by `s` nominal frames (`s >= 0`). `freeze_height` zeroes the height
    /// velocity first, as ByteTrack does for tracks that are not currently matched.
    pub fn predict(&mut self, s: f64, freeze_height: bool) {
        if freeze_height {
            self.mean[7] = 0.0;
        }
        if !(s > 0.0 && s.is_finite()) {
            return;
        }
        for i in 0..4 {
            self.mean[i] += s * self.mean[i + 4];
        }
        // F P Fᵀ with F = [[I, sI], [0, I]]: rows then columns.
        let p = &mut self.cov;
        for i in 0..4 {
            for j in 0..8 {
                p[i][j] += s * p[i + 4][j];
            }
        }
        for i in 0..8 {
            for j in 0..4 {
                p[i][j] += s * p[i][j + 4];
            }
        }
        let h = noise_scale(self.mean[3]);
        let (sp, sv) = (STD_WEIGHT_POSITION * h, STD_WEIGHT_VELOCITY * h);
        let std = [sp, sp, 1e-2, sp, sv, sv, 1e-5, sv];
        for i in 0..8 {
            p[i][i] += s * std[i] * std[i];
        }
    }

    /// Corrects the state with measurement `z = [cx, cy, a, h]`. Returns `false` (state
    /// unchanged) when the innovation covariance is not positive definite.
    pub fn update(&mut self, z: [f64; 4]) -> bool {
        let h = noise_scale(self.mean[3]);
        let sp = STD_WEIGHT_POSITION * h;
        let r = [sp * sp, sp * sp, 1e-1 * 1e-1, sp * sp];
        // S = H P Hᵀ + R; P Hᵀ is the first four columns of P.
        let mut s = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                s[i][j] = self.cov[i][j];
            }
            s[i][i] += r[i];
        }
        let Some(l) = cholesky4(&s) else {
            return false;
        };
        // K = P Hᵀ S⁻¹, one row at a time: S kᵢ = (P Hᵀ)ᵢ since S is symmetric.
        let mut k = [[0.0; 4]; 8];
        for i in 0..8 {
            let mut row = [0.0; 4];
            row.copy_from_slice(&self.cov[i][..4]);
            k[i] = cholesky4_solve(&l, row);
        }
        let y: [f64; 4] = std::array::from_fn(|i| z[i] - self.mean[i]);
        for i in 0..8 {
            self.mean[i] += (0..4).map(|j| k[i][j] * y[j]).sum::<f64>();
        }
        // P ← P − K (P Hᵀ)ᵀ, then symmetrised against rounding.
        let old = self.cov;
        for i in 0..8 {
            for j in 0..8 {
                self.cov[i][j] = old[i][j] - (0..4).map(|m| k[i][m] * old[j][m]).sum::<f64>();
            }
        }
        for i in 0..8 {
            for j in 0..i {
                let v = 0.5 * (self.cov[i][j] + self.cov[j][i]);
                self.cov[i][j] = v;
                self.cov[j][i] = v;
            }
        }
        true
    }
}

/// Lower-triangular `L` with `L Lᵀ = a`, or `None` when `a` is not positive definite.
fn cholesky4(a: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut l = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..=i {
            let sum = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if !(sum > 0.0 && sum.is_finite()) {
                    return None;
                }
                l[i][i] = sum.sqrt();
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b`.
fn cholesky4_solve(l: &[[f64; 4]; 4], b: [f64; 4]) -> [f64; 4] {
    let mut y = [0.0; 4];
    for i in 0..4 {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = [0.0; 4];
    for i in (0..4).rev() {
        x[i] = (y[i] - (i + 1..4).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_conversion_round_trips() {
        let b = [10.0, 20.0, 50.0, 100.0];
        let z = xyah_from_bbox(b).expect("valid box");
        assert_eq!(z, [30.0, 60.0, 0.5, 80.0]);
        assert_eq!(bbox_from_xyah(&z), b);
        assert!(xyah_from_bbox([5.0, 5.0, 5.0, 10.0]).is_none());
        assert!(xyah_from_bbox([0.0, f32::NAN, 5.0, 10.0]).is_none());
    }

    #[test]
    fn cholesky_solves() {
        let a = [
            [4.0, 1.0, 0.5, 0.0],
            [1.0, 3.0, 0.2, 0.1],
            [0.5, 0.2, 2.0, 0.3],
            [0.0, 0.1, 0.3, 1.0],
        ];
        let l = cholesky4(&a).expect("positive definite");
        let x = cholesky4_solve(&l, [1.0, 2.0, 3.0, 4.0]);
        for i in 0..4 {
            let ax: f64 = (0..4).map(|j| a[i][j] * x[j]).sum();
            assert!((ax - (i + 1) as f64).abs() < 1e-12);
        }
        assert!(cholesky4(&[[0.0; 4]; 4]).is_none());
    }

    #[test]
    fn constant_velocity_converges() {
        // True motion: 4 px/frame right, 1.5 px/frame down, fixed size; measured every frame,
        // then every third frame (s = 3), with small deterministic jitter.
        let truth = |t: f64| [100.0 + 4.0 * t, 50.0 + 1.5 * t, 0.5, 80.0];
        let mut kf = KalmanBox::new(truth(0.0));
        let mut t = 0.0;
        for step in 1..=60 {
            let s = if step <= 30 { 1.0 } else { 3.0 };
            t += s;
            kf.predict(s, false);
            let jitter = if step % 2 == 0 { 0.5 } else { -0.5 };
            let mut z = truth(t);
            z[0] += jitter;
            z[1] -= jitter;
            assert!(kf.update(z));
        }
        let m = kf.mean();
        assert!((m[4] - 4.0).abs() < 0.1, "vx = {}", m[4]);
        assert!((m[5] - 1.5).abs() < 0.1, "vy = {}", m[5]);
        assert!(m[6].abs() < 1e-3 && m[7].abs() < 0.1);
        // Ten nominal frames ahead in one step lands near the truth.
        kf.predict(10.0, true);
        let want = truth(t + 10.0);
        assert!((kf.mean()[0] - want[0]).abs() < 2.0);
        assert!((kf.mean()[1] - want[1]).abs() < 2.0);
        // The covariance stays symmetric positive definite along the way.
        for i in 0..8 {
            assert!(kf.cov[i][i] > 0.0);
            for j in 0..8 {
                assert!((kf.cov[i][j] - kf.cov[j][i]).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn one_long_step_matches_many_short_steps_in_the_mean() {
        let mut a = KalmanBox::new([0.0, 0.0, 1.0, 50.0]);
        a.mean[4] = 2.0;
        let mut b = a.clone();
        a.predict(5.0, false);
        for _ in 0..5 {
            b.predict(1.0, false);
        }
        assert!((a.mean[0] - 10.0).abs() < 1e-9 && (b.mean[0] - 10.0).abs() < 1e-9);
        // Position variance grows with time either way.
        assert!(a.cov[0][0] > KalmanBox::new([0.0, 0.0, 1.0, 50.0]).cov[0][0]);
    }
}
