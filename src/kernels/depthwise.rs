//! Depthwise convolution (one K×K filter per channel, K = 3 or 5, stride 1 or 2), NCHW, with
//! bias and activation fused: the MobileNet inner layer.
//!
//! Two kernels. With AVX-512 (`in_place`) every tap of 16 outputs is one masked load straight
//! from the input row (stride 2: two loads and an even-lane permute), the masks standing for
//! the zero padding, and two output rows share the input rows they both read; the result is
//! written with a masked store. Without AVX-512 (AVX2, portable), per channel the input plane
//! is copied once into a zero-padded scratch plane, split into `stride` column phases so that
//! every tap of every output reads a contiguous run of memory; each output row is then
//! computed in register-sized chunks, four vectors at a time (four independent FMA chains
//! hide the FMA latency), all K×K taps accumulated in registers before one store.

use super::activation::Activation;
use super::simd::{madd, Isa, PORTABLE_FMA};
use std::sync::Arc;
use tract_onnx::tract_core::internal::*;

/// Geometry and constants of one depthwise convolution.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthwiseConv {
    pub channels: usize,
    /// Square kernel side (3 or 5).
    pub kernel: usize,
    /// Same stride on both axes (1 or 2).
    pub stride: usize,
    /// Zero padding before the first row and column: `[top, left]`.
    pub pad: [usize; 2],
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
    /// `[channels][kernel * kernel]`
    pub weights: Arc<Vec<f32>>,
    pub bias: Arc<Vec<f32>>,
    pub act: Activation,
}

/// Depthwise layers smaller than this many multiply-adds run on one thread. Lower than the
/// 1×1 threshold: a depthwise multiply-add costs ~8× more time (few per loaded value), so
/// 0.25 M of them (~50 µs) already pay for a fork (the 576-channel 16×16 layers of MoveNet,
/// 1.3 M, ran on one thread at 2 M).
const PARALLEL_MIN_MACS: usize = 250_000;

impl DepthwiseConv {
    /// Whether the kernels cover this shape.
    pub fn supports(kernel: usize, stride: usize) -> bool {
        matches!((kernel, stride), (3, 1) | (3, 2) | (5, 1) | (5, 2))
    }

    /// Compute `output` (`[channels][out_h][out_w]`) from `input` (`[channels][in_h][in_w]`).
    pub fn run(&self, isa: Isa, input: &[f32], output: &mut [f32]) {
        let [h, w] = self.in_hw;
        let [oh, ow] = self.out_hw;
        assert_eq!(input.len(), self.channels * h * w);
        assert_eq!(output.len(), self.channels * oh * ow);
        // Channels are independent: with several threads (`--matmul-threads`) groups of
        // them run in parallel, each with its own scratch.
        let macs = self.channels * oh * ow * self.kernel * self.kernel;
        let parts = if macs < PARALLEL_MIN_MACS {
            1
        } else {
            super::parallelism().min(self.channels)
        };
        let per = self.channels.div_ceil(parts.max(1)).max(1);
        let pieces: Vec<(usize, &mut [f32])> = output
            .chunks_mut(per * oh * ow)
            .enumerate()
            .map(|(i, o)| (i * per, o))
            .collect();
        super::run_parts(pieces, |(c0, out)| {
            let mut scratch = Scratch::default();
            for (j, out) in out.chunks_exact_mut(oh * ow).enumerate() {
                let c = c0 + j;
                let k2 = self.kernel * self.kernel;
                let job = Channel {
                    x: &input[c * h * w..][..h * w],
                    in_hw: self.in_hw,
                    out_hw: self.out_hw,
                    pad: self.pad,
                    w: &self.weights[c * k2..][..k2],
                    bias: self.bias[c],
                    act: self.act,
                };
                dispatch(isa, self.kernel, self.stride, &job, &mut scratch, out);
            }
        });
    }
}

/// One channel's work: input plane, geometry, its filter, bias and activation.
pub(crate) struct Channel<'a> {
    pub x: &'a [f32],
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
    pub pad: [usize; 2],
    pub w: &'a [f32],
    pub bias: f32,
    pub act: Activation,
}

#[derive(Default)]
pub(crate) struct Scratch {
    plane: Vec<f32>,
    row: Vec<f32>,
}

pub(crate) fn dispatch(
    isa: Isa,
    k: usize,
    s: usize,
    job: &Channel,
    sc: &mut Scratch,
    out: &mut [f32],
) {
    macro_rules! by_shape {
        ($f:ident) => {
            match (k, s) {
                (3, 1) => $f::<3, 1>(job, sc, out),
                (3, 2) => $f::<3, 2>(job, sc, out),
                (5, 1) => $f::<5, 1>(job, sc, out),
                (5, 2) => $f::<5, 2>(job, sc, out),
                _ => unreachable!("DepthwiseConv::supports was checked when the op was built"),
            }
        };
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is only chosen when the CPU reports avx512f, avx2 and fma.
        Isa::Avx512 => unsafe {
            match (k, s) {
                (3, 1) => in_place::channel::<3, 1>(job, out),
                (3, 2) => in_place::channel::<3, 2>(job, out),
                (5, 1) => in_place::channel::<5, 1>(job, out),
                (5, 2) => in_place::channel::<5, 2>(job, out),
                _ => unreachable!("DepthwiseConv::supports was checked when the op was built"),
            }
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2Fma` is only chosen when the CPU reports avx2 and fma.
        Isa::Avx2Fma => unsafe { by_shape!(channel_avx2) },
        _ => by_shape!(channel_portable),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn channel_avx2<const K: usize, const S: usize>(
    job: &Channel,
    sc: &mut Scratch,
    out: &mut [f32],
) {
    channel::<K, S, 8, true>(job, sc, out)
}

fn channel_portable<const K: usize, const S: usize>(
    job: &Channel,
    sc: &mut Scratch,
    out: &mut [f32],
) {
    channel::<K, S, 4, PORTABLE_FMA>(job, sc, out)
}

/// One channel with `V`-lane vectors.
///
/// The padded plane is split by stride phase into `S × S` planes of `hq × wq`
/// (`[row phase][column phase][hq][wq]`). In those, tap `(ky, kx)` of output `(oy, ox)` is at
/// a fixed offset plus `q = oy · wq + ox`, so the whole channel is one long loop over `q`
/// (four vectors per step: four independent FMA chains), with `(K - 1) / S` junk columns per
/// row that the final copy drops. No per-row tails: small late-layer maps (20×15) run at the
/// same speed as large ones.
#[inline(always)]
fn channel<const K: usize, const S: usize, const V: usize, const FMA: bool>(
    job: &Channel,
    sc: &mut Scratch,
    out: &mut [f32],
) {
    let [h, w] = job.in_hw;
    let [oh, ow] = job.out_hw;
    let [pt, pl] = job.pad;
    let (hq, wq) = (oh + (K - 1) / S, ow + (K - 1) / S);
    let plane = hq * wq;
    let total = oh * wq;
    let steps = total.div_ceil(4 * V);
    // Phase planes plus zero slack for the last step's overrun.
    let need = S * S * plane + 4 * V + K;
    if sc.plane.len() < need {
        sc.plane.resize(need, 0.0);
    }
    if sc.row.len() < steps * 4 * V {
        sc.row.resize(steps * 4 * V, 0.0);
    }
    let buf = &mut sc.plane[..need];
    buf.fill(0.0);
    for ry in 0..S {
        for yy in 0..hq {
            let Some(iy) = (yy * S + ry).checked_sub(pt).filter(|&y| y < h) else {
                continue;
            };
            let row = &job.x[iy * w..][..w];
            // Input column ix goes to padded column c = ix + pl: phase c % S, column c / S.
            let n = w.min((S * wq).saturating_sub(pl));
            if S == 1 {
                buf[yy * wq + pl..][..n].copy_from_slice(&row[..n]);
                continue;
            }
            debug_assert_eq!(S, 2);
            // Even and odd input columns each form one contiguous run in one phase plane:
            // a de-interleave, which vectorises (a strided gather did not).
            let (p0, p1) = buf[ry * S * plane..].split_at_mut(plane);
            let even = &mut p0[yy * wq..][..wq];
            let odd = &mut p1[yy * wq..][..wq];
            let (first, second) = if pl % 2 == 0 {
                (&mut even[pl / 2..], &mut odd[pl / 2..])
            } else {
                (&mut odd[pl / 2..], &mut even[pl / 2 + 1..])
            };
            let pairs = n / 2;
            for ((a, b), xy) in first
                .iter_mut()
                .zip(second.iter_mut())
                .zip(row[..2 * pairs].chunks_exact(2))
            {
                *a = xy[0];
                *b = xy[1];
            }
            if n % 2 == 1 {
                first[pairs] = row[n - 1];
            }
        }
    }
    let mut offs = [[0usize; K]; K];
    let mut wk = [[0f32; K]; K];
    for ky in 0..K {
        for kx in 0..K {
            offs[ky][kx] = ((ky % S) * S + kx % S) * plane + (ky / S) * wq + kx / S;
            wk[ky][kx] = job.w[ky * K + kx];
        }
    }
    let buf = &sc.plane[..need];
    for step in 0..steps {
        let q = step * 4 * V;
        let mut acc = [[job.bias; V]; 4];
        for ky in 0..K {
            for kx in 0..K {
                let src = &buf[offs[ky][kx] + q..][..4 * V];
                let wv = wk[ky][kx];
                for (j, a) in acc.iter_mut().enumerate() {
                    for l in 0..V {
                        a[l] = madd::<FMA>(wv, src[j * V + l], a[l]);
                    }
                }
            }
        }
        // The activation on each step's 4 vectors while they are in L1, not in a second pass
        // over the whole output.
        let row = &mut sc.row[q..][..4 * V];
        for (j, a) in acc.iter().enumerate() {
            row[j * V..][..V].copy_from_slice(a);
        }
        job.act.apply_slice(row);
    }
    for oy in 0..oh {
        out[oy * ow..][..ow].copy_from_slice(&sc.row[oy * wq..][..ow]);
    }
}

/// 3×3 and 5×5 depthwise straight from the input rows, AVX-512: no padded copy of the plane and no
/// copy of the output.
///
/// The padded-plane kernel above copies every channel into a zero-padded scratch plane (for
/// stride 2 also de-interleaving even and odd columns, a scalar loop) and copies the result
/// out again: on the large early maps those passes cost several times the arithmetic (the
/// 96-channel stride-2 layer of CenterFace ran at 2 GMAC/s, onnxruntime's at 7.5). Here every
/// tap of 16 outputs is one masked load of 16 input columns (stride 2: two loads and one
/// even-lane permute); the masks give the zero padding left and right, rows above and below
/// the map are skipped, and the result is written with a masked store.
#[cfg(target_arch = "x86_64")]
mod in_place {
    use super::Channel;
    use crate::kernels::pointwise::x86::act512;
    use std::arch::x86_64::*;

    /// Lanes `l` of 16 whose column `c0 + l` lies in `[0, w)`.
    #[inline(always)]
    fn lanes(c0: isize, w: usize) -> __mmask16 {
        let lo = (-c0).clamp(0, 16) as u32;
        let hi = (w as isize - c0).clamp(0, 16) as u32;
        let upto = |n: u32| ((1u32 << n) - 1) as u16;
        upto(hi) & !upto(lo)
    }

    /// The 16 floats of `row` from column `c0` (possibly negative or past the end), zero
    /// outside `[0, w)`.
    ///
    /// # Safety
    /// avx512f available; `row` points at `w` readable floats.
    #[inline(always)]
    unsafe fn load(row: *const f32, c0: isize, w: usize) -> __m512 {
        // Masked-off lanes are not accessed (AVX-512 suppresses their faults), so the
        // pointer may lie outside the row; `wrapping_offset` keeps its computation defined.
        _mm512_maskz_loadu_ps(lanes(c0, w), row.wrapping_offset(c0))
    }

    /// One channel, `K`×`K` (3 or 5), stride `S` (1 or 2): per output, the bias, the taps in
    /// row-major order, the activation. Two output rows at a time: the input rows they share
    /// are loaded once (3×3, stride 1: 4 rows loaded for 2 output rows instead of 6), and the two
    /// accumulators are independent chains.
    ///
    /// # Safety
    /// avx512f must be available; `job.x` holds `in_h · in_w` floats and `out` `out_h · out_w`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn channel<const K: usize, const S: usize>(job: &Channel, out: &mut [f32]) {
        assert!(job.w.len() >= K * K);
        // The weights broadcast once per channel (for 5×5 they do not all fit in registers
        // next to the accumulators; the FMAs then read them from the stack, in L1).
        let wk: [[__m512; K]; K] =
            std::array::from_fn(|ky| std::array::from_fn(|kx| _mm512_set1_ps(job.w[ky * K + kx])));
        let [oh, _] = job.out_hw;
        let mut oy = 0;
        while oy + 2 <= oh {
            rows::<K, S, 2>(job, &wk, out, oy);
            oy += 2;
        }
        if oy < oh {
            rows::<K, S, 1>(job, &wk, out, oy);
        }
    }

    /// Output rows `oy .. oy + R` of one channel (`R` ≤ 2).
    #[inline(always)]
    unsafe fn rows<const K: usize, const S: usize, const R: usize>(
        job: &Channel,
        wk: &[[__m512; K]; K],
        out: &mut [f32],
        oy: usize,
    ) {
        let [h, w] = job.in_hw;
        let [oh, ow] = job.out_hw;
        let [pt, pl] = job.pad;
        assert!(job.x.len() >= h * w && out.len() >= oh * ow && job.w.len() >= K * K);
        assert!(oy + R <= oh && R <= 2);
        let bias = _mm512_set1_ps(job.bias);
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let x = job.x.as_ptr();
        let o = out.as_mut_ptr();
        // Input rows `S · oy - pt + r` for r < S · (R - 1) + K (None: padding).
        let mut rows = [None::<*const f32>; 7];
        for (r, row) in rows.iter_mut().enumerate().take(S * (R - 1) + K) {
            *row = (oy * S + r)
                .checked_sub(pt)
                .filter(|&y| y < h)
                .map(|y| x.add(y * w));
        }
        // Chunks whose every load lies inside the row need no masks.
        let span = if S == 1 { 16 } else { 32 };
        let interior = |ox0: usize| {
            let first = (S * ox0) as isize - pl as isize;
            let end = (S * ox0 + K - 1 + span) as isize - pl as isize;
            first >= 0 && end <= w as isize && ox0 + 16 <= ow
        };
        let mut ox0 = 0;
        while ox0 < ow {
            let acc = if interior(ox0) {
                chunk::<K, S, R, false>(&rows, wk, bias, even, ox0, pl, w)
            } else {
                chunk::<K, S, R, true>(&rows, wk, bias, even, ox0, pl, w)
            };
            let n = (ow - ox0).min(16) as u32;
            let keep = ((1u32 << n) - 1) as u16;
            for (j, a) in acc.iter().enumerate() {
                _mm512_mask_storeu_ps(o.add((oy + j) * ow + ox0), keep, act512(*a, job.act));
            }
            ox0 += 16;
        }
    }

    /// The `R` accumulators of 16 outputs from column `ox0`; `MASKED`: some loads reach past
    /// the row (padding), else all lie inside it.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn chunk<const K: usize, const S: usize, const R: usize, const MASKED: bool>(
        rows: &[Option<*const f32>; 7],
        wk: &[[__m512; K]; K],
        bias: __m512,
        even: __m512i,
        ox0: usize,
        pl: usize,
        w: usize,
    ) -> [__m512; R] {
        let ld = |row: *const f32, c0: isize| {
            if MASKED {
                load(row, c0, w)
            } else {
                _mm512_loadu_ps(row.offset(c0))
            }
        };
        let mut acc = [bias; R];
        for (r, row) in rows.iter().enumerate().take(S * (R - 1) + K) {
            let Some(row) = *row else { continue };
            #[allow(clippy::needless_range_loop)] // kx is a column offset as well
            for kx in 0..K {
                let c0 = (S * ox0 + kx) as isize - pl as isize;
                let v = if S == 1 {
                    ld(row, c0)
                } else {
                    _mm512_permutex2var_ps(ld(row, c0), even, ld(row, c0 + 16))
                };
                // Output row j reads this input row as its kernel row r - S·j.
                for (j, a) in acc.iter_mut().enumerate() {
                    if let Some(ky) = r.checked_sub(S * j).filter(|&ky| ky < K) {
                        *a = _mm512_fmadd_ps(wk[ky][kx], v, *a);
                    }
                }
            }
        }
        acc
    }
}

// Weights are never NaN-compared; tract only needs equality to deduplicate nodes.
impl Eq for DepthwiseConv {}

impl Op for DepthwiseConv {
    fn name(&self) -> StaticName {
        format!(
            "DepthwiseConv{}x{}/{}",
            self.kernel, self.kernel, self.stride
        )
        .into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "channels {} in {:?} out {:?} pad {:?} {}",
            self.channels,
            self.in_hw,
            self.out_hw,
            self.pad,
            self.act.name()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for DepthwiseConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [oh, ow] = self.out_hw;
        super::eval_unary(&inputs, &[1, self.channels, oh, ow], |x, o| {
            self.run(Isa::best(), x, o)
        })
    }
}

impl TypedOp for DepthwiseConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [h, w] = self.in_hw;
        ensure!(
            inputs.len() == 1 && inputs[0].shape.as_concrete() == Some(&[1, self.channels, h, w]),
            "DepthwiseConv: input does not match {:?}",
            [1, self.channels, h, w]
        );
        let [oh, ow] = self.out_hw;
        Ok(tvec!(f32::fact([1, self.channels, oh, ow])))
    }
}

/// Straightforward direct convolution: the reference the kernels are tested against.
#[cfg(test)]
pub fn reference(op: &DepthwiseConv, input: &[f32]) -> Vec<f32> {
    let [h, w] = op.in_hw;
    let [oh, ow] = op.out_hw;
    let k = op.kernel;
    let mut out = vec![0f32; op.channels * oh * ow];
    for c in 0..op.channels {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = op.bias[c] as f64;
                for ky in 0..k {
                    for kx in 0..k {
                        let iy = (oy * op.stride + ky) as isize - op.pad[0] as isize;
                        let ix = (ox * op.stride + kx) as isize - op.pad[1] as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            acc += op.weights[c * k * k + ky * k + kx] as f64
                                * input[c * h * w + iy as usize * w + ix as usize] as f64;
                        }
                    }
                }
                out[c * oh * ow + oy * ow + ox] = op.act.apply(acc as f32);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::rand_vec;
    use super::*;

    #[test]
    fn threads_split_the_channels_without_changing_a_bit() {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        let mut seed = 9u64;
        let channels = 67;
        let op = DepthwiseConv {
            channels,
            kernel: 3,
            stride: 1,
            pad: [1, 1],
            in_hw: [64, 61],
            out_hw: [64, 61],
            weights: Arc::new(rand_vec(channels * 9, &mut seed)),
            bias: Arc::new(rand_vec(channels, &mut seed)),
            act: Activation::Relu,
        };
        let x = rand_vec(channels * 64 * 61, &mut seed);
        for isa in Isa::all_supported() {
            let mut one = vec![f32::NAN; x.len()];
            op.run(isa, &x, &mut one);
            let mut three = vec![f32::NAN; x.len()];
            multithread_tract_scope(Executor::multithread(3), || op.run(isa, &x, &mut three));
            assert!(
                one.iter()
                    .zip(&three)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{isa:?}"
            );
        }
    }

    #[test]
    fn every_isa_matches_the_reference_on_odd_shapes() {
        let mut seed = 7u64;
        let acts = [
            Activation::Identity,
            Activation::Relu,
            Activation::Relu6,
            Activation::HardSwish { scale: 0.16662598 },
        ];
        let mut cases = 0;
        for (k, s) in [(3usize, 1usize), (3, 2), (5, 1), (5, 2)] {
            for (h, w) in [
                (1usize, 1usize),
                (2, 3),
                (7, 5),
                (9, 17),
                (16, 16),
                (13, 70),
                (33, 129),
            ] {
                for (pad, after) in [[0, 0], [1, 1], [k / 2, k / 2], [0, 1], [k - 1, 0]]
                    .into_iter()
                    .flat_map(|p| [(p, 0), (p, 1)])
                {
                    // Padding after = before (+ 1: TensorFlow's asymmetric SAME).
                    let (ph, pw) = (h + 2 * pad[0] + after, w + 2 * pad[1] + after);
                    if ph < k || pw < k {
                        continue;
                    }
                    let (oh, ow) = ((ph - k) / s + 1, (pw - k) / s + 1);
                    let channels = 3;
                    let op = DepthwiseConv {
                        channels,
                        kernel: k,
                        stride: s,
                        pad,
                        in_hw: [h, w],
                        out_hw: [oh, ow],
                        weights: Arc::new(rand_vec(channels * k * k, &mut seed)),
                        bias: Arc::new(rand_vec(channels, &mut seed)),
                        act: acts[cases % acts.len()],
                    };
                    let x: Vec<f32> = rand_vec(channels * h * w, &mut seed)
                        .iter()
                        .map(|v| v * 4.0)
                        .collect();
                    let want = reference(&op, &x);
                    for isa in Isa::all_supported() {
                        let mut got = vec![f32::NAN; want.len()];
                        op.run(isa, &x, &mut got);
                        for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                            assert!(
                                (g - r).abs() <= 1e-5 * (1.0 + r.abs()),
                                "{isa:?} k{k} s{s} {h}x{w} pad {pad:?} {:?} [{i}]: {g} vs {r}",
                                op.act
                            );
                        }
                    }
                    cases += 1;
                }
            }
        }
        assert!(cases > 200, "only {cases} cases ran");
    }
}
