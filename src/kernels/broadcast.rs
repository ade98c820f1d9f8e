//! Float binary operations with broadcasting on both sides (`[64,64,1,1] - [1,1,6,17]`):
//! MoveNet's in-graph decoder is made of them, and tract's generic broadcasting path took
//! 8 ms per frame for a few hundred thousand elements.
//!
//! Axes are merged where both inputs allow it, then the innermost run is one tight loop with
//! each input either contiguous or a repeated scalar.

use tract_onnx::prelude::tract_itertools::Itertools;
use tract_onnx::tract_core::internal::*;

/// The operation, by its tract name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinKind {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
}

impl BinKind {
    pub fn from_name(name: &str) -> Option<BinKind> {
        Some(match name {
            "Add" => BinKind::Add,
            "Sub" => BinKind::Sub,
            "Mul" => BinKind::Mul,
            "Div" => BinKind::Div,
            "Max" => BinKind::Max,
            "Min" => BinKind::Min,
            "LT" => BinKind::Lt,
            "LTE" => BinKind::Lte,
            "GT" => BinKind::Gt,
            "GTE" => BinKind::Gte,
            "Eq" => BinKind::Eq,
            _ => return None,
        })
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinKind::Lt | BinKind::Lte | BinKind::Gt | BinKind::Gte | BinKind::Eq
        )
    }

    /// The scalar definition (the kernels instantiate one closure per operation).
    #[cfg(test)]
    fn arith(self, a: f32, b: f32) -> f32 {
        match self {
            BinKind::Add => a + b,
            BinKind::Sub => a - b,
            BinKind::Mul => a * b,
            BinKind::Div => a / b,
            BinKind::Max => a.max(b),
            BinKind::Min => a.min(b),
            _ => f32::NAN,
        }
    }

    #[inline(always)]
    fn compare(self, a: f32, b: f32) -> bool {
        match self {
            BinKind::Lt => a < b,
            BinKind::Lte => a <= b,
            BinKind::Gt => a > b,
            BinKind::Gte => a >= b,
            BinKind::Eq => a == b,
            _ => false,
        }
    }
}

/// Broadcast geometry after merging axes: output `dims`, and per input its strides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub dims: Vec<usize>,
    pub a: Vec<usize>,
    pub b: Vec<usize>,
}

impl Plan {
    /// `None` unless both shapes have the output's rank and broadcast to it.
    pub fn new(a: &[usize], b: &[usize], out: &[usize]) -> Option<Plan> {
        if a.len() != out.len() || b.len() != out.len() {
            return None;
        }
        let strides = |s: &[usize]| -> Option<Vec<usize>> {
            let mut st = vec![0; s.len()];
            let mut acc = 1;
            for d in (0..s.len()).rev() {
                if s[d] == out[d] && s[d] != 1 {
                    st[d] = acc;
                } else if s[d] != 1 {
                    return None;
                }
                acc *= s[d];
            }
            Some(st)
        };
        let (sa, sb) = (strides(a)?, strides(b)?);
        // Drop size-1 output axes, then merge neighbours that stay affine for both inputs.
        let mut dims = Vec::new();
        let (mut ma, mut mb) = (Vec::new(), Vec::new());
        for d in 0..out.len() {
            if out[d] == 1 {
                continue;
            }
            if let (Some(&last), Some(&la), Some(&lb)) = (dims.last(), ma.last(), mb.last()) {
                let ok = |outer: usize, inner: usize| {
                    outer == inner * out[d] || (outer == 0 && inner == 0)
                };
                if ok(la, sa[d]) && ok(lb, sb[d]) {
                    let n = dims.len() - 1;
                    dims[n] = last * out[d];
                    ma[n] = sa[d];
                    mb[n] = sb[d];
                    continue;
                }
            }
            dims.push(out[d]);
            ma.push(sa[d]);
            mb.push(sb[d]);
        }
        if dims.is_empty() {
            dims.push(1);
            ma.push(0);
            mb.push(0);
        }
        Some(Plan { dims, a: ma, b: mb })
    }

    fn volume(&self) -> usize {
        self.dims.iter().product()
    }

    /// Visit every innermost run: `f(a_offset, b_offset, out_offset)`.
    fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize)) {
        let r = self.dims.len();
        let inner = self.dims[r - 1];
        let outer: usize = self.dims[..r - 1].iter().product();
        let mut idx = vec![0usize; r - 1];
        let (mut oa, mut ob) = (0usize, 0usize);
        for run in 0..outer {
            f(oa, ob, run * inner);
            // Odometer over the outer axes.
            for d in (0..r - 1).rev() {
                idx[d] += 1;
                oa += self.a[d];
                ob += self.b[d];
                if idx[d] < self.dims[d] {
                    break;
                }
                oa -= self.a[d] * self.dims[d];
                ob -= self.b[d] * self.dims[d];
                idx[d] = 0;
            }
        }
    }

    fn run_arith(&self, kind: BinKind, a: &[f32], b: &[f32], out: &mut [f32]) {
        // One instantiation per operation, so each inner loop is a plain vector loop.
        match kind {
            BinKind::Add => self.run_with(a, b, out, |x, y| x + y),
            BinKind::Sub => self.run_with(a, b, out, |x, y| x - y),
            BinKind::Mul => self.run_with(a, b, out, |x, y| x * y),
            BinKind::Div => self.run_with(a, b, out, |x, y| x / y),
            BinKind::Max => self.run_with(a, b, out, f32::max),
            BinKind::Min => self.run_with(a, b, out, f32::min),
            _ => out.fill(f32::NAN),
        }
    }

    #[inline(always)]
    fn run_with(&self, a: &[f32], b: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32) {
        let r = self.dims.len();
        let n = self.dims[r - 1];
        let (ia, ib) = (self.a[r - 1], self.b[r - 1]);
        self.for_each_run(|oa, ob, oo| {
            let o = &mut out[oo..][..n];
            match (ia, ib) {
                (1, 1) => {
                    for ((o, x), y) in o.iter_mut().zip(&a[oa..][..n]).zip(&b[ob..][..n]) {
                        *o = f(*x, *y);
                    }
                }
                (1, _) => {
                    let y = b[ob];
                    for (o, x) in o.iter_mut().zip(&a[oa..][..n]) {
                        *o = f(*x, y);
                    }
                }
                (_, 1) => {
                    let x = a[oa];
                    for (o, y) in o.iter_mut().zip(&b[ob..][..n]) {
                        *o = f(x, *y);
                    }
                }
                _ => o.fill(f(a[oa], b[ob])),
            }
        });
    }

    fn run_compare(&self, kind: BinKind, a: &[f32], b: &[f32], out: &mut [bool]) {
        let r = self.dims.len();
        let n = self.dims[r - 1];
        let (ia, ib) = (self.a[r - 1], self.b[r - 1]);
        self.for_each_run(|oa, ob, oo| {
            for (j, o) in out[oo..][..n].iter_mut().enumerate() {
                *o = kind.compare(a[oa + j * ia], b[ob + j * ib]);
            }
        });
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastBinary {
    pub kind: BinKind,
    pub out_shape: TVec<usize>,
    pub plan: Plan,
}

impl Op for BroadcastBinary {
    fn name(&self) -> StaticName {
        format!("Broadcast{:?}", self.kind).into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{:?} merged to {:?}",
            self.out_shape, self.plan.dims
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for BroadcastBinary {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (a, b) = inputs.iter().collect_tuple().context("two inputs")?;
        let (a, b) = (a.try_as_plain_ram()?, b.try_as_plain_ram()?);
        let (a, b) = (a.as_slice::<f32>()?, b.as_slice::<f32>()?);
        let span = |st: &[usize]| {
            1 + self
                .plan
                .dims
                .iter()
                .zip(st)
                .map(|(d, s)| (d - 1) * s)
                .sum::<usize>()
        };
        ensure!(a.len() >= span(&self.plan.a) && b.len() >= span(&self.plan.b));
        let out = if self.kind.is_comparison() {
            let mut o = vec![false; self.plan.volume()];
            self.plan.run_compare(self.kind, a, b, &mut o);
            Tensor::from_shape(&self.out_shape, &o)?
        } else {
            let mut out = super::output_tensor(&self.out_shape)?;
            {
                let mut o = out.try_as_plain_ram_mut()?;
                let o = o.as_slice_mut::<f32>()?;
                ensure!(o.len() == self.plan.volume());
                self.plan.run_arith(self.kind, a, b, o);
            }
            out
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for BroadcastBinary {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 2 && inputs.iter().all(|f| f.datum_type == f32::datum_type()));
        Ok(tvec!(if self.kind.is_comparison() {
            bool::fact(&*self.out_shape)
        } else {
            f32::fact(&*self.out_shape)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive broadcasting by multi-index, the reference.
    fn naive(
        kind: BinKind,
        a: &[f32],
        sa: &[usize],
        b: &[f32],
        sb: &[usize],
        out: &[usize],
    ) -> Vec<f32> {
        let vol: usize = out.iter().product();
        (0..vol)
            .map(|flat| {
                let mut rem = flat;
                let mut idx = vec![0; out.len()];
                for d in (0..out.len()).rev() {
                    idx[d] = rem % out[d];
                    rem /= out[d];
                }
                let at = |s: &[usize]| {
                    idx.iter()
                        .zip(s)
                        .fold(0, |acc, (&i, &n)| acc * n + if n == 1 { 0 } else { i })
                };
                let (x, y) = (a[at(sa)], b[at(sb)]);
                if kind.is_comparison() {
                    kind.compare(x, y) as u8 as f32
                } else {
                    kind.arith(x, y)
                }
            })
            .collect()
    }

    #[test]
    fn matches_naive_broadcasting_on_every_pattern() {
        let shapes: [(&[usize], &[usize], &[usize]); 7] = [
            (&[4, 5, 1, 1], &[1, 1, 3, 7], &[4, 5, 3, 7]),
            (&[4, 5, 3, 7], &[4, 5, 1, 7], &[4, 5, 3, 7]),
            (&[4, 5, 3, 7], &[4, 5, 3, 1], &[4, 5, 3, 7]),
            (&[4, 5, 1, 1], &[1, 1, 3, 1], &[4, 5, 3, 1]),
            (&[1, 6], &[1, 1], &[1, 6]),
            (&[2, 1, 3], &[1, 4, 1], &[2, 4, 3]),
            (&[3, 4], &[3, 4], &[3, 4]),
        ];
        let kinds = [
            BinKind::Add,
            BinKind::Sub,
            BinKind::Mul,
            BinKind::Div,
            BinKind::Max,
            BinKind::Min,
            BinKind::Lt,
            BinKind::Lte,
            BinKind::Gt,
            BinKind::Gte,
            BinKind::Eq,
        ];
        for (sa, sb, so) in shapes {
            let a: Vec<f32> = (0..sa.iter().product::<usize>())
                .map(|i| (i % 7) as f32 - 3.0)
                .collect();
            let b: Vec<f32> = (0..sb.iter().product::<usize>())
                .map(|i| (i % 5) as f32 - 2.0 + 0.5 * (i % 2) as f32)
                .collect();
            let plan = Plan::new(sa, sb, so).expect("broadcastable");
            for kind in kinds {
                let want = naive(kind, &a, sa, &b, sb, so);
                let got: Vec<f32> = if kind.is_comparison() {
                    let mut o = vec![false; want.len()];
                    plan.run_compare(kind, &a, &b, &mut o);
                    o.iter().map(|&x| x as u8 as f32).collect()
                } else {
                    let mut o = vec![f32::NAN; want.len()];
                    plan.run_arith(kind, &a, &b, &mut o);
                    o
                };
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g.to_bits() == w.to_bits());
                assert!(same, "{kind:?} {sa:?} {sb:?}: {got:?} vs {want:?}");
            }
        }
        assert!(Plan::new(&[2, 3], &[3, 2], &[2, 3]).is_none());
        assert_eq!(
            Plan::new(&[4, 5, 1, 1], &[1, 1, 3, 7], &[4, 5, 3, 7])
                .expect("ok")
                .dims,
            vec![20, 21]
        );
    }
}
