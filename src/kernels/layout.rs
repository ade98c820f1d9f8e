//! Layout operators that only move data, split over threads (tract runs its own on one thread,
//! which at two threads left them a growing share of COCO's time):
//! - [`PixelsToPlanes`]: the NHWC → NCHW move of a picture-sized input with few channels
//!   (`[1, H, W, C]` → `[1, C, H, W]`, C ≤ 4), the first operator of models that take
//!   interleaved RGB (COCO's CenterNet). tract's generic axis move took ~1 ms for a 512×512×3
//!   input; here it is a de-interleave the compiler vectorises.
//! - [`ChannelConcat`]: a concatenation of NCHW feature maps along channels (the skip
//!   connections of COCO's neck), as one copy split evenly over the threads.

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

/// Concatenation of `[1, c_i, H, W]` float maps along channels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelConcat {
    /// Channels of each input, in order.
    pub channels: Vec<usize>,
    pub hw: [usize; 2],
}

/// Output floats from which the copy is split over threads (and the op is worth swapping in).
pub(crate) const CONCAT_MIN_FLOATS: usize = 256 * 1024;

impl ChannelConcat {
    pub fn run(&self, inputs: &[&[f32]], output: &mut [f32]) {
        let plane = self.hw[0] * self.hw[1];
        assert_eq!(inputs.len(), self.channels.len());
        for (x, &c) in inputs.iter().zip(&self.channels) {
            assert_eq!(x.len(), c * plane);
        }
        let total: usize = self.channels.iter().sum::<usize>() * plane;
        assert_eq!(output.len(), total);
        let threads = super::parallelism();
        let per = if threads > 1 && total >= CONCAT_MIN_FLOATS {
            total.div_ceil(threads)
        } else {
            total
        };
        let out = super::pointwise::Dst::new(output);
        let starts: Vec<usize> = (0..total).step_by(per.max(1)).collect();
        super::run_parts(starts, |o0| {
            let o1 = (o0 + per).min(total);
            // Copy the pieces of the inputs that land in [o0, o1).
            let mut at = 0;
            for x in inputs {
                let (a, b) = (at.max(o0), (at + x.len()).min(o1));
                if a < b {
                    // SAFETY: parts write disjoint ranges [o0, o1) of the output, which is
                    // not touched otherwise until `run_parts` returns.
                    let dst = unsafe { out.slice(a, b - a) };
                    dst.copy_from_slice(&x[a - at..b - at]);
                }
                at += x.len();
            }
        });
    }
}

impl Op for ChannelConcat {
    fn name(&self) -> StaticName {
        "ChannelConcat".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{:?} channels of {:?}",
            self.channels, self.hw
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for ChannelConcat {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(
            inputs.len() == self.channels.len(),
            "ChannelConcat: wrong inputs"
        );
        let [h, w] = self.hw;
        let total: usize = self.channels.iter().sum();
        let mut out = super::output_tensor(&[1, total, h, w])?;
        {
            let views = inputs
                .iter()
                .map(|t| t.try_as_plain_ram())
                .collect::<TractResult<Vec<_>>>()?;
            let xs = views
                .iter()
                .map(|v| v.as_slice::<f32>())
                .collect::<TractResult<Vec<_>>>()?;
            let mut o = out.try_as_plain_ram_mut()?;
            self.run(&xs, o.as_slice_mut::<f32>()?);
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for ChannelConcat {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [h, w] = self.hw;
        ensure!(
            inputs.len() == self.channels.len()
                && inputs
                    .iter()
                    .zip(&self.channels)
                    .all(|(f, &c)| f.shape.as_concrete() == Some(&[1, c, h, w])),
            "ChannelConcat: inputs do not match"
        );
        let total: usize = self.channels.iter().sum();
        Ok(tvec!(f32::fact([1, total, h, w])))
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
    fn concatenates_channels_on_any_thread_count() {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        let mut seed = 47u64;
        for (channels, hw) in [
            (vec![1usize, 2], [3usize, 5usize]),
            (vec![64, 5, 27], [61, 67]),
        ] {
            let plane = hw[0] * hw[1];
            let xs: Vec<Vec<f32>> = channels
                .iter()
                .map(|&c| rand_vec(c * plane, &mut seed))
                .collect();
            let want: Vec<f32> = xs.concat();
            let op = ChannelConcat {
                channels: channels.clone(),
                hw,
            };
            let refs: Vec<&[f32]> = xs.iter().map(|x| &x[..]).collect();
            for threads in [1, 2, 3] {
                let mut got = vec![f32::NAN; want.len()];
                multithread_tract_scope(Executor::multithread(threads), || op.run(&refs, &mut got));
                assert!(got
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
    }

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
