//! Pointwise (1×1) convolution, NCHW, with bias, activation and an optional residual input
//! fused: MobileNet's expansion and projection layers, most of the network's arithmetic.
//!
//! In NCHW a 1×1 convolution is `out[o][p] = bias[o] + Σ_i w[o][i] · x[i][p]`. The input
//! needs no packing: for a tile of `NR` consecutive pixels, row `i` of the tile is contiguous
//! in memory. The weights are packed once, when the op is built, in blocks of `MR` output
//! channels (`[block][i][MR]`), so the micro-kernel walks both operands sequentially while
//! keeping an `MR × NR` block of outputs in registers: per input channel, `NR / V` vector
//! loads, `MR` broadcasts, and `MR · NR / V` FMAs. Pixel tiles run outermost so the input tile
//! stays in L1/L2 while every output block consumes it.

use super::activation::Activation;
use super::simd::{madd, Isa, PORTABLE_FMA};
use std::sync::Arc;
use tract_onnx::tract_core::internal::*;

/// One 1×1 convolution with its packed weights.
#[derive(Debug, Clone, PartialEq)]
pub struct PointwiseConv {
    pub cin: usize,
    pub cout: usize,
    pub hw: [usize; 2],
    /// `[cout][cin]`, as in the model.
    pub weights: Arc<Vec<f32>>,
    pub bias: Arc<Vec<f32>>,
    pub act: Activation,
    /// A second input added after the activation (`out = act(conv) + residual`).
    pub residual: bool,
    /// The instruction set the packing was made for.
    pub isa: Isa,
    packed: Arc<Vec<f32>>,
}

/// Micro-kernel shape `(MR, NR)` of each instruction set.
fn tile(isa: Isa) -> (usize, usize) {
    match isa {
        Isa::Avx512 => (8, 32),
        Isa::Avx2Fma => (6, 16),
        Isa::Portable => (4, 8),
    }
}

impl PointwiseConv {
    pub fn new(
        isa: Isa,
        cin: usize,
        cout: usize,
        hw: [usize; 2],
        weights: Arc<Vec<f32>>,
        bias: Arc<Vec<f32>>,
        act: Activation,
        residual: bool,
    ) -> PointwiseConv {
        let (mr, _) = tile(isa);
        let blocks = cout.div_ceil(mr);
        let mut packed = vec![0f32; blocks * cin * mr];
        for o in 0..cout {
            let (b, r) = (o / mr, o % mr);
            for i in 0..cin {
                packed[(b * cin + i) * mr + r] = weights[o * cin + i];
            }
        }
        PointwiseConv {
            cin,
            cout,
            hw,
            weights,
            bias,
            act,
            residual,
            isa,
            packed: Arc::new(packed),
        }
    }

    /// `output = act(conv(input)) (+ residual)`, all `[channels][h * w]`.
    pub fn run(&self, input: &[f32], residual: Option<&[f32]>, output: &mut [f32]) {
        let p = self.hw[0] * self.hw[1];
        assert_eq!(input.len(), self.cin * p);
        assert_eq!(output.len(), self.cout * p);
        assert_eq!(residual.is_some(), self.residual);
        if let Some(r) = residual {
            assert_eq!(r.len(), output.len());
        }
        let job = Job {
            cin: self.cin,
            cout: self.cout,
            pixels: p,
            x: input,
            packed: &self.packed,
            bias: &self.bias,
            act: self.act,
            residual,
        };
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: ops are built for `Isa::best()` or, in tests, for a supported level.
            Isa::Avx512 => unsafe { run_avx512(&job, output) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2Fma => unsafe { run_avx2(&job, output) },
            _ => run_portable(&job, output),
        }
    }
}

struct Job<'a> {
    cin: usize,
    cout: usize,
    pixels: usize,
    x: &'a [f32],
    packed: &'a [f32],
    bias: &'a [f32],
    act: Activation,
    residual: Option<&'a [f32]>,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(job: &Job, out: &mut [f32]) {
    conv::<8, 32>(job, out, |cin, x, xs, x0, w, bias| {
        // SAFETY: the caller checked the bounds; avx512f is enabled on this function.
        unsafe { x86::micro_avx512(cin, x, xs, x0, w, bias) }
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(job: &Job, out: &mut [f32]) {
    conv::<6, 16>(job, out, |cin, x, xs, x0, w, bias| {
        // SAFETY: the caller checked the bounds; avx2 and fma are enabled on this function.
        unsafe { x86::micro_avx2(cin, x, xs, x0, w, bias) }
    })
}

fn run_portable(job: &Job, out: &mut [f32]) {
    conv::<4, 8>(job, out, micro::<4, 8, PORTABLE_FMA>)
}

/// The tiling around a micro-kernel `kernel(cin, x, x_stride, x_offset, packed_w, bias)`
/// which returns `MR × NR` outputs.
#[inline(always)]
fn conv<const MR: usize, const NR: usize>(
    job: &Job,
    out: &mut [f32],
    kernel: impl Fn(usize, &[f32], usize, usize, &[f32], [f32; MR]) -> [[f32; NR]; MR],
) {
    let (cin, p) = (job.cin, job.pixels);
    let blocks = job.cout.div_ceil(MR);
    assert!(job.x.len() >= cin * p && job.packed.len() >= blocks * cin * MR);
    // The last, partial pixel tile is copied into a zero-padded tile.
    let mut edge = Vec::new();
    let mut p0 = 0;
    while p0 < p {
        let n = NR.min(p - p0);
        let (x, xs, x0) = if n == NR {
            (job.x, p, p0)
        } else {
            edge.clear();
            edge.resize(cin * NR, 0.0);
            for i in 0..cin {
                edge[i * NR..][..n].copy_from_slice(&job.x[i * p + p0..][..n]);
            }
            (&edge[..], NR, 0)
        };
        // Every row the kernel reads, `x[i * xs + x0 ..][..NR]` for i < cin, is in bounds.
        assert!(cin == 0 || (cin - 1) * xs + x0 + NR <= x.len());
        for b in 0..blocks {
            let o0 = b * MR;
            let mut bias = [0f32; MR];
            for (r, v) in bias.iter_mut().enumerate() {
                *v = job.bias.get(o0 + r).copied().unwrap_or(0.0);
            }
            let acc = kernel(
                cin,
                x,
                xs,
                x0,
                &job.packed[b * cin * MR..][..cin * MR],
                bias,
            );
            for (r, row) in acc.iter().enumerate().take(job.cout - o0) {
                let at = (o0 + r) * p + p0;
                let dst = &mut out[at..][..n];
                dst.copy_from_slice(&row[..n]);
                job.act.apply_slice(dst);
                if let Some(res) = job.residual {
                    for (d, s) in dst.iter_mut().zip(&res[at..][..n]) {
                        *d += s;
                    }
                }
            }
        }
        p0 += n;
    }
}

/// Portable micro-kernel: `MR` output channels × `NR` pixels over all input channels.
#[inline(always)]
fn micro<const MR: usize, const NR: usize, const FMA: bool>(
    cin: usize,
    x: &[f32],
    xs: usize,
    x0: usize,
    w: &[f32],
    bias: [f32; MR],
) -> [[f32; NR]; MR] {
    let mut acc = [[0f32; NR]; MR];
    for (r, a) in acc.iter_mut().enumerate() {
        *a = [bias[r]; NR];
    }
    for i in 0..cin {
        let xr = &x[i * xs + x0..][..NR];
        let wr = &w[i * MR..][..MR];
        for r in 0..MR {
            let wv = wr[r];
            for c in 0..NR {
                acc[r][c] = madd::<FMA>(wv, xr[c], acc[r][c]);
            }
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// 8 output channels × 32 pixels in 16 zmm accumulators.
    ///
    /// # Safety
    /// avx512f must be available; `x[i * xs + x0 ..][..32]` for `i < cin` and `w[..cin * 8]`
    /// must be in bounds.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn micro_avx512(
        cin: usize,
        x: &[f32],
        xs: usize,
        x0: usize,
        w: &[f32],
        bias: [f32; 8],
    ) -> [[f32; 32]; 8] {
        let mut acc = [[_mm512_setzero_ps(); 2]; 8];
        for r in 0..8 {
            acc[r] = [_mm512_set1_ps(bias[r]); 2];
        }
        let xp = x.as_ptr().add(x0);
        let wp = w.as_ptr();
        for i in 0..cin {
            let row = xp.add(i * xs);
            let a = _mm512_loadu_ps(row);
            let b = _mm512_loadu_ps(row.add(16));
            let wi = wp.add(i * 8);
            for r in 0..8 {
                let wv = _mm512_set1_ps(*wi.add(r));
                acc[r][0] = _mm512_fmadd_ps(wv, a, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(wv, b, acc[r][1]);
            }
        }
        let mut out = [[0f32; 32]; 8];
        for r in 0..8 {
            _mm512_storeu_ps(out[r].as_mut_ptr(), acc[r][0]);
            _mm512_storeu_ps(out[r].as_mut_ptr().add(16), acc[r][1]);
        }
        out
    }

    /// 6 output channels × 16 pixels in 12 ymm accumulators.
    ///
    /// # Safety
    /// avx2 and fma must be available; bounds as for [`micro_avx512`] with 16 pixels and
    /// 6 channels.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn micro_avx2(
        cin: usize,
        x: &[f32],
        xs: usize,
        x0: usize,
        w: &[f32],
        bias: [f32; 6],
    ) -> [[f32; 16]; 6] {
        let mut acc = [[_mm256_setzero_ps(); 2]; 6];
        for r in 0..6 {
            acc[r] = [_mm256_set1_ps(bias[r]); 2];
        }
        let xp = x.as_ptr().add(x0);
        let wp = w.as_ptr();
        for i in 0..cin {
            let row = xp.add(i * xs);
            let a = _mm256_loadu_ps(row);
            let b = _mm256_loadu_ps(row.add(8));
            let wi = wp.add(i * 6);
            for r in 0..6 {
                let wv = _mm256_broadcast_ss(&*wi.add(r));
                acc[r][0] = _mm256_fmadd_ps(wv, a, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(wv, b, acc[r][1]);
            }
        }
        let mut out = [[0f32; 16]; 6];
        for r in 0..6 {
            _mm256_storeu_ps(out[r].as_mut_ptr(), acc[r][0]);
            _mm256_storeu_ps(out[r].as_mut_ptr().add(8), acc[r][1]);
        }
        out
    }
}

// Weights are never NaN-compared; tract only needs equality to deduplicate nodes.
impl Eq for PointwiseConv {}

impl Op for PointwiseConv {
    fn name(&self) -> StaticName {
        "PointwiseConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} -> {} channels, {:?} {}{} ({})",
            self.cin,
            self.cout,
            self.hw,
            self.act.name(),
            if self.residual { "+residual" } else { "" },
            self.isa.name()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for PointwiseConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(
            inputs.len() == 1 + self.residual as usize,
            "PointwiseConv: wrong inputs"
        );
        let [h, w] = self.hw;
        let mut out = Tensor::zero::<f32>(&[1, self.cout, h, w])?;
        {
            let x = inputs[0].try_as_plain_ram()?;
            let r = match inputs.get(1) {
                Some(r) => Some(r.try_as_plain_ram()?),
                None => None,
            };
            let r = match &r {
                Some(v) => Some(v.as_slice::<f32>()?),
                None => None,
            };
            let mut o = out.try_as_plain_ram_mut()?;
            self.run(x.as_slice::<f32>()?, r, o.as_slice_mut::<f32>()?);
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for PointwiseConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [h, w] = self.hw;
        ensure!(
            inputs[0].shape.as_concrete() == Some(&[1, self.cin, h, w]),
            "PointwiseConv: input does not match {:?}",
            [1, self.cin, h, w]
        );
        if self.residual {
            ensure!(
                inputs.len() == 2 && inputs[1].shape.as_concrete() == Some(&[1, self.cout, h, w]),
                "PointwiseConv: residual does not match the output"
            );
        }
        Ok(tvec!(f32::fact([1, self.cout, h, w])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand_vec(n: usize, seed: &mut u64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn every_isa_matches_the_reference_on_odd_shapes() {
        let mut seed = 11u64;
        let mut cases = 0;
        for (cin, cout) in [(1, 1), (3, 5), (16, 16), (17, 33), (24, 144), (96, 7)] {
            for hw in [[1, 1], [3, 5], [8, 8], [7, 13], [16, 40]] {
                for (k, residual) in [(0, false), (1, true), (2, false), (3, true)] {
                    let act = [
                        Activation::Identity,
                        Activation::Relu,
                        Activation::Relu6,
                        Activation::HardSwish { scale: 1.0 / 6.0 },
                    ][k];
                    let p = hw[0] * hw[1];
                    let w = Arc::new(rand_vec(cin * cout, &mut seed));
                    let b = Arc::new(rand_vec(cout, &mut seed));
                    let x: Vec<f32> = rand_vec(cin * p, &mut seed)
                        .iter()
                        .map(|v| v * 4.0)
                        .collect();
                    let res = residual.then(|| rand_vec(cout * p, &mut seed));
                    let mut want = vec![0f32; cout * p];
                    for o in 0..cout {
                        for j in 0..p {
                            let mut acc = b[o] as f64;
                            for i in 0..cin {
                                acc += w[o * cin + i] as f64 * x[i * p + j] as f64;
                            }
                            let mut v = act.apply(acc as f32);
                            if let Some(r) = &res {
                                v += r[o * p + j];
                            }
                            want[o * p + j] = v;
                        }
                    }
                    for isa in Isa::all_supported() {
                        let op = PointwiseConv::new(
                            isa,
                            cin,
                            cout,
                            hw,
                            w.clone(),
                            b.clone(),
                            act,
                            residual,
                        );
                        let mut got = vec![f32::NAN; want.len()];
                        op.run(&x, res.as_deref(), &mut got);
                        for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                            assert!(
                                (g - r).abs() <= 1e-4 * (1.0 + r.abs()),
                                "{isa:?} {cin}->{cout} {hw:?} {act:?} [{i}]: {g} vs {r}"
                            );
                        }
                    }
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 120);
    }
}
