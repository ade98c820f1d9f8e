//! Bilinear resize of NCHW feature maps (the CenterNet necks' 2× upsampling), separable:
//! each input row is interpolated horizontally once, then output rows blend two of those.
//! tract's general ONNX `Resize` spent ~16 ms per COCO frame on three 2× upsamplings.

use std::sync::Arc;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::nn::resize::CoordTransformer;

/// Where an output coordinate reads: two input indices and the weight of the second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tap {
    pub i0: usize,
    pub i1: usize,
    pub frac: f32,
}

/// Linear interpolation taps for one axis, ONNX semantics (the source coordinate is clamped
/// into the input, as onnxruntime does).
pub fn taps(coord: &CoordTransformer, len_in: usize, len_out: usize) -> Vec<Tap> {
    let scale = len_out as f32 / len_in as f32;
    (0..len_out)
        .map(|o| {
            let x = coord
                .transform(o, scale, len_in, len_out)
                .clamp(0.0, (len_in - 1) as f32);
            let i0 = x.floor() as usize;
            Tap {
                i0,
                i1: (i0 + 1).min(len_in - 1),
                frac: x - i0 as f32,
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct BilinearResize {
    pub channels: usize,
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
    pub coord: &'static str,
    rows: Arc<Vec<Tap>>,
    cols: Arc<Vec<Tap>>,
}

impl BilinearResize {
    pub fn new(
        coord: &CoordTransformer,
        channels: usize,
        in_hw: [usize; 2],
        out_hw: [usize; 2],
    ) -> BilinearResize {
        BilinearResize {
            channels,
            in_hw,
            out_hw,
            coord: coord.as_str(),
            rows: Arc::new(taps(coord, in_hw[0], out_hw[0])),
            cols: Arc::new(taps(coord, in_hw[1], out_hw[1])),
        }
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        let [h, w] = self.in_hw;
        let [oh, ow] = self.out_hw;
        assert_eq!(input.len(), self.channels * h * w);
        assert_eq!(output.len(), self.channels * oh * ow);
        // Horizontal pass of every input row of one channel.
        let mut horiz = vec![0f32; h * ow];
        for c in 0..self.channels {
            let plane = &input[c * h * w..][..h * w];
            for (y, dst) in horiz.chunks_exact_mut(ow).enumerate() {
                let src = &plane[y * w..][..w];
                for (d, t) in dst.iter_mut().zip(self.cols.iter()) {
                    let (a, b) = (src[t.i0], src[t.i1]);
                    *d = a + (b - a) * t.frac;
                }
            }
            let out = &mut output[c * oh * ow..][..oh * ow];
            for (dst, t) in out.chunks_exact_mut(ow).zip(self.rows.iter()) {
                let r0 = &horiz[t.i0 * ow..][..ow];
                let r1 = &horiz[t.i1 * ow..][..ow];
                for ((d, a), b) in dst.iter_mut().zip(r0).zip(r1) {
                    *d = a + (b - a) * t.frac;
                }
            }
        }
    }
}

// Taps are derived from the geometry, so equality of geometry is equality of ops.
impl Eq for BilinearResize {}

impl Op for BilinearResize {
    fn name(&self) -> StaticName {
        "BilinearResize".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} channels {:?} -> {:?} ({})",
            self.channels, self.in_hw, self.out_hw, self.coord
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for BilinearResize {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [oh, ow] = self.out_hw;
        super::eval_unary(&inputs, &[1, self.channels, oh, ow], |x, o| self.run(x, o))
    }
}

impl TypedOp for BilinearResize {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [h, w] = self.in_hw;
        ensure!(
            inputs.len() == 1 && inputs[0].shape.as_concrete() == Some(&[1, self.channels, h, w]),
            "BilinearResize: input does not match"
        );
        let [oh, ow] = self.out_hw;
        Ok(tvec!(f32::fact([1, self.channels, oh, ow])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_2x_matches_the_onnx_formulas() {
        // Asymmetric 2x: even outputs copy, odd outputs average, the last one clamps.
        let t = taps(&CoordTransformer::Asymmetric, 3, 6);
        let got: Vec<(usize, usize, f32)> = t.iter().map(|t| (t.i0, t.i1, t.frac)).collect();
        assert_eq!(
            got,
            vec![
                (0, 1, 0.0),
                (0, 1, 0.5),
                (1, 2, 0.0),
                (1, 2, 0.5),
                (2, 2, 0.0),
                (2, 2, 0.0)
            ]
        );
        // Half-pixel 2x: 0.25 / 0.75 weights, clamped at both edges.
        let t = taps(&CoordTransformer::HalfPixel, 2, 4);
        let got: Vec<(usize, usize, f32)> = t.iter().map(|t| (t.i0, t.i1, t.frac)).collect();
        assert_eq!(
            got,
            vec![(0, 1, 0.0), (0, 1, 0.25), (0, 1, 0.75), (1, 1, 0.0)]
        );

        let op = BilinearResize::new(&CoordTransformer::HalfPixel, 2, [2, 2], [4, 4]);
        let x = [0.0, 4.0, 8.0, 12.0, 1.0, 1.0, 1.0, 1.0];
        let mut y = vec![f32::NAN; 32];
        op.run(&x, &mut y);
        assert_eq!(&y[..4], &[0.0, 1.0, 3.0, 4.0]);
        assert_eq!(&y[4..8], &[2.0, 3.0, 5.0, 6.0]);
        assert_eq!(&y[12..16], &[8.0, 9.0, 11.0, 12.0]);
        assert!(y[16..].iter().all(|&v| v == 1.0));
    }
}
