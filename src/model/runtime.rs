//! The tract runtime: parse once, fix the input shape, optimise, share the plan.
//!
//! tract runs a symbolic-shape graph about 8× slower than a concrete one, so every input size
//! gets its own optimised plan (compiled on first use, cached). A plan is immutable and shared
//! by all workers through an `Arc`; each worker owns a [`Session`] with its own tract state,
//! preprocessing buffers and filter weights.

use super::manifest::{InputType, Layout, Manifest};
use crate::decode::{families::DecodeContext, DecodeParams, OutputView};
use crate::preprocess::{InputBuffer, Preprocessor};
use crate::{Detection, Error, Frame, Result, StageTimings};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tract_onnx::prelude::*;

type Plan = Arc<TypedRunnableModel>;

/// Time spent in one kind of operator per inference (see [`Session::profile_ops`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpTime {
    /// Operator name, with the kernel shape for convolutions (e.g. `DepthWise 3x3/2`).
    pub kind: String,
    /// Nodes of this kind in the plan.
    pub nodes: usize,
    pub ms_per_run: f64,
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

/// A loaded model: manifest, parsed graph and optimised plans per input size.
pub struct Model {
    pub manifest: Arc<Manifest>,
    pub id: Arc<str>,
    pub labels: Arc<[Arc<str>]>,
    /// Size of the ONNX file in bytes.
    pub file_bytes: usize,
    /// Parameter count (from the manifest, else counted from the graph's constants).
    pub params: u64,
    graph: Mutex<InferenceModel>,
    plans: Mutex<HashMap<[usize; 2], Plan>>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A graph whose input size leaves some layer with an empty feature map (a valid-padded
/// convolution on too small an input) cannot run; say so before any kernel sees it.
fn reject_empty_maps(g: &TypedModel) -> TractResult<()> {
    for node in g.nodes() {
        for out in &node.outputs {
            // Feature maps are rank 3 or more; empty rank-1 tensors (a Resize's unused `roi`)
            // are normal.
            let empty_map = out
                .fact
                .shape
                .as_concrete()
                .is_some_and(|s| s.len() >= 3 && s.contains(&0));
            if empty_map {
                return Err(TractError::msg(format!(
                    "layer \"{}\" would produce an empty feature map ({:?}); use a larger input size",
                    node.name, out.fact.shape
                )));
            }
        }
    }
    Ok(())
}

fn model_err(manifest: &Manifest, e: impl std::fmt::Display) -> Error {
    Error::model(&manifest.id, e.to_string().replace('\n', " "))
}

impl Model {
    /// Parse `onnx` (the bytes of the model file), check it against the manifest, compile the
    /// default input size and run it once on a blank picture so a model that cannot work fails
    /// here, with a clear message, rather than on the first frame.
    pub fn load(manifest: Manifest, onnx: &[u8]) -> Result<Arc<Model>> {
        let mut reader = onnx;
        let mut graph = tract_onnx::onnx()
            .model_for_read(&mut reader)
            .map_err(|e| {
                model_err(
                    &manifest,
                    format!(
                        "the file is not a readable ONNX model ({}); re-export or re-download it",
                        root_cause(&e)
                    ),
                )
            })?;

        // Exactly one image input, named as the manifest says.
        let inputs: Vec<String> = graph
            .input_outlets()
            .map_err(|e| model_err(&manifest, e))?
            .iter()
            .map(|o| graph.node(o.node).name.clone())
            .collect();
        if inputs.len() != 1 {
            return Err(model_err(
                &manifest,
                format!(
                    "expected one image input, the model has {} ({inputs:?})",
                    inputs.len()
                ),
            ));
        }
        if inputs[0] != manifest.input.name {
            return Err(model_err(
                &manifest,
                format!("input \"{}\" named in the manifest is not in the model (its input is \"{}\"); fix \"input.name\"", manifest.input.name, inputs[0]),
            ));
        }

        // Keep only the outputs the decoder reads, in role order (drops unused heads).
        let available: Vec<String> = graph
            .output_outlets()
            .map_err(|e| model_err(&manifest, e))?
            .iter()
            .map(|o| {
                graph
                    .outlet_label(*o)
                    .map(str::to_string)
                    .unwrap_or_else(|| graph.node(o.node).name.clone())
            })
            .collect();
        let mut outlets = Vec::new();
        for role in manifest.family.roles() {
            let name = &manifest.outputs[role];
            let outlet = graph
                .find_outlet_label(name)
                .or_else(|| graph.node_by_name(name).ok().map(|n| OutletId::new(n.id, 0)))
                .ok_or_else(|| {
                    model_err(&manifest, format!("output \"{name}\" (role {role}) is not in the model; its outputs are {available:?}; fix \"outputs\" in the manifest"))
                })?;
            outlets.push(outlet);
        }
        graph
            .select_output_outlets(&outlets)
            .map_err(|e| model_err(&manifest, e))?;

        let labels: Arc<[Arc<str>]> = manifest
            .labels
            .iter()
            .map(|l| Arc::from(l.as_str()))
            .collect();
        let params = manifest.params.unwrap_or_else(|| count_params(&graph));
        let model = Arc::new(Model {
            id: Arc::from(manifest.id.as_str()),
            labels,
            file_bytes: onnx.len(),
            params,
            manifest: Arc::new(manifest),
            graph: Mutex::new(graph),
            plans: Mutex::new(HashMap::new()),
        });
        model.self_test()?;
        Ok(model)
    }

    /// The optimised plan for an input of `[height, width]`, compiled on first use.
    pub fn plan(&self, size: [usize; 2]) -> Result<Plan> {
        if let Some(plan) = self
            .plans
            .lock()
            .map_err(|_| poisoned(&self.manifest))?
            .get(&size)
        {
            return Ok(plan.clone());
        }
        let graph = self
            .graph
            .lock()
            .map_err(|_| poisoned(&self.manifest))?
            .clone();
        let [h, w] = size;
        let shape: TVec<usize> = match self.manifest.input.layout {
            Layout::Nchw => tvec![1, 3, h, w],
            Layout::Nhwc => tvec![1, h, w, 3],
        };
        let dt = match self.manifest.input.dtype {
            InputType::F32 => f32::datum_type(),
            InputType::I32 => i32::datum_type(),
        };
        let plan = graph
            .with_input_fact(0, InferenceFact::dt_shape(dt, shape))
            .and_then(|g| g.into_typed())
            .and_then(|g| {
                reject_empty_maps(&g)?;
                Ok(g)
            })
            .and_then(|mut g| {
                if crate::kernels::enabled() {
                    crate::kernels::accelerate(&mut g)?;
                }
                g.into_optimized()
            })
            .and_then(|g| g.into_runnable())
            .map_err(|e| {
                model_err(
                    &self.manifest,
                    format!("cannot prepare it for input {w}x{h}: {}", root_cause(&e)),
                )
            })?;
        self.plans
            .lock()
            .map_err(|_| poisoned(&self.manifest))?
            .insert(size, plan.clone());
        Ok(plan)
    }

    /// A per-worker inference session.
    pub fn session(self: &Arc<Self>) -> Session {
        Session {
            model: self.clone(),
            state: None,
            pre: Preprocessor::new(),
            input_size: None,
        }
    }

    /// Default decode settings from the manifest.
    pub fn default_params(&self) -> DecodeParams {
        let d = &self.manifest.defaults;
        DecodeParams {
            score_threshold: d.score_threshold,
            nms_iou: d.nms_iou,
            top_k: d.top_k,
            class_filter: None,
        }
    }

    fn self_test(self: &Arc<Self>) -> Result<()> {
        let [h, w] = self.manifest.input.size;
        let blank = Frame::new(0, 0.0, w as u32, h as u32, vec![0; w * h * 3]);
        self.session()
            .detect(&blank, &self.default_params())
            .map(|_| ())
    }
}

fn poisoned(m: &Manifest) -> Error {
    Error::model(
        &m.id,
        "internal state poisoned by an earlier panic; restart",
    )
}

fn root_cause(e: &TractError) -> String {
    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    chain.join(": ").replace('\n', " ")
}

fn count_params(graph: &InferenceModel) -> u64 {
    graph
        .nodes()
        .iter()
        .filter_map(|n| n.op_as::<tract_onnx::tract_hir::ops::konst::Const>())
        .map(|k| k.val().len() as u64)
        .sum()
}

/// One worker's view of a model: a tract state for the current input size, plus reusable
/// preprocessing buffers.
pub struct Session {
    model: Arc<Model>,
    state: Option<([usize; 2], TypedSimpleState)>,
    pre: Preprocessor,
    input_size: Option<[usize; 2]>,
}

impl Session {
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Force an input size (`[height, width]`) instead of the size policy's choice.
    pub fn set_input_size(&mut self, size: Option<[usize; 2]>) -> Result<()> {
        if let Some(s) = size {
            self.model.manifest.check_size(s)?;
        }
        self.input_size = size;
        Ok(())
    }

    /// The forced input size, if any.
    pub fn input_size_override(&self) -> Option<[usize; 2]> {
        self.input_size
    }

    /// The input size used for a `width`×`height` frame.
    pub fn input_size_for(&self, width: u32, height: u32) -> [usize; 2] {
        self.input_size
            .unwrap_or_else(|| self.model.manifest.input_size_for(width, height))
    }

    /// Preprocess, infer and decode one frame.
    pub fn detect(
        &mut self,
        frame: &Frame,
        params: &DecodeParams,
    ) -> Result<(Vec<Detection>, StageTimings)> {
        self.detect_raw(frame, params).map(|(d, t, _)| (d, t))
    }

    /// [`Session::detect`], also returning the network's outputs so the frame can be decoded
    /// again with other settings without running the network (a threshold moved while paused).
    pub fn detect_raw(
        &mut self,
        frame: &Frame,
        params: &DecodeParams,
    ) -> Result<(Vec<Detection>, StageTimings, RawOutputs)> {
        if frame.width == 0 || frame.height == 0 {
            return Err(Error::Source(format!(
                "frame {} is empty ({}x{})",
                frame.index, frame.width, frame.height
            )));
        }
        let t0 = Instant::now();
        let (tensor, place, size) = self.prepare(frame)?;
        let t1 = Instant::now();
        let outputs = self.run_raw(tensor)?;
        let t2 = Instant::now();
        let raw = RawOutputs {
            model: self.model.clone(),
            outputs,
            input_hw: size,
            transform: place.transform,
            source_wh: [frame.width, frame.height],
        };
        let detections = raw.decode(params)?;
        let t3 = Instant::now();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        let timings = StageTimings {
            preprocess: ms(t0, t1),
            inference: ms(t1, t2),
            postprocess: ms(t2, t3),
            ..Default::default()
        };
        Ok((detections, timings, raw))
    }

    /// The network input for `frame`: tensor, where the picture went, and `[height, width]`.
    fn prepare(
        &mut self,
        frame: &Frame,
    ) -> Result<(Tensor, crate::preprocess::Placement, [usize; 2])> {
        let m = &self.model.manifest;
        let size = self.input_size_for(frame.width, frame.height);
        let [h, w] = size;
        let shape: [usize; 4] = match m.input.layout {
            Layout::Nchw => [1, 3, h, w],
            Layout::Nhwc => [1, h, w, 3],
        };
        // Written in place: the tensor is the only network-sized buffer.
        let (tensor, place) = match m.input.dtype {
            InputType::F32 => self.input_tensor::<f32>(frame, &shape, |b| InputBuffer::F32(b))?,
            InputType::I32 => self.input_tensor::<i32>(frame, &shape, |b| InputBuffer::I32(b))?,
        };
        Ok((tensor, place, size))
    }

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
        let mut per_node: HashMap<usize, String> = HashMap::new();
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
                            .or_insert_with(|| op_kind(node.op.as_ref()))
                            .clone();
                        let e = by_kind.entry(kind).or_insert((0, 0.0));
                        e.1 += ms;
                        out
                    },
                )
                .map_err(|e| model_err(&m, format!("inference failed: {}", root_cause(&e))))?;
        }
        for kind in per_node.values() {
            if let Some(e) = by_kind.get_mut(kind) {
                e.0 += 1;
            }
        }
        let runs = runs.max(1) as f64;
        let mut rows: Vec<OpTime> = by_kind
            .into_iter()
            .map(|(kind, (nodes, ms))| OpTime {
                kind,
                nodes,
                ms_per_run: ms / runs,
            })
            .collect();
        rows.sort_by(|a, b| b.ms_per_run.total_cmp(&a.ms_per_run));
        Ok(rows)
    }

    /// A zeroed input tensor of `shape` filled by the preprocessor in place.
    fn input_tensor<T: Datum + Copy + tract_onnx::tract_core::internal::tract_num_traits::Zero>(
        &mut self,
        frame: &Frame,
        shape: &[usize; 4],
        wrap: impl for<'b> FnOnce(&'b mut [T]) -> InputBuffer<'b>,
    ) -> Result<(Tensor, crate::preprocess::Placement)> {
        let m = &self.model.manifest;
        let (h, w) = match m.input.layout {
            Layout::Nchw => (shape[2], shape[3]),
            Layout::Nhwc => (shape[1], shape[2]),
        };
        let mut t = Tensor::zero::<T>(shape).map_err(|e| model_err(m, e))?;
        let mut view = t.try_as_plain_ram_mut().map_err(|e| model_err(m, e))?;
        let buf = view.as_slice_mut::<T>().map_err(|e| model_err(m, e))?;
        let (src_w, src_h) = (frame.width as usize, frame.height as usize);
        let place = self
            .pre
            .run(&frame.rgb, src_w, src_h, &m.input, w, h, wrap(buf));
        Ok((t, place))
    }

    /// Run the network on a prepared input tensor (its shape picks the plan) and return the
    /// outputs as f32 tensors in role order.
    pub fn run_raw(&mut self, input: Tensor) -> Result<Vec<Tensor>> {
        let m = &self.model.manifest;
        let size = match (m.input.layout, input.shape()) {
            (Layout::Nchw, [1, 3, h, w]) | (Layout::Nhwc, [1, h, w, 3]) => [*h, *w],
            (_, s) => {
                return Err(model_err(
                    m,
                    format!(
                        "input tensor shape {s:?} does not fit layout {:?}",
                        m.input.layout
                    ),
                ))
            }
        };
        if self.state.as_ref().is_none_or(|(s, _)| *s != size) {
            let plan = self.model.plan(size)?;
            self.state = Some((size, plan.spawn().map_err(|e| model_err(m, e))?));
        }
        let Some((_, state)) = self.state.as_mut() else {
            unreachable!("state set above")
        };
        let outputs = state
            .run(tvec![input.into_tvalue()])
            .map_err(|e| model_err(m, format!("inference failed: {}", root_cause(&e))))?;
        outputs
            .into_iter()
            .map(|v| {
                v.into_tensor()
                    .cast_to::<f32>()
                    .map(|c| c.into_owned())
                    .map_err(|e| model_err(m, e))
            })
            .collect()
    }

    /// Decode raw outputs (from [`Session::run_raw`]) for a source of `source_wh`.
    pub fn decode_outputs(
        &self,
        outputs: &[Tensor],
        input_hw: [usize; 2],
        transform: crate::preprocess::Transform,
        source_wh: [u32; 2],
        params: &DecodeParams,
    ) -> Result<Vec<Detection>> {
        self.model
            .decode_outputs(outputs, input_hw, transform, source_wh, params)
    }
}

/// The network's outputs for one frame, with what is needed to decode them again.
pub struct RawOutputs {
    model: Arc<Model>,
    outputs: Vec<Tensor>,
    input_hw: [usize; 2],
    transform: crate::preprocess::Transform,
    source_wh: [u32; 2],
}

impl std::fmt::Debug for RawOutputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawOutputs")
            .field("model", &self.model.id)
            .field("input_hw", &self.input_hw)
            .finish_non_exhaustive()
    }
}

impl RawOutputs {
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Decode again with `params` (milliseconds at most; no inference).
    pub fn decode(&self, params: &DecodeParams) -> Result<Vec<Detection>> {
        self.model.decode_outputs(
            &self.outputs,
            self.input_hw,
            self.transform,
            self.source_wh,
            params,
        )
    }
}

impl Model {
    fn decode_outputs(
        &self,
        outputs: &[Tensor],
        input_hw: [usize; 2],
        transform: crate::preprocess::Transform,
        source_wh: [u32; 2],
        params: &DecodeParams,
    ) -> Result<Vec<Detection>> {
        let m = &self.manifest;
        let views = outputs
            .iter()
            .map(|t| {
                Ok(OutputView {
                    shape: t.shape(),
                    data: t
                        .try_as_plain_ram()
                        .and_then(|v| v.as_slice::<f32>())
                        .map_err(|e| model_err(m, e))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let ctx = DecodeContext {
            manifest: m,
            labels: &self.labels,
            input_hw,
            transform,
            source_wh,
            params,
        };
        crate::decode::decode(&ctx, &views)
    }
}
