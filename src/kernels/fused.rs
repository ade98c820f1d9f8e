//! A 1×1 expansion and the depthwise convolution that consumes it, computed band by band so
//! the expanded tensor never leaves the cache.
//!
//! In an inverted residual block the 1×1 expansion multiplies the channels by 4–6 and the
//! depthwise convolution reads the result once. On the large early feature maps that
//! intermediate tensor is 10–30 MB: written to memory by one kernel and read back by the
//! next, it cost more than the arithmetic. Here, for a group of expanded channels and a band
//! of output rows, the expansion computes only the input rows the band needs (plus the
//! kernel's halo, recomputed for the next band) into a buffer sized for L2, and the
//! depthwise kernel runs on it at once. Every output element is computed by the same
//! operations in the same order as the two separate kernels, so the result is bit-identical.

use super::depthwise::{dispatch, Channel, DepthwiseConv, Scratch};
use super::pointwise::{gemm_serial, tile, Job, PointwiseConv};
use std::sync::Arc;
use tract_onnx::tract_core::internal::*;

/// Floats of expanded rows kept per band (512 KiB: half of a 1 MiB L2).
const BAND_FLOATS: usize = 128 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct ExpandDepthwise {
    pub expand: Arc<PointwiseConv>,
    pub depthwise: Arc<DepthwiseConv>,
}

impl ExpandDepthwise {
    /// Whether fusing pays: the expanded tensor is large (over 4 MiB).
    pub fn worth_it(expand: &PointwiseConv) -> bool {
        expand.cout * expand.hw[0] * expand.hw[1] >= 1 << 20
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        let (pw, dw) = (&*self.expand, &*self.depthwise);
        let isa = pw.isa;
        let [h, w] = pw.hw;
        let [oh, ow] = dw.out_hw;
        let (k, s, pt) = (dw.kernel, dw.stride, dw.pad[0]);
        let cexp = pw.cout;
        assert_eq!(dw.in_hw, pw.hw);
        assert_eq!(dw.channels, cexp);
        assert!(!pw.residual);
        assert_eq!(input.len(), pw.cin * h * w);
        assert_eq!(output.len(), cexp * oh * ow);
        let (mr, _) = tile(isa);
        // Channel groups of two micro-kernel blocks; bands as tall as the budget allows.
        let group = 2 * mr;
        let rows_budget = (BAND_FLOATS / (group * w)).max(k);
        let band = ((rows_budget - k) / s + 1).clamp(1, oh);
        let offs_base: Vec<usize> = (0..pw.cin).map(|i| i * h * w).collect();
        let groups: Vec<(usize, &mut [f32])> = output
            .chunks_mut(group * oh * ow)
            .enumerate()
            .map(|(g, o)| (g * group, o))
            .collect();
        super::run_parts(groups, |(g0, out)| {
            let g1 = (g0 + group).min(cexp);
            let mut expanded = Vec::new();
            let mut scratch = Scratch::default();
            let mut offs = vec![0usize; pw.cin];
            let mut oy0 = 0;
            while oy0 < oh {
                let oy1 = (oy0 + band).min(oh);
                // Input rows this band reads: [first, last] in input coordinates.
                let first = (oy0 * s) as isize - pt as isize;
                let last = ((oy1 - 1) * s + k - 1) as isize - pt as isize;
                let iy0 = first.max(0) as usize;
                let iy1 = ((last + 1).max(0) as usize).min(h);
                if iy0 >= iy1 {
                    // Only padding under this band: the depthwise sees zeros.
                    expanded.clear();
                }
                let rows = iy1.saturating_sub(iy0);
                let pixels = rows * w;
                expanded.resize((g1 - g0) * pixels.max(1), 0.0);
                if rows > 0 {
                    for (o, b) in offs.iter_mut().zip(&offs_base) {
                        *o = b + iy0 * w;
                    }
                    let job = Job {
                        cin: pw.cin,
                        cout: g1 - g0,
                        pixels,
                        x: input,
                        offs: &offs,
                        packed: &pw.packed[(g0 / mr) * pw.cin * mr..],
                        bias: &pw.bias[g0..],
                        act: pw.act,
                        residual: None,
                        ds: pixels,
                        panel: false,
                    };
                    gemm_serial(isa, &job, &mut expanded);
                }
                let k2 = k * k;
                for c in g0..g1 {
                    let plane = &expanded[(c - g0) * pixels..][..pixels];
                    let ch = Channel {
                        x: plane,
                        in_hw: [rows, w],
                        out_hw: [oy1 - oy0, ow],
                        pad: [(iy0 as isize - first) as usize, dw.pad[1]],
                        w: &dw.weights[c * k2..][..k2],
                        bias: dw.bias[c],
                        act: dw.act,
                    };
                    let dst = &mut out[(c - g0) * oh * ow + oy0 * ow..][..(oy1 - oy0) * ow];
                    dispatch(isa, k, s, &ch, &mut scratch, dst);
                }
                oy0 = oy1;
            }
        });
    }
}

// Equal parts, equal ops.
impl Eq for ExpandDepthwise {}

impl Op for ExpandDepthwise {
    fn name(&self) -> StaticName {
        let dw = &self.depthwise;
        format!("ExpandDepthwise{}x{}/{}", dw.kernel, dw.kernel, dw.stride).into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let mut v = self.expand.info()?;
        v.extend(self.depthwise.info()?);
        Ok(v)
    }

    op_as_typed_op!();
}

impl EvalOp for ExpandDepthwise {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [oh, ow] = self.depthwise.out_hw;
        super::eval_unary(&inputs, &[1, self.depthwise.channels, oh, ow], |x, o| {
            self.run(x, o)
        })
    }
}

impl TypedOp for ExpandDepthwise {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [h, w] = self.expand.hw;
        ensure!(
            inputs.len() == 1 && inputs[0].shape.as_concrete() == Some(&[1, self.expand.cin, h, w]),
            "ExpandDepthwise: input does not match"
        );
        let [oh, ow] = self.depthwise.out_hw;
        Ok(tvec!(f32::fact([1, self.depthwise.channels, oh, ow])))
    }
}

#[cfg(test)]
mod tests {
    use super::super::activation::Activation;
    use super::super::rand_vec;
    use super::super::simd::Isa;
    use super::*;

    #[test]
    fn fused_equals_the_two_kernels_bit_for_bit() {
        let mut seed = 21u64;
        let mut cases = 0;
        // Shapes with many bands (tall maps, wide rows), partial channel groups, both strides
        // and kernel sizes, asymmetric padding.
        for (cin, cexp, h, w) in [
            (16, 96, 70, 300),
            (24, 37, 33, 64),
            (3, 5, 9, 7),
            (8, 200, 40, 41),
        ] {
            for (k, s, pad, after) in [
                (3, 1, 1, 1),
                (3, 2, 1, 1),
                (3, 2, 0, 1),
                (5, 1, 2, 2),
                (5, 2, 1, 2),
            ] {
                let oh = (h + pad + after - k) / s + 1;
                let ow = (w + pad + after - k) / s + 1;
                let wexp = Arc::new(rand_vec(cin * cexp, &mut seed));
                let bexp = Arc::new(rand_vec(cexp, &mut seed));
                let x = rand_vec(cin * h * w, &mut seed);
                for isa in Isa::all_supported() {
                    let expand = PointwiseConv::new(
                        isa,
                        cin,
                        cexp,
                        [h, w],
                        &wexp,
                        bexp.clone(),
                        Activation::Relu6,
                        false,
                    );
                    let depthwise = DepthwiseConv {
                        channels: cexp,
                        kernel: k,
                        stride: s,
                        pad: [pad, pad],
                        in_hw: [h, w],
                        out_hw: [oh, ow],
                        weights: Arc::new(rand_vec(cexp * k * k, &mut seed)),
                        bias: Arc::new(rand_vec(cexp, &mut seed)),
                        act: Activation::HardSwish { scale: 0.16662598 },
                    };
                    let mut mid = vec![f32::NAN; cexp * h * w];
                    expand.run(&x, None, &mut mid);
                    let mut want = vec![f32::NAN; cexp * oh * ow];
                    depthwise.run(isa, &mid, &mut want);
                    let fused = ExpandDepthwise {
                        expand: Arc::new(expand),
                        depthwise: Arc::new(depthwise),
                    };
                    let mut got = vec![f32::NAN; want.len()];
                    fused.run(&x, &mut got);
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{isa:?} {cin}->{cexp} {h}x{w} k{k} s{s} pad {pad}+{after}"
                    );
                }
                cases += 1;
            }
        }
        assert_eq!(cases, 20);
    }
}
