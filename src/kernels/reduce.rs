//! Maximum over one axis of a float tensor. MoveNet's decoder reduces a 64×64×6×17 tensor
//! over its size-6 axis; tract's generic reduction took ~13 ms for what is a few hundred
//! thousand comparisons, vectorised here along the contiguous inner axes.

use tract_onnx::tract_core::internal::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReduceMax {
    /// Input shape seen as `[outer, axis, inner]`.
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
    /// The input shape with the reduced axis set to 1.
    pub out_shape: TVec<usize>,
}

impl ReduceMax {
    pub fn new(shape: &[usize], axis: usize) -> Option<ReduceMax> {
        let len = *shape.get(axis)?;
        if len == 0 {
            return None;
        }
        let mut out_shape: TVec<usize> = shape.into();
        out_shape[axis] = 1;
        Some(ReduceMax {
            outer: shape[..axis].iter().product(),
            len,
            inner: shape[axis + 1..].iter().product(),
            out_shape,
        })
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        let (len, inner) = (self.len, self.inner);
        assert_eq!(input.len(), self.outer * len * inner);
        assert_eq!(output.len(), self.outer * inner);
        for (o, dst) in output.chunks_exact_mut(inner).enumerate() {
            let block = &input[o * len * inner..][..len * inner];
            dst.copy_from_slice(&block[..inner]);
            for row in block.chunks_exact(inner).skip(1) {
                for (d, &v) in dst.iter_mut().zip(row) {
                    // Same as tract's reducer for non-NaN values: keep the larger.
                    if v > *d {
                        *d = v;
                    }
                }
            }
        }
    }
}

impl Op for ReduceMax {
    fn name(&self) -> StaticName {
        "ReduceMax".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "[{}, {}, {}]",
            self.outer, self.len, self.inner
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for ReduceMax {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        super::eval_unary(&inputs, &self.out_shape, |x, o| self.run(x, o))
    }
}

impl TypedOp for ReduceMax {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs.len() == 1
                && inputs[0].datum_type == f32::datum_type()
                && inputs[0].shape.volume().to_usize().ok()
                    == Some(self.outer * self.len * self.inner),
            "ReduceMax: input does not match"
        );
        Ok(tvec!(f32::fact(&*self.out_shape)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_the_middle_axis() {
        let op = ReduceMax::new(&[2, 3, 2], 1).expect("valid axis");
        let x = [
            1.0, -5.0, 7.0, 2.0, 3.0, 9.0, -1.0, -2.0, -3.0, -4.0, -0.5, -8.0,
        ];
        let mut y = [f32::NAN; 4];
        op.run(&x, &mut y);
        assert_eq!(y, [7.0, 9.0, -0.5, -2.0]);
        assert_eq!(&op.out_shape[..], &[2, 1, 2]);
        assert!(ReduceMax::new(&[2, 3], 2).is_none());
    }
}
