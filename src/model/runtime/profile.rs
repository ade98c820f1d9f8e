//! Per-operator profiling of a [`Session`] (`centerscope bench --ops`): time every node of
//! the plan and sum by operator kind.

use super::{model_err, root_cause, Session};
use crate::{Frame, Result};
use std::collections::HashMap;
use std::time::Instant;
use tract_onnx::prelude::*;

/// Time spent in one kind of operator per inference (see [`Session::profile_ops`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpTime {
    /// Operator name, with the kernel shape for convolutions (e.g. `DepthWise 3x3/2`).
    pub kind: String,
    /// Nodes of this kind in the plan.
    pub nodes: usize,
    pub ms_per_run: f64,
    /// Multiply-adds and bytes moved per run by the nodes of this kind that are our kernels
    /// (0 for tract's operators): for GMAC/s and GB/s against the machine's ceilings.
    pub macs: u64,
    pub bytes: u64,
}

/// A short operator name for profiles: tract's op name, refined where one name hides very
/// different kernels.
fn op_kind(op: &dyn TypedOp) -> String {
    if crate::env::ops_by_node() {
        let info = op.info().unwrap_or_default().join(" ");
        return format!("{} {}", op.name(), info);
    }
    op.name().to_string()
}

impl Session {
    /// Time every node of the plan over `runs` inferences on `frame` (after one warm-up run)
    /// and sum by operator kind: where inference time goes, for `centerscope bench --ops`.
    pub fn profile_ops(&mut self, frame: &Frame, runs: usize) -> Result<Vec<OpTime>> {
        let (tensor, _, _) = self.prepare(frame)?;
        self.run_raw(tensor.clone())?;
        let m = self.model.manifest.clone();
        let Some((_, state)) = self.state.as_mut() else {
            return Err(model_err(&m, "no plan after a run"));
        };
        let mut by_kind: HashMap<String, (usize, f64)> = HashMap::new();
        let mut per_node: HashMap<usize, (String, Option<crate::kernels::roofline::Cost>)> =
            HashMap::new();
        for _ in 0..runs.max(1) {
            state
                .run_plan_with_eval(
                    tvec![tensor.clone().into_tvalue()],
                    |ctx, op_state, node, input| {
                        let t = Instant::now();
                        let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, input);
                        let ms = t.elapsed().as_secs_f64() * 1e3;
                        let kind = per_node
                            .entry(node.id)
                            .or_insert_with(|| {
                                let op = node.op.as_ref();
                                (op_kind(op), crate::kernels::roofline::cost(op))
                            })
                            .0
                            .clone();
                        let e = by_kind.entry(kind).or_insert((0, 0.0));
                        e.1 += ms;
                        out
                    },
                )
                .map_err(|e| model_err(&m, format!("inference failed: {}", root_cause(&e))))?;
        }
        let mut work: HashMap<&str, (u64, u64)> = HashMap::new();
        for (kind, cost) in per_node.values() {
            if let Some(e) = by_kind.get_mut(kind) {
                e.0 += 1;
            }
            let c = cost.unwrap_or_default();
            let w = work.entry(kind).or_default();
            w.0 += c.macs;
            w.1 += c.bytes;
        }
        let runs = runs.max(1) as f64;
        let mut rows: Vec<OpTime> = by_kind
            .into_iter()
            .map(|(kind, (nodes, ms))| {
                let (macs, bytes) = work.get(kind.as_str()).copied().unwrap_or_default();
                OpTime {
                    kind,
                    nodes,
                    ms_per_run: ms / runs,
                    macs,
                    bytes,
                }
            })
            .collect();
        rows.sort_by(|a, b| b.ms_per_run.total_cmp(&a.ms_per_run));
        Ok(rows)
    }
}
