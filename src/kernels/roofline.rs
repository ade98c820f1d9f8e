//! What each of our kernels' nodes costs (multiply-adds, bytes moved) and the ceilings this
//! CPU reaches in the same run, so `centerscope bench --ops` can say how close each layer
//! runs to the compute or the memory limit (a roofline).
//!
//! The ceilings are measured, not taken from a data sheet: clocks and memory of shared VMs
//! vary, and what matters is how far a layer is from what this machine does right now.
//! - compute: our own 1×1 micro-kernel on a product whose operands sit in L2 (the best a
//!   layer built on it can do);
//! - memory: copying a 64 MiB buffer (read + write, beyond every cache).

use super::depthwise::DepthwiseConv;
use super::fused::{DepthwiseProject, ExpandDepthwise};
use super::pointwise::PointwiseConv;
use super::simd::Isa;
use super::spatial::SpatialConv;
use super::winograd::WinogradConv;
use std::sync::Arc;
use std::time::Instant;
use tract_onnx::tract_core::internal::*;

/// Work of one node per run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    pub macs: u64,
    /// Bytes the node must read and write at least: its inputs, outputs and weights (f32).
    /// The fused kernels keep their intermediate tensor in cache, so it is not counted.
    pub bytes: u64,
}

/// The cost of a node if it is one of our kernels.
pub fn cost(op: &dyn TypedOp) -> Option<Cost> {
    let f = |n: usize| 4 * n as u64;
    if let Some(p) = op.downcast_ref::<PointwiseConv>() {
        let px = p.hw[0] * p.hw[1];
        let res = if p.residual { p.cout * px } else { 0 };
        return Some(Cost {
            macs: (p.cin * p.cout * px) as u64,
            bytes: f(p.cin * px + p.cout * px + res + p.cin * p.cout),
        });
    }
    if let Some(d) = op.downcast_ref::<DepthwiseConv>() {
        return Some(depthwise(d));
    }
    if let Some(e) = op.downcast_ref::<ExpandDepthwise>() {
        let (p, d) = (&*e.expand, &*e.depthwise);
        let px = p.hw[0] * p.hw[1];
        let dw = depthwise(d);
        let opx = d.out_hw[0] * d.out_hw[1];
        let cost = Cost {
            macs: (p.cin * p.cout * px) as u64 + dw.macs,
            bytes: f(p.cin * px + p.cin * p.cout + d.channels * opx),
        };
        return Some(match &e.project {
            Some(q) => {
                let res = if q.residual { q.cout * opx } else { 0 };
                Cost {
                    macs: cost.macs + (q.cin * q.cout * opx) as u64,
                    // The depthwise output stays in cache; the projection's output, residual
                    // and weights are counted instead.
                    bytes: f(p.cin * px + p.cin * p.cout + q.cout * opx + res + q.cin * q.cout),
                }
            }
            None => cost,
        });
    }
    if let Some(dp) = op.downcast_ref::<DepthwiseProject>() {
        let (d, p) = (&*dp.depthwise, &*dp.project);
        let ([h, w], px) = (d.in_hw, p.hw[0] * p.hw[1]);
        let res = if p.residual { p.cout * px } else { 0 };
        return Some(Cost {
            macs: depthwise(d).macs + (p.cin * p.cout * px) as u64,
            bytes: f(d.channels * h * w + p.cout * px + res + p.cin * p.cout),
        });
    }
    if let Some(s) = op.downcast_ref::<SpatialConv>() {
        let (k2, [h, w], [oh, ow]) = (s.kernel * s.kernel, s.in_hw, s.out_hw);
        return Some(Cost {
            macs: (s.cin * k2 * s.cout * oh * ow) as u64,
            bytes: f(s.cin * h * w + s.cout * oh * ow + s.cin * k2 * s.cout),
        });
    }
    if let Some(s) = op.downcast_ref::<WinogradConv>() {
        // The direct convolution's multiply-adds (the work the layer stands for; Winograd
        // does a quarter of them, so it can run above the compute ceiling).
        let ([h, w], [oh, ow]) = (s.in_hw, s.out_hw);
        return Some(Cost {
            macs: (s.cin * 9 * s.cout * oh * ow) as u64,
            bytes: f(s.cin * h * w + s.cout * oh * ow + s.cin * 36 * s.cout),
        });
    }
    None
}

fn depthwise(d: &DepthwiseConv) -> Cost {
    let ([h, w], [oh, ow], k2) = (d.in_hw, d.out_hw, d.kernel * d.kernel);
    Cost {
        macs: (d.channels * oh * ow * k2) as u64,
        bytes: 4 * (d.channels * (h * w + oh * ow + k2)) as u64,
    }
}

/// The two ceilings of a roofline, measured on one thread.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Ceilings {
    /// Our 1×1 micro-kernel with its operands in L2, billions of multiply-adds per second.
    pub gmacs_per_s: f64,
    /// Copying a 64 MiB buffer, GB/s (bytes read + bytes written).
    pub gbytes_per_s: f64,
}

/// Measure [`Ceilings`] (~0.3 s): the best of several timed repetitions of each.
pub fn measure_ceilings() -> Ceilings {
    // 256 -> 96 channels over 16×32 pixels: 0.5 MiB of input, 96 KiB of weights (in L2).
    let (cin, cout, hw) = (256, 96, [16, 32]);
    let px = hw[0] * hw[1];
    let weights: Vec<f32> = (0..cin * cout).map(|i| (i % 7) as f32 * 0.01).collect();
    let op = PointwiseConv::new(
        Isa::best(),
        cin,
        cout,
        hw,
        &weights,
        Arc::new(vec![0.0; cout]),
        super::activation::Activation::Identity,
        false,
    );
    let x: Vec<f32> = (0..cin * px).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut out = vec![0f32; cout * px];
    let reps = 20;
    let best = best_of(8, || {
        for _ in 0..reps {
            op.run(&x, None, &mut out);
        }
    });
    let gmacs_per_s = (cin * cout * px * reps) as f64 / best / 1e9;
    let n = 16 << 20;
    let src = vec![1f32; n];
    let mut dst = vec![0f32; n];
    let best = best_of(5, || dst.copy_from_slice(std::hint::black_box(&src)));
    std::hint::black_box(&dst);
    let gbytes_per_s = (2 * 4 * n) as f64 / best / 1e9;
    Ceilings {
        gmacs_per_s,
        gbytes_per_s,
    }
}

/// Fastest of `n` timed calls of `f` after one untimed, in seconds.
fn best_of(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::activation::Activation;

    #[test]
    fn costs_count_the_work_of_each_kernel() {
        let w = vec![0.5f32; 8 * 16];
        let p = PointwiseConv::new(
            Isa::Portable,
            8,
            16,
            [4, 5],
            &w,
            Arc::new(vec![0.0; 16]),
            Activation::Relu,
            true,
        );
        let c = cost(&p).unwrap();
        assert_eq!(c.macs, 8 * 16 * 20);
        // input 8×20, output and residual 16×20 each, weights 8×16; 4 bytes each.
        assert_eq!(c.bytes, 4 * (160 + 320 + 320 + 128));
        let d = DepthwiseConv {
            channels: 6,
            kernel: 3,
            stride: 2,
            pad: [0, 0],
            in_hw: [9, 9],
            out_hw: [4, 4],
            weights: Arc::new(vec![0.0; 54]),
            bias: Arc::new(vec![0.0; 6]),
            act: Activation::Identity,
        };
        assert_eq!(cost(&d).unwrap().macs, 6 * 16 * 9);
        assert_eq!(cost(&d).unwrap().bytes, 4 * 6 * (81 + 16 + 9));
    }
}
