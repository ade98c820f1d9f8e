//! Fusions around the depthwise convolution, computed band by band so the big intermediate
//! tensors of an inverted residual block never leave the cache:
//! - [`ExpandDepthwise`]: a 1×1 expansion and the depthwise convolution that consumes it;
//! - [`DepthwiseProject`]: a depthwise convolution and the 1×1 projection that consumes it.
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
use super::pointwise::{gemm_serial, gemm_serial_dst, tile, Dst, Job, PointwiseConv};
use std::sync::Arc;
use tract_onnx::tract_core::internal::*;

/// Floats of expanded rows kept per band (512 KiB: half of a 1 MiB L2).
const BAND_FLOATS: usize = 128 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct ExpandDepthwise {
    pub expand: Arc<PointwiseConv>,
    pub depthwise: Arc<DepthwiseConv>,
    /// The block's 1×1 projection, fused too (the whole inverted residual block): each band's
    /// depthwise output goes to an L2 buffer the projection reads, instead of to memory.
    pub project: Option<Arc<PointwiseConv>>,
}

impl ExpandDepthwise {
    /// Whether fusing pays: the expanded tensor is large (over 4 MiB).
    pub fn worth_it(expand: &PointwiseConv) -> bool {
        expand.cout * expand.hw[0] * expand.hw[1] >= 1 << 20
    }

    /// Output rows per band: as many as the expanded rows of one channel group allow in
    /// [`BAND_FLOATS`], and with a projection also as the depthwise output of all channels
    /// allows in [`DW_BAND_FLOATS`].
    fn band(&self) -> usize {
        let (pw, dw) = (&*self.expand, &*self.depthwise);
        let (mr, _) = tile(pw.isa);
        let (k, s) = (dw.kernel, dw.stride);
        let rows_budget = (BAND_FLOATS / (2 * mr * pw.hw[1])).max(k);
        let band = ((rows_budget - k) / s + 1).clamp(1, dw.out_hw[0]);
        match self.project {
            Some(_) => band.min((DW_BAND_FLOATS / (pw.cout * dw.out_hw[1])).max(1)),
            None => band,
        }
    }

    /// Whether the projection `project` should join: its weights are small (each band reads
    /// them again, see [`DepthwiseProject::worth_it`]). The bands get shorter with the
    /// projection (2–5 rows), but the halo rows each band shares with the next are carried
    /// over, not expanded again.
    pub fn worth_adding(&self, project: &PointwiseConv) -> bool {
        project.cin * project.cout <= 8 * 1024
    }

    /// `output = depthwise(expand(input))`, or with a projection
    /// `project(depthwise(expand(input))) (+ residual)`; all `[channels][h * w]`.
    pub fn run(&self, input: &[f32], residual: Option<&[f32]>, output: &mut [f32]) {
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
        let cout = match &self.project {
            Some(p) => {
                assert_eq!((p.cin, p.hw), (cexp, dw.out_hw));
                assert_eq!(residual.is_some(), p.residual);
                p.cout
            }
            None => {
                assert!(residual.is_none());
                cexp
            }
        };
        assert_eq!(output.len(), cout * oh * ow);
        if let Some(r) = residual {
            assert_eq!(r.len(), output.len());
        }
        let (mr, _) = tile(isa);
        // Channel groups of two micro-kernel blocks; bands as tall as the budget allows.
        let group = 2 * mr;
        let band = self.band();
        let offs_base: Vec<usize> = (0..pw.cin).map(|i| i * h * w).collect();
        // Bands outermost, channel groups inside: a band's input rows are read from memory
        // once and stay in L2 while every group expands them (with groups outermost the whole
        // input was streamed from memory once per group: 4 times for 96 channels). With
        // several threads each takes a contiguous range of output rows.
        let macs = cexp * (pw.cin * h * w + oh * ow * k * k);
        let threads = super::parallelism();
        let parts = if threads <= 1 || macs < super::PARALLEL_MIN_MACS {
            1
        } else {
            threads.min(oh)
        };
        let per = oh.div_ceil(parts);
        let ranges: Vec<usize> = (0..oh).step_by(per).collect();
        let dst = Dst::new(output);
        super::run_parts(ranges, |r0| {
            let r1 = (r0 + per).min(oh);
            let mut expanded = Vec::new();
            let mut scratch = Scratch::default();
            let mut offs = vec![0usize; pw.cin];
            let mut dw_band = match self.project {
                Some(_) => DW_BAND.with(std::cell::Cell::take),
                None => Vec::new(),
            };
            let mut dw_offs = vec![0usize; cexp];
            let k2 = k * k;
            // The last expanded rows of the previous band (input rows [held.0, held.1), at
            // most k - 1 per channel): the next band reads them again (its halo) and copies
            // them instead of expanding them again.
            let hk = k - 1;
            let mut halo: Vec<f32> = HALO.with(std::cell::Cell::take);
            halo.resize(cexp * hk * w, 0.0);
            let mut held: Option<(usize, usize)> = None;
            let mut oy0 = r0;
            while oy0 < r1 {
                let oy1 = (oy0 + band).min(r1);
                let nb = (oy1 - oy0) * ow;
                if self.project.is_some() {
                    dw_band.resize(cexp * nb, 0.0);
                }
                // Input rows this band reads: [first, last] in input coordinates.
                let first = (oy0 * s) as isize - pt as isize;
                let last = ((oy1 - 1) * s + k - 1) as isize - pt as isize;
                let iy0 = (first.max(0) as usize).min(h);
                let iy1 = ((last + 1).max(0) as usize).min(h).max(iy0);
                let rows = iy1 - iy0;
                let pixels = rows * w;
                // Rows [iy0, iy0 + reused) come from `halo` (from its row `from`).
                let (from, reused) = match held {
                    Some((h0, h1)) if (h0..h1).contains(&iy0) => (iy0 - h0, (h1 - iy0).min(rows)),
                    _ => (0, 0),
                };
                let keep = hk.min(rows);
                for (o, b) in offs.iter_mut().zip(&offs_base) {
                    *o = b + (iy0 + reused) * w;
                }
                for g0 in (0..cexp).step_by(group) {
                    let g1 = (g0 + group).min(cexp);
                    expanded.resize((g1 - g0) * pixels, 0.0);
                    if rows > reused {
                        let job = Job {
                            cin: pw.cin,
                            cout: g1 - g0,
                            pixels: (rows - reused) * w,
                            x: input,
                            offs: &offs,
                            packed: &pw.packed[(g0 / mr) * pw.cin * mr..],
                            bias: &pw.bias[g0..],
                            act: pw.act,
                            residual: None,
                            ds: pixels,
                            panel: false,
                        };
                        gemm_serial(isa, &job, &mut expanded[reused * w..]);
                    }
                    for c in g0..g1 {
                        let plane = &mut expanded[(c - g0) * pixels..][..pixels];
                        let kept = &mut halo[c * hk * w..][..hk * w];
                        plane[..reused * w].copy_from_slice(&kept[from * w..][..reused * w]);
                        kept[..keep * w].copy_from_slice(&plane[(rows - keep) * w..]);
                        let ch = Channel {
                            x: &expanded[(c - g0) * pixels..][..pixels],
                            in_hw: [rows, w],
                            out_hw: [oy1 - oy0, ow],
                            pad: [(iy0 as isize - first) as usize, dw.pad[1]],
                            w: &dw.weights[c * k2..][..k2],
                            bias: dw.bias[c],
                            act: dw.act,
                        };
                        let out = if self.project.is_some() {
                            &mut dw_band[c * nb..][..nb]
                        } else {
                            // SAFETY: each part writes only its rows [r0, r1) of every channel.
                            unsafe { dst.slice(c * oh * ow + oy0 * ow, nb) }
                        };
                        dispatch(isa, k, s, &ch, &mut scratch, out);
                    }
                }
                if let Some(p) = &self.project {
                    for (i, o) in dw_offs.iter_mut().enumerate() {
                        *o = i * nb;
                    }
                    let job = Job {
                        cin: cexp,
                        cout: p.cout,
                        pixels: nb,
                        x: &dw_band,
                        offs: &dw_offs,
                        packed: &p.packed,
                        bias: &p.bias,
                        act: p.act,
                        residual: residual.map(|r| &r[oy0 * ow..]),
                        ds: oh * ow,
                        panel: false,
                    };
                    // SAFETY: each part writes only its rows [r0, r1) of every output channel.
                    unsafe { gemm_serial_dst(isa, &job, dst.offset(oy0 * ow)) };
                }
                held = Some((iy1 - keep, iy1));
                oy0 = oy1;
            }
            if self.project.is_some() {
                DW_BAND.with(|keep| keep.set(dw_band));
            }
            HALO.with(|keep| keep.set(halo));
        });
    }
}

// Equal parts, equal ops.
impl Eq for ExpandDepthwise {}

impl Op for ExpandDepthwise {
    fn name(&self) -> StaticName {
        let dw = &self.depthwise;
        let what = match self.project {
            Some(_) => "ExpandDepthwiseProject",
            None => "ExpandDepthwise",
        };
        format!("{what}{}x{}/{}", dw.kernel, dw.kernel, dw.stride).into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let mut v = self.expand.info()?;
        v.extend(self.depthwise.info()?);
        if let Some(p) = &self.project {
            v.extend(p.info()?);
        }
        Ok(v)
    }

    op_as_typed_op!();
}

impl EvalOp for ExpandDepthwise {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [oh, ow] = self.depthwise.out_hw;
        let (cout, residual) = match &self.project {
            Some(p) => (p.cout, p.residual),
            None => (self.depthwise.channels, false),
        };
        let shape = [1, cout, oh, ow];
        super::eval_with_residual("ExpandDepthwise", &inputs, residual, &shape, |x, r, o| {
            self.run(x, r, o)
        })
    }
}

impl TypedOp for ExpandDepthwise {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [h, w] = self.expand.hw;
        ensure!(
            inputs[0].shape.as_concrete() == Some(&[1, self.expand.cin, h, w]),
            "ExpandDepthwise: input does not match"
        );
        let [oh, ow] = self.depthwise.out_hw;
        let cout = match &self.project {
            Some(p) => {
                ensure!(
                    inputs.len() == 1 + p.residual as usize
                        && inputs[1..]
                            .iter()
                            .all(|r| r.shape.as_concrete() == Some(&[1, p.cout, oh, ow])),
                    "ExpandDepthwise: residual does not match the output"
                );
                p.cout
            }
            None => self.depthwise.channels,
        };
        Ok(tvec!(f32::fact([1, cout, oh, ow])))
    }
}

/// A depthwise convolution and the 1×1 projection that alone consumes it (+ the block's
/// residual), band by band: for a band of output rows the depthwise kernel writes all channels
/// into a buffer sized for L2, and the projection reads them from there at once. The depthwise
/// output (the block's widest tensor on the early maps: 32 × 240 × 320 floats in CenterFace)
/// is never written to memory and read back. The depthwise reads its input rows in place, so
/// bands need no recomputation. Same operations in the same order as the two separate
/// kernels: bit-identical.
///
/// With several threads each takes a contiguous range of output rows (the split the next
/// 1×1 product uses too, so each core reads what it wrote).
#[derive(Debug, Clone, PartialEq)]
pub struct DepthwiseProject {
    pub depthwise: Arc<DepthwiseConv>,
    pub project: Arc<PointwiseConv>,
}

/// Floats of depthwise output kept per band (256 KiB: a quarter of a 1 MiB L2).
const DW_BAND_FLOATS: usize = 64 * 1024;

thread_local! {
    /// The band buffer of the fused products run on this thread (reused: a fresh buffer per
    /// call costs page faults on the pool threads).
    static DW_BAND: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
    /// The expanded halo rows [`ExpandDepthwise`] carries from one band to the next.
    static HALO: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

impl DepthwiseProject {
    /// Whether fusing pays: the depthwise output is large (at least 1 MiB) and the
    /// projection's weights small (at most 32 KiB). Every band reads all the weights again:
    /// on the late maps (960 → 160 channels at 15×20) a band is a few dozen pixels and
    /// re-reading 600 KiB of weights per band cost more than the tensor saved (measured:
    /// CenterFace's late blocks 30–50 % slower fused).
    pub fn worth_it(dw: &DepthwiseConv, project: &PointwiseConv) -> bool {
        dw.channels * dw.out_hw[0] * dw.out_hw[1] >= 1 << 18
            && project.cin * project.cout <= 8 * 1024
    }

    /// `output = project(depthwise(input)) (+ residual)`, all `[channels][h * w]`.
    pub fn run(&self, input: &[f32], residual: Option<&[f32]>, output: &mut [f32]) {
        let (dw, pw) = (&*self.depthwise, &*self.project);
        let isa = pw.isa;
        let [h, w] = dw.in_hw;
        let [oh, ow] = dw.out_hw;
        let (k, s, pt) = (dw.kernel, dw.stride, dw.pad[0]);
        let c = dw.channels;
        assert_eq!(pw.cin, c);
        assert_eq!(pw.hw, dw.out_hw);
        assert_eq!(input.len(), c * h * w);
        assert_eq!(output.len(), pw.cout * oh * ow);
        assert_eq!(residual.is_some(), pw.residual);
        if let Some(r) = residual {
            assert_eq!(r.len(), output.len());
        }
        // Bands of an even number of rows (the depthwise kernel computes two at a time).
        let band = (DW_BAND_FLOATS / (c * ow)).clamp(1, oh);
        let band = if band > 1 { band & !1 } else { 1 };
        let macs = c * oh * ow * (k * k + pw.cout);
        let threads = super::parallelism();
        let parts = if threads <= 1 || macs < super::PARALLEL_MIN_MACS {
            1
        } else {
            threads.min(oh)
        };
        let per = oh.div_ceil(parts);
        let ranges: Vec<usize> = (0..oh).step_by(per).collect();
        let dst = Dst::new(output);
        super::run_parts(ranges, |r0| {
            let r1 = (r0 + per).min(oh);
            let mut buf = DW_BAND.with(std::cell::Cell::take);
            let mut scratch = Scratch::default();
            let mut offs = vec![0usize; c];
            let k2 = k * k;
            let mut oy0 = r0;
            while oy0 < r1 {
                let oy1 = (oy0 + band).min(r1);
                let nb = (oy1 - oy0) * ow;
                buf.resize(c * nb, 0.0);
                // Input rows this band reads: [first, last] in input coordinates.
                let first = (oy0 * s) as isize - pt as isize;
                let last = ((oy1 - 1) * s + k - 1) as isize - pt as isize;
                let iy0 = (first.max(0) as usize).min(h);
                let iy1 = ((last + 1).max(0) as usize).min(h).max(iy0);
                let rows = iy1 - iy0;
                for (ch, out) in buf.chunks_exact_mut(nb).enumerate() {
                    let job = Channel {
                        x: &input[ch * h * w + iy0 * w..][..rows * w],
                        in_hw: [rows, w],
                        out_hw: [oy1 - oy0, ow],
                        pad: [(iy0 as isize - first) as usize, dw.pad[1]],
                        w: &dw.weights[ch * k2..][..k2],
                        bias: dw.bias[ch],
                        act: dw.act,
                    };
                    dispatch(isa, k, s, &job, &mut scratch, out);
                }
                for (i, o) in offs.iter_mut().enumerate() {
                    *o = i * nb;
                }
                let job = Job {
                    cin: c,
                    cout: pw.cout,
                    pixels: nb,
                    x: &buf,
                    offs: &offs,
                    packed: &pw.packed,
                    bias: &pw.bias,
                    act: pw.act,
                    residual: residual.map(|r| &r[oy0 * ow..]),
                    ds: oh * ow,
                    panel: false,
                };
                // SAFETY: each part writes only its rows [r0, r1) of every output channel.
                unsafe { gemm_serial_dst(isa, &job, dst.offset(oy0 * ow)) };
                oy0 = oy1;
            }
            DW_BAND.with(|keep| keep.set(buf));
        });
    }
}

impl Eq for DepthwiseProject {}

impl Op for DepthwiseProject {
    fn name(&self) -> StaticName {
        let dw = &self.depthwise;
        format!("DepthwiseProject{}x{}/{}", dw.kernel, dw.kernel, dw.stride).into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let mut v = self.depthwise.info()?;
        v.extend(self.project.info()?);
        Ok(v)
    }

    op_as_typed_op!();
}

impl EvalOp for DepthwiseProject {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let pw = &self.project;
        let [oh, ow] = self.depthwise.out_hw;
        let shape = [1, pw.cout, oh, ow];
        super::eval_with_residual(
            "DepthwiseProject",
            &inputs,
            pw.residual,
            &shape,
            |x, r, o| self.run(x, r, o),
        )
    }
}

impl TypedOp for DepthwiseProject {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (dw, pw) = (&self.depthwise, &self.project);
        let [h, w] = dw.in_hw;
        let [oh, ow] = dw.out_hw;
        ensure!(
            inputs[0].shape.as_concrete() == Some(&[1, dw.channels, h, w]),
            "DepthwiseProject: input does not match"
        );
        if pw.residual {
            ensure!(
                inputs.len() == 2 && inputs[1].shape.as_concrete() == Some(&[1, pw.cout, oh, ow]),
                "DepthwiseProject: residual does not match the output"
            );
        }
        Ok(tvec!(f32::fact([1, pw.cout, oh, ow])))
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
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        let mut seed = 21u64;
        let mut cases = 0;
        // Shapes with many bands (tall maps, wide rows), partial channel groups, both strides
        // and kernel sizes, asymmetric padding.
        for (cin, cexp, h, w) in [
            (16, 96, 70, 300),
            (24, 37, 33, 64),
            (3, 5, 9, 7),
            (8, 200, 40, 41),
            // 144 × 480 expanded floats per row: projection bands of one row.
            (8, 144, 9, 480),
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
                    let mut dw_out = vec![f32::NAN; cexp * oh * ow];
                    depthwise.run(isa, &mid, &mut dw_out);
                    // Without a projection; with one (13 channels), without and with residual.
                    let wpro = rand_vec(cexp * 13, &mut seed);
                    let bpro = Arc::new(rand_vec(13, &mut seed));
                    let res = rand_vec(13 * oh * ow, &mut seed);
                    for project in [None, Some(false), Some(true)] {
                        let project = project.map(|with_residual| {
                            PointwiseConv::new(
                                isa,
                                cexp,
                                13,
                                [oh, ow],
                                &wpro,
                                bpro.clone(),
                                Activation::Identity,
                                with_residual,
                            )
                        });
                        let r = project
                            .as_ref()
                            .and_then(|p| p.residual.then_some(&res[..]));
                        let want = match &project {
                            Some(p) => {
                                let mut v = vec![f32::NAN; 13 * oh * ow];
                                p.run(&dw_out, r, &mut v);
                                v
                            }
                            None => dw_out.clone(),
                        };
                        let fused = ExpandDepthwise {
                            expand: Arc::new(expand.clone()),
                            depthwise: Arc::new(depthwise.clone()),
                            project: project.map(Arc::new),
                        };
                        for threads in [1, 2, 3] {
                            let mut got = vec![f32::NAN; want.len()];
                            multithread_tract_scope(Executor::multithread(threads), || {
                                fused.run(&x, r, &mut got)
                            });
                            let same = got
                                .iter()
                                .zip(&want)
                                .all(|(a, b)| a.to_bits() == b.to_bits());
                            assert!(
                                same,
                                "{isa:?} {cin}->{cexp} {h}x{w} k{k} s{s} pad {pad}+{after} \
                                 threads {threads} projection {:?}",
                                fused.project.as_ref().map(|p| p.residual)
                            );
                        }
                    }
                }
                cases += 1;
            }
        }
        assert_eq!(cases, 25);
    }

    #[test]
    fn depthwise_project_equals_the_two_kernels_bit_for_bit_on_any_thread_count() {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        let mut seed = 33u64;
        let mut cases = 0;
        // Tall maps (many bands, a last odd band), few and many channels, both strides and
        // kernel sizes, asymmetric padding, with and without the residual.
        for (c, cout, h, w) in [
            (32, 16, 61, 90),
            (144, 24, 30, 40),
            (5, 7, 9, 7),
            (96, 13, 20, 33),
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
                let x = rand_vec(c * h * w, &mut seed);
                let wpro = Arc::new(rand_vec(c * cout, &mut seed));
                let bpro = Arc::new(rand_vec(cout, &mut seed));
                let wdw = Arc::new(rand_vec(c * k * k, &mut seed));
                let bdw = Arc::new(rand_vec(c, &mut seed));
                let res = rand_vec(cout * oh * ow, &mut seed);
                for isa in Isa::all_supported() {
                    for with_residual in [false, true] {
                        let depthwise = DepthwiseConv {
                            channels: c,
                            kernel: k,
                            stride: s,
                            pad: [pad, pad],
                            in_hw: [h, w],
                            out_hw: [oh, ow],
                            weights: wdw.clone(),
                            bias: bdw.clone(),
                            act: Activation::Relu6,
                        };
                        let project = PointwiseConv::new(
                            isa,
                            c,
                            cout,
                            [oh, ow],
                            &wpro,
                            bpro.clone(),
                            Activation::Identity,
                            with_residual,
                        );
                        let r = with_residual.then_some(&res[..]);
                        let mut mid = vec![f32::NAN; c * oh * ow];
                        depthwise.run(isa, &x, &mut mid);
                        let mut want = vec![f32::NAN; cout * oh * ow];
                        project.run(&mid, r, &mut want);
                        let fused = DepthwiseProject {
                            depthwise: Arc::new(depthwise),
                            project: Arc::new(project),
                        };
                        for threads in [1, 2, 3] {
                            let mut got = vec![f32::NAN; want.len()];
                            multithread_tract_scope(Executor::multithread(threads), || {
                                fused.run(&x, r, &mut got)
                            });
                            let same = got
                                .iter()
                                .zip(&want)
                                .all(|(a, b)| a.to_bits() == b.to_bits());
                            assert!(
                                same,
                                "{isa:?} {c}->{cout} {h}x{w} k{k} s{s} pad {pad}+{after} \
                                 residual {with_residual} threads {threads}"
                            );
                        }
                    }
                }
                cases += 1;
            }
        }
        assert_eq!(cases, 20);
    }
}
