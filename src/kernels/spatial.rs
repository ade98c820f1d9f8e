//! Dense K×K convolution (groups = 1, stride 1 or 2), NCHW, as one matrix product without an
//! im2col copy: the stem (3→32 channels, 3×3 stride 2 on the full-resolution picture) and
//! CenterFace's 3×3 neck convolution.
//!
//! The input is copied once into a zero-padded buffer split by stride phase
//! (`[cin][S][S][Hq][Wq]`, the layout the depthwise kernel uses too). In that buffer, tap
//! `(i, ky, kx)` of output pixel `(y, x)` sits at a fixed offset plus `y · Wq + x`, so the
//! convolution is the 1×1 kernel's product over `cin · K · K` rows whose start offsets differ
//! — the micro-kernel takes a table of row offsets. One product per output row writes
//! straight into the output.

use super::activation::Activation;
use super::pointwise::{gemm_serial_dst, pack, Dst, Job};
use super::simd::Isa;
use std::sync::Arc;
use tract_onnx::tract_core::internal::*;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpatialConv {
    pub cin: usize,
    pub cout: usize,
    pub kernel: usize,
    pub stride: usize,
    /// `[top, left]`
    pub pad: [usize; 2],
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
    pub bias: Arc<Vec<f32>>,
    pub act: Activation,
    pub isa: Isa,
    /// Weights `[cout][cin][K][K]` packed by [`pack`].
    packed: Arc<Vec<f32>>,
}

impl SpatialConv {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        isa: Isa,
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        pad: [usize; 2],
        in_hw: [usize; 2],
        out_hw: [usize; 2],
        weights: &[f32],
        bias: Arc<Vec<f32>>,
        act: Activation,
    ) -> SpatialConv {
        SpatialConv {
            cin,
            cout,
            kernel,
            stride,
            pad,
            in_hw,
            out_hw,
            bias,
            act,
            isa,
            packed: Arc::new(pack(isa, cin * kernel * kernel, cout, weights)),
        }
    }

    pub fn supports(kernel: usize, stride: usize) -> bool {
        (1..=7).contains(&kernel) && (stride == 1 || stride == 2)
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        let (k, s) = (self.kernel, self.stride);
        let [h, w] = self.in_hw;
        let [oh, ow] = self.out_hw;
        let [pt, pl] = self.pad;
        assert_eq!(input.len(), self.cin * h * w);
        assert_eq!(output.len(), self.cout * oh * ow);
        let (hq, wq) = (oh + (k - 1) / s, ow + (k - 1) / s);
        let plane = hq * wq;
        // Phase planes, plus slack so the junk columns of the last row stay in bounds.
        // Scratch buffers live per thread (one tract session per worker thread) so the
        // megabytes they span are not allocated and faulted in on every frame.
        SCRATCH.with_borrow_mut(|buf| {
            let need = self.cin * s * s * plane + k;
            if buf.len() < need {
                buf.resize(need, 0.0);
            }
            let buf = &mut buf[..need];
            // Every element is written below (values or the zero padding): no full clear,
            // which cost as much as the copy on the stem's 4 MB of planes.
            buf[self.cin * s * s * plane..].fill(0.0);
            // Output-plane columns xx whose input column xx * s + rx - pl is inside the row.
            let cols = |rx: usize| {
                let lo = pl.saturating_sub(rx).div_ceil(s).min(wq);
                let hi = ((w + pl).saturating_sub(rx)).div_ceil(s).min(wq).max(lo);
                (lo, hi)
            };
            for i in 0..self.cin {
                let src = &input[i * h * w..][..h * w];
                for ry in 0..s {
                    for yy in 0..hq {
                        let iy = (yy * s + ry).checked_sub(pt).filter(|&y| y < h);
                        let at = |rx: usize| ((i * s + ry) * s + rx) * plane + yy * wq;
                        let Some(iy) = iy else {
                            for rx in 0..s {
                                buf[at(rx)..][..wq].fill(0.0);
                            }
                            continue;
                        };
                        let row = &src[iy * w..][..w];
                        if s == 2 {
                            // Both column phases in one pass: an even/odd split the compiler
                            // turns into vector shuffles (a scalar strided copy per phase
                            // was half of the stem's time).
                            let ((lo0, hi0), (lo1, hi1)) = (cols(0), cols(1));
                            let (a, b) = (lo0.max(lo1), hi0.min(hi1).max(lo0.max(lo1)));
                            let (d0, d1) = buf[at(0)..at(1) + wq].split_at_mut(plane);
                            let (d0, d1) = (&mut d0[..wq], &mut d1[..wq]);
                            for (rx, d) in [(0, &mut *d0), (1, &mut *d1)] {
                                let (lo, hi) = cols(rx);
                                d[..lo].fill(0.0);
                                d[hi..].fill(0.0);
                                for xx in (lo..a.min(hi)).chain(b.max(lo)..hi) {
                                    d[xx] = row[xx * 2 + rx - pl];
                                }
                            }
                            if b > a {
                                let pairs = &row[2 * a - pl..][..2 * (b - a)];
                                for ((e, o), p) in d0[a..b]
                                    .iter_mut()
                                    .zip(d1[a..b].iter_mut())
                                    .zip(pairs.chunks_exact(2))
                                {
                                    *e = p[0];
                                    *o = p[1];
                                }
                            }
                            continue;
                        }
                        for rx in 0..s {
                            let (lo, hi) = cols(rx);
                            let d = &mut buf[at(rx)..][..wq];
                            d[..lo].fill(0.0);
                            d[hi..].fill(0.0);
                            for xx in lo..hi {
                                d[xx] = row[xx * s + rx - pl];
                            }
                        }
                    }
                }
            }
            self.multiply(buf, output);
        });
    }

    fn multiply(&self, buf: &[f32], output: &mut [f32]) {
        let (k, s) = (self.kernel, self.stride);
        let [oh, ow] = self.out_hw;
        let (hq, wq) = (oh + (k - 1) / s, ow + (k - 1) / s);
        let plane = hq * wq;
        let mut offs = Vec::with_capacity(self.cin * k * k);
        for i in 0..self.cin {
            for ky in 0..k {
                for kx in 0..k {
                    let phase = (i * s + ky % s) * s + kx % s;
                    offs.push(phase * plane + (ky / s) * wq + kx / s);
                }
            }
        }
        // One product per output row, written straight into the output (row `y` of the
        // phase planes starts `y * wq` further on for every tap). With several threads, each
        // takes a band of rows: the rows of one product are too short to split (a 640-wide
        // stem row is ~0.3 M multiply-adds).
        let job_for_row = |y: usize| Job {
            cin: self.cin * k * k,
            cout: self.cout,
            pixels: ow,
            x: &buf[y * wq..],
            offs: &offs,
            packed: &self.packed,
            bias: &self.bias,
            act: self.act,
            residual: None,
            ds: oh * ow,
            panel: false,
        };
        let out = Dst::new(output);
        let rows = |y0: usize, y1: usize| {
            for y in y0..y1 {
                let job = job_for_row(y);
                // SAFETY: row `y` of every output channel is written by this call only
                // (bands are disjoint), and `output` is not touched otherwise meanwhile.
                unsafe { gemm_serial_dst(self.isa, &job, out.offset(y * ow)) };
            }
        };
        let macs = self.cin * k * k * self.cout * oh * ow;
        let threads = super::parallelism().min(oh);
        if threads <= 1 || macs < super::PARALLEL_MIN_MACS {
            return rows(0, oh);
        }
        let per = oh.div_ceil(threads);
        let starts: Vec<usize> = (0..oh).step_by(per).collect();
        super::run_parts(starts, |y0| rows(y0, (y0 + per).min(oh)));
    }
}

// Packed weights are derived from the model's; equal geometry and weights, equal ops.
impl Eq for SpatialConv {}

impl Op for SpatialConv {
    fn name(&self) -> StaticName {
        format!("SpatialConv{}x{}/{}", self.kernel, self.kernel, self.stride).into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} -> {} channels, {:?} -> {:?} {} ({})",
            self.cin,
            self.cout,
            self.in_hw,
            self.out_hw,
            self.act.name(),
            self.isa.name()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for SpatialConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [oh, ow] = self.out_hw;
        super::eval_unary(&inputs, &[1, self.cout, oh, ow], |x, o| self.run(x, o))
    }
}

impl TypedOp for SpatialConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [h, w] = self.in_hw;
        ensure!(
            inputs.len() == 1 && inputs[0].shape.as_concrete() == Some(&[1, self.cin, h, w]),
            "SpatialConv: input does not match"
        );
        let [oh, ow] = self.out_hw;
        Ok(tvec!(f32::fact([1, self.cout, oh, ow])))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::rand_vec;
    use super::*;

    /// Direct K×K convolution with stride S in f64, `[cin, cout, k, s]`: the reference of the
    /// dense kernels (this one and Winograd).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn direct(
        x: &[f32],
        wt: &[f32],
        b: &[f32],
        [cin, cout, k, s]: [usize; 4],
        [h, w]: [usize; 2],
        pad: [usize; 2],
        [oh, ow]: [usize; 2],
        act: Activation,
    ) -> Vec<f32> {
        let mut want = vec![0f32; cout * oh * ow];
        for o in 0..cout {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut acc = b[o] as f64;
                    for i in 0..cin {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (y * s + ky) as isize - pad[0] as isize;
                                let ix = (xx * s + kx) as isize - pad[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                acc += wt[((o * cin + i) * k + ky) * k + kx] as f64
                                    * x[(i * h + iy as usize) * w + ix as usize] as f64;
                            }
                        }
                    }
                    want[(o * oh + y) * ow + xx] = act.apply(acc as f32);
                }
            }
        }
        want
    }

    #[test]
    fn every_isa_matches_a_direct_convolution() {
        let mut seed = 5u64;
        let mut cases = 0;
        for (k, s) in [(3usize, 1usize), (3, 2), (1, 2), (5, 1), (5, 2)] {
            for (cin, cout) in [(3usize, 32usize), (5, 7), (24, 24)] {
                for (h, w) in [(5usize, 5usize), (8, 13), (31, 17)] {
                    for (pad, after) in [([k / 2, k / 2], 0), ([0, 0], 1), ([1, 0], 0)] {
                        let (ph, pw) = (h + 2 * pad[0] + after, w + 2 * pad[1] + after);
                        if ph < k || pw < k {
                            continue;
                        }
                        let (oh, ow) = ((ph - k) / s + 1, (pw - k) / s + 1);
                        let wt = rand_vec(cout * cin * k * k, &mut seed);
                        let b = Arc::new(rand_vec(cout, &mut seed));
                        let x = rand_vec(cin * h * w, &mut seed);
                        let act = if cases % 2 == 0 {
                            Activation::Relu
                        } else {
                            Activation::Identity
                        };
                        let want =
                            direct(&x, &wt, &b, [cin, cout, k, s], [h, w], pad, [oh, ow], act);
                        for isa in Isa::all_supported() {
                            let op = SpatialConv::new(
                                isa,
                                cin,
                                cout,
                                k,
                                s,
                                pad,
                                [h, w],
                                [oh, ow],
                                &wt,
                                b.clone(),
                                act,
                            );
                            let mut got = vec![f32::NAN; want.len()];
                            // Stale scratch as NaN: a padding cell the copy forgets to write
                            // shows up in the output.
                            SCRATCH.with_borrow_mut(|b| b.fill(f32::NAN));
                            op.run(&x, &mut got);
                            for (j, (g, r)) in got.iter().zip(&want).enumerate() {
                                assert!(
                                    (g - r).abs() <= 1e-4 * (1.0 + r.abs()),
                                    "{isa:?} k{k} s{s} {cin}->{cout} {h}x{w} {pad:?}+{after} [{j}]: {g} vs {r}"
                                );
                            }
                        }
                        cases += 1;
                    }
                }
            }
        }
        assert!(cases > 100, "only {cases} cases");
    }

    #[test]
    fn threads_split_the_rows_without_changing_a_bit() {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        let mut seed = 9u64;
        // A stem (3 -> 32, stride 2) and a neck-like 3x3 (24 -> 24), large enough to split.
        for (cin, cout, s, hw) in [(3, 32, 2, [161, 203]), (24, 24, 1, [67, 45])] {
            let (k, pad) = (3, [1, 1]);
            let out_hw = [(hw[0] + 2 - k) / s + 1, (hw[1] + 2 - k) / s + 1];
            let macs = cin * k * k * cout * out_hw[0] * out_hw[1];
            assert!(macs >= crate::kernels::PARALLEL_MIN_MACS);
            let wt = rand_vec(cout * cin * k * k, &mut seed);
            let b = Arc::new(rand_vec(cout, &mut seed));
            let x = rand_vec(cin * hw[0] * hw[1], &mut seed);
            for isa in Isa::all_supported() {
                let op = SpatialConv::new(
                    isa,
                    cin,
                    cout,
                    k,
                    s,
                    pad,
                    hw,
                    out_hw,
                    &wt,
                    b.clone(),
                    Activation::Relu6,
                );
                let n = cout * out_hw[0] * out_hw[1];
                let mut one = vec![f32::NAN; n];
                op.run(&x, &mut one);
                for threads in [2, 3] {
                    let mut many = vec![f32::NAN; n];
                    multithread_tract_scope(Executor::multithread(threads), || {
                        op.run(&x, &mut many)
                    });
                    assert!(
                        one.iter()
                            .zip(&many)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{isa:?} {cin}->{cout} s{s} {threads} threads"
                    );
                }
            }
        }
    }
}
