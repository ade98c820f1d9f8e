//! The NHWC → NCHW move of a picture-sized input with few channels (`[1, H, W, C]` →
//! `[1, C, H, W]`, C ≤ 4): the first operator of models that take interleaved RGB (COCO's
//! CenterNet). tract's generic axis move took ~1 ms for a 512×512×3 input, single-threaded;
//! here it is a de-interleave the compiler vectorises, split over threads by pixel ranges.

use tract_onnx::tract_core::internal::*;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PixelsToPlanes {
    pub channels: usize,
    pub hw: [usize; 2],
}

/// Pixels per part when split over threads (below this one thread does it all).
const PART_PIXELS: usize = 64 * 1024;

impl PixelsToPlanes {
    pub fn supports(channels: usize) -> bool {
        (1..=4).contains(&channels)
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        let c = self.channels;
        let n = self.hw[0] * self.hw[1];
        assert!(Self::supports(c));
        assert_eq!(input.len(), n * c);
        assert_eq!(output.len(), n * c);
        let threads = super::parallelism();
        let per = if threads > 1 && n >= 2 * PART_PIXELS {
            n.div_ceil(threads)
        } else {
            n
        };
        let out = super::pointwise::Dst::new(output);
        let starts: Vec<usize> = (0..n).step_by(per.max(1)).collect();
        super::run_parts(starts, |p0| {
            let p1 = (p0 + per).min(n);
            let src = &input[p0 * c..p1 * c];
            // SAFETY: parts write disjoint pixel ranges [p0, p1) of every plane, and `output`
            // is not touched otherwise until `run_parts` returns.
            let mut planes: Vec<&mut [f32]> = (0..c)
                .map(|ch| unsafe { out.slice(ch * n + p0, p1 - p0) })
                .collect();
            match c {
                3 => split::<3>(src, &mut planes),
                4 => split::<4>(src, &mut planes),
                2 => split::<2>(src, &mut planes),
                _ => planes[0].copy_from_slice(src),
            }
        });
    }
}

/// `planes[ch][p] = src[p · C + ch]`.
#[inline(always)]
fn split<const C: usize>(src: &[f32], planes: &mut [&mut [f32]]) {
    let planes: &mut [&mut [f32]; C] = planes.try_into().expect("C planes");
    for (p, px) in src.chunks_exact(C).enumerate() {
        for ch in 0..C {
            planes[ch][p] = px[ch];
        }
    }
}

impl Op for PixelsToPlanes {
    fn name(&self) -> StaticName {
        "PixelsToPlanes".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?} × {} channels", self.hw, self.channels)])
    }

    op_as_typed_op!();
}

impl EvalOp for PixelsToPlanes {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [h, w] = self.hw;
        super::eval_unary(&inputs, &[1, self.channels, h, w], |x, o| self.run(x, o))
    }
}

impl TypedOp for PixelsToPlanes {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [h, w] = self.hw;
        ensure!(
            inputs.len() == 1 && inputs[0].shape.as_concrete() == Some(&[1, h, w, self.channels]),
            "PixelsToPlanes: input does not match"
        );
        Ok(tvec!(f32::fact([1, self.channels, h, w])))
    }
}

#[cfg(test)]
mod tests {
    use super::super::rand_vec;
    use super::*;

    #[test]
    fn moves_channels_first_on_any_thread_count() {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        let mut seed = 43u64;
        for c in 1..=4 {
            for hw in [[1usize, 1usize], [3, 5], [301, 457]] {
                let n = hw[0] * hw[1];
                let x = rand_vec(n * c, &mut seed);
                let op = PixelsToPlanes { channels: c, hw };
                for threads in [1, 2, 3] {
                    let mut got = vec![f32::NAN; n * c];
                    multithread_tract_scope(Executor::multithread(threads), || {
                        op.run(&x, &mut got)
                    });
                    for p in 0..n {
                        for ch in 0..c {
                            assert_eq!(got[ch * n + p].to_bits(), x[p * c + ch].to_bits());
                        }
                    }
                }
            }
        }
    }
}
