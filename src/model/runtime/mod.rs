//! The tract runtime: parse once, fix the input shape, optimise, share the plan.
//!
//! tract runs a symbolic-shape graph about 8× slower than a concrete one, so every input size
//! gets its own optimised plan (compiled on first use, cached). A plan is immutable and shared
//! by all workers through an `Arc`; each worker owns a [`Session`] with its own tract state,
//! preprocessing buffers and filter weights.
//!
//! Reading and checking the ONNX graph against its manifest lives in [`graph`]; per-operator
//! profiling (`centerscope bench --ops`) in [`profile`].

mod graph;
mod profile;

pub use profile::OpTime;

use super::manifest::{InputType, Layout, Manifest};
use crate::decode::{families::DecodeContext, DecodeParams, OutputView};
use crate::preprocess::{InputBuffer, Preprocessor};
use crate::{Detection, Error, Frame, Result, StageTimings};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tract_onnx::prelude::*;

type Plan = Arc<TypedRunnableModel>;

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

fn model_err(manifest: &Manifest, e: impl std::fmt::Display) -> Error {
    Error::model(&manifest.id, e.to_string().replace('\n', " "))
}

impl Model {
    /// Parse `onnx` (the bytes of the model file), check it against the manifest, compile the
    /// default input size and run it once on a blank picture so a model that cannot work fails
    /// here, with a clear message, rather than on the first frame. A bug that panics inside
    /// the ONNX reader or the optimiser (hostile or malformed files reach both) becomes an
    /// error naming the model, never a crash.
    pub fn load(manifest: Manifest, onnx: &[u8]) -> Result<Arc<Model>> {
        let id = manifest.id.clone();
        crate::error::catch_panic(
            || Self::load_unguarded(manifest, onnx),
            |msg| {
                Error::model(
                    &id,
                    format!("loading it failed with an internal error ({msg}); the file may be malformed: re-export it or report the problem"),
                )
            },
        )
    }

    fn load_unguarded(manifest: Manifest, onnx: &[u8]) -> Result<Arc<Model>> {
        let mut graph = graph::read_onnx(&manifest, onnx)?;
        graph::check_image_input(&manifest, &graph)?;
        graph::select_role_outputs(&manifest, &mut graph)?;

        let labels: Arc<[Arc<str>]> = manifest
            .labels
            .iter()
            .map(|l| Arc::from(l.as_str()))
            .collect();
        let params = manifest
            .params
            .unwrap_or_else(|| graph::count_params(&graph));
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

    /// The optimised plan for an input of `[height, width]`, compiled on first use (a panic in
    /// tract's analysis of an input size the model cannot take becomes an error).
    pub fn plan(&self, size: [usize; 2]) -> Result<Plan> {
        crate::error::catch_panic(
            || self.plan_unguarded(size),
            |msg| {
                model_err(
                    &self.manifest,
                    format!(
                        "cannot prepare it for input {}x{} (internal error: {msg})",
                        size[1], size[0]
                    ),
                )
            },
        )
    }

    fn plan_unguarded(&self, size: [usize; 2]) -> Result<Plan> {
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
                graph::reject_empty_maps(&g)?;
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
