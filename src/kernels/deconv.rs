//! Depthwise transposed convolutions whose kernel is twice their stride (`k = 2s`, stride 2, 4
//! or 8): the learned ×s upsampling of CenterNet necks (MobileNet and ResNet variants) and of
//! DLA-34's IDA-up, initialised to bilinear.
//!
//! Why: tract runs them through its generic deconvolution (a product per channel, then a
//! scatter-add of every tap), 5–8 % of the seed models' time. With `k = 2s` every output pixel
//! receives exactly 2×2 taps: from input rows `i₀ = ⌊(y + p)/s⌋` and `i₀ − 1` with kernel rows
//! `(y + p) mod s` and that `+ s`, and likewise for columns. So each output row is four
//! products of two rows of the input, upsampled by repetition (`U[x] = in[⌊(x + p)/s⌋]` and
//! `U[x − s]`), with column weights that repeat every `s` pixels: one vector of weights per
//! tap serves every 16-pixel chunk (s divides 16). The upsampled rows are built once per
//! input row and channel.

use super::simd::Isa;
use std::sync::Arc;
use tract_onnx::tract_core::internal::*;

const L: usize = 16;

thread_local! {
    /// The upsampled input rows of one channel (reused: a fresh buffer per run costs page
    /// faults on the pool threads).
    static UP_ROWS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}
type Lanes = [f32; L];

#[derive(Debug, Clone, PartialEq)]
pub struct DepthwiseDeconv {
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
    /// `[top, left]` padding of the transposed convolution (cropped from the full output).
    pub pad: [usize; 2],
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
    /// `[channel][k][k]`
    pub weights: Arc<Vec<f32>>,
    pub bias: Arc<Vec<f32>>,
}

impl DepthwiseDeconv {
    pub fn supports(kernel: usize, stride: usize, pad: [usize; 2]) -> bool {
        matches!(stride, 2 | 4 | 8) && kernel == 2 * stride && pad.iter().all(|&p| p < kernel)
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        let ([h, w], [oh, ow]) = (self.in_hw, self.out_hw);
        let c = self.channels;
        assert!(Self::supports(self.kernel, self.stride, self.pad));
        assert_eq!(input.len(), c * h * w);
        assert_eq!(output.len(), c * oh * ow);
        assert_eq!(self.weights.len(), c * self.kernel * self.kernel);
        assert_eq!(self.bias.len(), c);
        let isa = Isa::best();
        let threads = super::parallelism().min(c);
        let work = c * oh * ow * 4;
        let channels = |c0: usize, out: &mut [f32]| {
            UP_ROWS.with_borrow_mut(|up| {
                for (k, o) in out.chunks_exact_mut(oh * ow).enumerate() {
                    let ch = c0 + k;
                    self.channel(isa, ch, &input[ch * h * w..][..h * w], o, up);
                }
            })
        };
        if threads <= 1 || work < super::PARALLEL_MIN_MACS {
            return channels(0, output);
        }
        let per = c.div_ceil(threads);
        let parts: Vec<(usize, &mut [f32])> = output
            .chunks_mut(per * oh * ow)
            .enumerate()
            .map(|(p, o)| (p * per, o))
            .collect();
        super::run_parts(parts, |(c0, out)| channels(c0, out));
    }

    fn channel(&self, isa: Isa, ch: usize, plane: &[f32], out: &mut [f32], up: &mut Vec<f32>) {
        let (k, s) = (self.kernel, self.stride);
        let ([h, w], [oh, ow]) = (self.in_hw, self.out_hw);
        let [pt, pl] = self.pad;
        // Upsampled rows: `up[i][s + x] = in[i][⌊(x + pl)/s⌋]` for x in [-s, ow16), zero
        // outside the input; row `h` stays zero (for input rows outside the picture).
        let ow16 = ow.next_multiple_of(L);
        let stride_u = s + ow16;
        up.resize((h + 1) * stride_u, 0.0);
        for i in 0..h {
            let row = &plane[i * w..][..w];
            let dst = &mut up[i * stride_u..][..stride_u];
            match s {
                2 => upsample_row::<2>(row, pl, dst),
                4 => upsample_row::<4>(row, pl, dst),
                _ => upsample_row::<8>(row, pl, dst),
            }
        }
        up[h * stride_u..].fill(0.0);
        let wk = &self.weights[ch * k * k..][..k * k];
        // Per kernel row and column tap b: the weights of 16 consecutive output columns
        // (those repeat every s columns, and s divides 16).
        let mut wv = [[[0f32; L]; 2]; 16];
        for (ky, wy) in wv.iter_mut().enumerate().take(k) {
            *wy =
                std::array::from_fn(|b| std::array::from_fn(|l| wk[ky * k + (l + pl) % s + b * s]));
        }
        let job = RowsJob {
            up,
            stride_u,
            s,
            h,
            pt,
            out_hw: [oh, ow],
            wv: &wv[..k],
            bias: self.bias[ch],
        };
        rows(isa, &job, out);
    }
}

/// `dst[col] = row[j]` for col = (j + 1)·S + r − pl (r < S), zero elsewhere: the input row
/// repeated S times, shifted so that `dst[S + x] = in[⌊(x + pl)/S⌋]`.
fn upsample_row<const S: usize>(row: &[f32], pl: usize, dst: &mut [f32]) {
    // Input columns whose S copies start before column 0 (pl > S) are cut; the first whole
    // block starts at `S − pl` or, past that, at a multiple of S.
    let skip = pl.saturating_sub(S).div_ceil(S); // columns j lost entirely or in part
    let mut col = 0;
    for (j, &v) in row.iter().enumerate().take(skip) {
        // Partial block: columns (j + 1)·S + r − pl that are ≥ 0.
        for r in 0..S {
            if let Some(c) = ((j + 1) * S + r).checked_sub(pl) {
                if c < dst.len() {
                    dst[c] = v;
                    col = c + 1;
                }
            }
        }
    }
    let start = ((skip + 1) * S).saturating_sub(pl).min(dst.len());
    if col < start {
        dst[col..start].fill(0.0);
    }
    col = start;
    let room = (dst.len() - col) / S;
    let n = room.min(row.len().saturating_sub(skip));
    for (block, &v) in dst[col..col + n * S].chunks_exact_mut(S).zip(&row[skip..]) {
        block.fill(v);
    }
    col += n * S;
    // A last partial block (the row is longer than the buffer), then zeros.
    if skip + n < row.len() && col < dst.len() {
        let v = row[skip + n];
        dst[col..].fill(v);
        col = dst.len();
    }
    dst[col..].fill(0.0);
}

struct RowsJob<'a> {
    up: &'a [f32],
    stride_u: usize,
    s: usize,
    h: usize,
    pt: usize,
    out_hw: [usize; 2],
    wv: &'a [[Lanes; 2]],
    bias: f32,
}

#[inline(always)]
fn load(s: &[f32]) -> Lanes {
    s[..L].try_into().expect("16 floats")
}

/// Every output row of one channel: `bias + A[x]·w₀ + A[x−s]·w₁ + B[x]·w₂ + B[x−s]·w₃`.
#[inline(always)]
fn rows_body(j: &RowsJob, out: &mut [f32]) {
    let [oh, ow] = j.out_hw;
    let s = j.s;
    for y in 0..oh {
        let t = y + j.pt;
        let (ky, i0) = (t % s, t / s);
        let row_of = |i: Option<usize>| {
            let i = i.filter(|&i| i < j.h).unwrap_or(j.h);
            &j.up[i * j.stride_u..][..j.stride_u]
        };
        let (a, b) = (row_of(Some(i0)), row_of(i0.checked_sub(1)));
        let (wa, wb) = (&j.wv[ky], &j.wv[ky + s]);
        let dst = &mut out[y * ow..][..ow];
        for x0 in (0..ow).step_by(L) {
            let (a0, a1) = (load(&a[s + x0..]), load(&a[x0..]));
            let (b0, b1) = (load(&b[s + x0..]), load(&b[x0..]));
            let mut acc = [0f32; L];
            for l in 0..L {
                acc[l] = (((j.bias + a0[l] * wa[0][l]) + a1[l] * wa[1][l]) + b0[l] * wb[0][l])
                    + b1[l] * wb[1][l];
            }
            if x0 + L <= ow {
                dst[x0..x0 + L].copy_from_slice(&acc);
            } else {
                let n = ow - x0;
                dst[x0..].copy_from_slice(&acc[..n]);
            }
        }
    }
}

fn rows(isa: Isa, j: &RowsJob, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512(j: &RowsJob, out: &mut [f32]) {
            rows_body(j, out)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(j: &RowsJob, out: &mut [f32]) {
            rows_body(j, out)
        }
        match isa {
            // SAFETY: `isa` is `Isa::best()`, which this CPU supports.
            Isa::Avx512 => return unsafe { avx512(j, out) },
            // SAFETY: as above.
            Isa::Avx2Fma => return unsafe { avx2(j, out) },
            Isa::Portable => {}
        }
    }
    rows_body(j, out)
}

// Weights are never NaN-compared; tract only needs equality to deduplicate nodes.
impl Eq for DepthwiseDeconv {}

impl Op for DepthwiseDeconv {
    fn name(&self) -> StaticName {
        format!(
            "DepthwiseUpConv{}x{}/{}",
            self.kernel, self.kernel, self.stride
        )
        .into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "channels {} in {:?} out {:?} pad {:?}",
            self.channels, self.in_hw, self.out_hw, self.pad
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for DepthwiseDeconv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [oh, ow] = self.out_hw;
        super::eval_unary(&inputs, &[1, self.channels, oh, ow], |x, o| self.run(x, o))
    }
}

impl TypedOp for DepthwiseDeconv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [h, w] = self.in_hw;
        ensure!(
            inputs.len() == 1 && inputs[0].shape.as_concrete() == Some(&[1, self.channels, h, w]),
            "DepthwiseDeconv: input does not match"
        );
        let [oh, ow] = self.out_hw;
        Ok(tvec!(f32::fact([1, self.channels, oh, ow])))
    }
}

#[cfg(test)]
mod tests {
    use super::super::rand_vec;
    use super::*;

    /// The definition: every input pixel adds `in · w[ky][kx]` to output
    /// `(i·s + ky − pt, j·s + kx − pl)`.
    fn reference(d: &DepthwiseDeconv, x: &[f32]) -> Vec<f32> {
        let (k, s) = (d.kernel, d.stride);
        let ([h, w], [oh, ow]) = (d.in_hw, d.out_hw);
        let mut out = vec![0f64; d.channels * oh * ow];
        for c in 0..d.channels {
            for v in &mut out[c * oh * ow..][..oh * ow] {
                *v = d.bias[c] as f64;
            }
            for i in 0..h {
                for j in 0..w {
                    for ky in 0..k {
                        for kx in 0..k {
                            let y = (i * s + ky) as isize - d.pad[0] as isize;
                            let xx = (j * s + kx) as isize - d.pad[1] as isize;
                            if y < 0 || xx < 0 || y >= oh as isize || xx >= ow as isize {
                                continue;
                            }
                            out[(c * oh + y as usize) * ow + xx as usize] += x[(c * h + i) * w + j]
                                as f64
                                * d.weights[(c * k + ky) * k + kx] as f64;
                        }
                    }
                }
            }
        }
        out.into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn matches_the_definition_for_every_stride_and_padding() {
        let mut seed = 31u64;
        let mut cases = 0;
        for s in [2usize, 4, 8] {
            let k = 2 * s;
            for (c, h, w) in [(1usize, 1usize, 1usize), (3, 5, 7), (5, 16, 9), (2, 3, 33)] {
                for pad in [
                    [s / 2, s / 2],
                    [0, 0],
                    [1, s - 1],
                    [k - 1, 0],
                    [0, k - 1],
                    [1, s + 1],
                ] {
                    // ONNX output size with symmetric crop `pad` on both sides.
                    let (oh, ow) = ((h - 1) * s + k, (w - 1) * s + k);
                    let Some(oh) = oh.checked_sub(2 * pad[0]).filter(|&v| v > 0) else {
                        continue;
                    };
                    let Some(ow) = ow.checked_sub(2 * pad[1]).filter(|&v| v > 0) else {
                        continue;
                    };
                    let d = DepthwiseDeconv {
                        channels: c,
                        kernel: k,
                        stride: s,
                        pad,
                        in_hw: [h, w],
                        out_hw: [oh, ow],
                        weights: Arc::new(rand_vec(c * k * k, &mut seed)),
                        bias: Arc::new(rand_vec(c, &mut seed)),
                    };
                    let x = rand_vec(c * h * w, &mut seed);
                    let want = reference(&d, &x);
                    let mut got = vec![f32::NAN; want.len()];
                    d.run(&x, &mut got);
                    for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (g - r).abs() <= 1e-5 * (1.0 + r.abs()),
                            "s{s} {c}x{h}x{w} pad {pad:?} [{i}]: {g} vs {r}"
                        );
                    }
                    cases += 1;
                }
            }
        }
        assert!(cases >= 40, "only {cases} cases");
    }

    #[test]
    fn threads_split_the_channels_without_changing_a_bit() {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        let mut seed = 37u64;
        let (c, h, w, s) = (13usize, 100usize, 121usize, 2usize);
        let d = DepthwiseDeconv {
            channels: c,
            kernel: 4,
            stride: s,
            pad: [1, 1],
            in_hw: [h, w],
            out_hw: [2 * h, 2 * w],
            weights: Arc::new(rand_vec(c * 16, &mut seed)),
            bias: Arc::new(rand_vec(c, &mut seed)),
        };
        assert!(c * 4 * h * w * 4 >= crate::kernels::PARALLEL_MIN_MACS);
        let x = rand_vec(c * h * w, &mut seed);
        let mut one = vec![f32::NAN; c * 4 * h * w];
        d.run(&x, &mut one);
        for threads in [2, 3] {
            let mut many = vec![f32::NAN; one.len()];
            multithread_tract_scope(Executor::multithread(threads), || d.run(&x, &mut many));
            assert!(one
                .iter()
                .zip(&many)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
