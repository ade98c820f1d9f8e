//! Our own CPU kernels for the layers MobileNets spend their time in, swapped into tract's
//! graph by a model pass.
//!
//! tract's generic depthwise convolution and its matrix-product path for 1×1 convolutions
//! (which repacks the activations on every run) left it ~3× behind onnxruntime on our models.
//! [`accelerate`] runs on the typed graph before tract's own optimisation, while the graph is
//! still the ONNX one in NCHW: every float depthwise convolution (3×3 or 5×5, stride 1 or 2)
//! becomes a [`DepthwiseConv`] and every 1×1 stride-1 convolution a [`PointwiseConv`], each
//! absorbing the ReLU / ReLU6 / hard-swish that follows it and, for 1×1 convolutions, the
//! residual addition. Dense 3×3 stride-1 convolutions with 16 or more channels (CenterNet
//! heads, DLA-34, CenterFace's neck) become a [`WinogradConv`] (F(4×4, 3×3): a quarter of the
//! multiplications); other dense K×K convolutions (the stem) a [`SpatialConv`] (one GEMM over
//! stride-phase planes); depthwise transposed convolutions with `k = 2·stride` (the learned
//! upsampling of CenterNet necks) a [`DepthwiseDeconv`]; the NHWC → NCHW move of an RGB input a
//! [`PixelsToPlanes`] and large concatenations along channels a [`ChannelConcat`] (both split
//! over threads); ONNX linear resizes a [`BilinearResize`],
//! single-axis max reductions a [`ReduceMax`], and float binary operations that broadcast in the
//! middle of their shapes (MoveNet's in-graph decoder) a [`BroadcastBinary`]. tract then
//! optimises the rest of the graph around these nodes as usual.
//!
//! Large 1×1 expansions are then fused with the depthwise convolution that consumes them
//! ([`ExpandDepthwise`]), and large depthwise convolutions with the 1×1 projection that
//! consumes them ([`DepthwiseProject`]), so the biggest intermediate tensors stay in cache.
//!
//! The pass can be turned off (`centerscope bench --stock-tract`, or
//! `CENTERSCOPE_KERNELS=off`) to measure tract's own kernels in the same run;
//! `CENTERSCOPE_FUSE=off` keeps our kernels but skips the fusion.

pub mod activation;
pub mod broadcast;
pub mod deconv;
pub mod depthwise;
pub mod fused;
pub mod layout;
pub mod pointwise;
pub mod reduce;
pub mod resize;
pub mod roofline;
pub mod simd;
pub mod spatial;
pub mod winograd;

use activation::Activation;
use broadcast::{BinKind, BroadcastBinary};
use deconv::DepthwiseDeconv;
use depthwise::DepthwiseConv;
use fused::{DepthwiseProject, ExpandDepthwise};
use layout::{ChannelConcat, PixelsToPlanes};
use pointwise::PointwiseConv;
use reduce::ReduceMax;
use resize::BilinearResize;
use simd::Isa;
use spatial::SpatialConv;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cast::Cast;
use tract_onnx::tract_core::ops::cnn::{Conv, Deconv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;
use winograd::WinogradConv;

static DISABLED: AtomicBool = AtomicBool::new(false);

/// Whether plans compiled from now on use our kernels (default: yes, unless
/// `CENTERSCOPE_KERNELS=off`).
pub fn enabled() -> bool {
    !DISABLED.load(Ordering::Relaxed) && !crate::env::kernels_off()
}

/// Use tract's own kernels (`false`) or ours (`true`) for plans compiled from now on.
pub fn set_enabled(on: bool) {
    DISABLED.store(!on, Ordering::Relaxed);
}

/// Keep freed memory in the process instead of giving it back to the OS after every frame.
///
/// Every layer allocates its output (up to ~30 MB at 640×480) and frees its inputs. With
/// glibc's defaults the large blocks are fresh `mmap`s, so each frame re-faults and zeroes
/// hundreds of MB of pages: 5–10 % of inference time here, and it made timings depend on the
/// order of allocations. Raising the mmap and trim thresholds lets the heap recycle those
/// blocks (resident memory stays at the per-frame peak, which it reaches anyway). Called
/// once at start by the binary; a no-op on other platforms.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation parameters; it is called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

/// Layers smaller than this many multiply-adds always run on one thread.
const PARALLEL_MIN_MACS: usize = 2_000_000;

/// Threads of tract's current executor (the `--matmul-threads` pool; 1 by default).
fn parallelism() -> usize {
    use tract_linalg::multithread::{current_tract_executor, Executor};
    match current_tract_executor() {
        Executor::MultiThread(pool) => pool.current_num_threads(),
        _ => 1,
    }
}

/// Run `f` (one inference) with `executor`'s threads for its operators: tract's matrix
/// products and our kernels split their work over them.
///
/// This is the path for a pool shared by several callers (pipeline workers). Running `f` on a
/// pool thread with the other threads spinning is only safe, and only pays, for a caller that
/// owns its pool: [`with_executor_exclusive`] (tried for shared pools in session 5: spinning
/// threads outnumbered the cores, throughput fell from 40 to 10 fps, and it deadlocked).
pub fn with_executor<R>(
    executor: &tract_linalg::multithread::Executor,
    f: impl FnOnce() -> R,
) -> R {
    tract_linalg::multithread::multithread_tract_scope(executor.clone(), f)
}

/// Like [`with_executor`], for a caller that is the only user of `executor` (one pipeline
/// worker, `bench`): `f` runs on a thread of the pool itself, and the pool's other threads
/// stay awake for the length of `f`, taking the parts of each split as soon as they appear.
///
/// Without this, every parallel operator handed its parts to sleeping pool threads and the
/// calling thread slept until they were done: two wake-ups per operator, each a few hundred
/// µs on a VM, which ate the gain of splitting (see docs/benchmarks.md). Not for a pool shared
/// by several callers: a pool thread could then take another caller's inference while it waits
/// inside one.
pub fn with_executor_exclusive<R: Send>(
    executor: &tract_linalg::multithread::Executor,
    f: impl FnOnce() -> R + Send,
) -> R {
    use std::sync::atomic::AtomicUsize;
    use tract_linalg::multithread::{multithread_tract_scope, Executor};
    let Executor::MultiThread(pool) = executor else {
        return with_executor(executor, f);
    };
    let helpers = pool.current_num_threads().saturating_sub(1);
    let scoped = executor.clone();
    pool.install(move || {
        let owner = rayon::current_thread_index();
        let done = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..helpers {
            let (done, started) = (done.clone(), started.clone());
            rayon::spawn(move || {
                // Never on the thread running `f` (it could only pick this up while waiting
                // inside `f`, and would then spin until `f` ends: a deadlock).
                if rayon::current_thread_index() == owner {
                    return;
                }
                started.fetch_add(1, Ordering::AcqRel);
                while !done.load(Ordering::Acquire) {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let _done = SetOnDrop(done);
        // Let the helpers get going (bounded: a helper that never starts only costs speed).
        let since = std::time::Instant::now();
        while started.load(Ordering::Acquire) < helpers
            && since.elapsed() < std::time::Duration::from_millis(5)
        {
            std::hint::spin_loop();
        }
        multithread_tract_scope(scoped, f)
    })
}

/// Run `f` on every part, in parallel on tract's executor when it has several threads.
fn run_parts<T: Send>(parts: Vec<T>, f: impl Fn(T) + Sync + Send) {
    use rayon::prelude::*;
    use tract_linalg::multithread::{current_tract_executor, Executor};
    match current_tract_executor() {
        Executor::MultiThread(pool) if parts.len() > 1 => {
            pool.install(|| parts.into_par_iter().for_each(f))
        }
        _ => parts.into_iter().for_each(f),
    }
}

/// A float output tensor for one of our kernels, not zeroed: each kernel writes every
/// element of its output (the unit tests fill outputs with NaN before running a kernel and
/// compare every element). Zeroing cost ~8% of inference time on large feature maps.
fn output_tensor(shape: &[usize]) -> TractResult<Tensor> {
    // SAFETY: f32 has no invalid bit patterns and the tensor is fully overwritten before it
    // is read (see above).
    unsafe { Tensor::uninitialized::<f32>(shape) }
}

/// `eval` of a kernel with one float input and one float output of `out_shape`.
fn eval_unary(
    inputs: &TVec<TValue>,
    out_shape: &[usize],
    run: impl FnOnce(&[f32], &mut [f32]),
) -> TractResult<TVec<TValue>> {
    use tract_onnx::prelude::tract_itertools::Itertools;
    let input = inputs.iter().exactly_one().ok().context("one input")?;
    let mut out = output_tensor(out_shape)?;
    {
        let x = input.try_as_plain_ram()?;
        let mut o = out.try_as_plain_ram_mut()?;
        run(x.as_slice::<f32>()?, o.as_slice_mut::<f32>()?);
    }
    Ok(tvec!(out.into_tvalue()))
}

/// `eval` of a kernel with one float input, an optional residual input (`residual` says
/// whether the op takes one) and one float output of `out_shape`.
fn eval_with_residual(
    name: &str,
    inputs: &TVec<TValue>,
    residual: bool,
    out_shape: &[usize],
    run: impl FnOnce(&[f32], Option<&[f32]>, &mut [f32]),
) -> TractResult<TVec<TValue>> {
    ensure!(
        inputs.len() == 1 + residual as usize,
        "{name}: wrong inputs"
    );
    let mut out = output_tensor(out_shape)?;
    {
        let x = inputs[0].try_as_plain_ram()?;
        let r = match inputs.get(1) {
            Some(r) => Some(r.try_as_plain_ram()?),
            None => None,
        };
        let r = match &r {
            Some(v) => Some(v.as_slice::<f32>()?),
            None => None,
        };
        let mut o = out.try_as_plain_ram_mut()?;
        run(x.as_slice::<f32>()?, r, o.as_slice_mut::<f32>()?);
    }
    Ok(tvec!(out.into_tvalue()))
}

/// Deterministic pseudo-random values in [-1, 1) for the kernel tests.
#[cfg(test)]
fn rand_vec(n: usize, seed: &mut u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Replace the convolutions our kernels cover (see the module docs). Nodes that don't fit
/// (other layouts, dilations, groups, quantised or non-constant weights) are left to tract.
pub fn accelerate(model: &mut TypedModel) -> TractResult<()> {
    let isa = Isa::best();
    for id in model.eval_order()? {
        let node = model.node(id);
        if let Some(op) = match_resize(model, node)? {
            TypedModelPatch::replace_single_op(model, node, &node.inputs[..1], op)?.apply(model)?;
            continue;
        }
        if let Some(op) = match_broadcast(model, node)? {
            TypedModelPatch::replace_single_op(model, node, &node.inputs, op)?.apply(model)?;
            continue;
        }
        if let Some(op) = match_pixels_to_planes(model, node)? {
            TypedModelPatch::replace_single_op(model, node, &node.inputs, op)?.apply(model)?;
            continue;
        }
        if let Some(op) = match_channel_concat(model, node)? {
            TypedModelPatch::replace_single_op(model, node, &node.inputs, op)?.apply(model)?;
            continue;
        }
        if let Some(op) = match_deconv(model, node)? {
            TypedModelPatch::replace_single_op(model, node, &node.inputs[..1], op)?.apply(model)?;
            continue;
        }
        if let Some(op) = match_reduce_max(model, node)? {
            TypedModelPatch::replace_single_op(model, node, &node.inputs, op)?.apply(model)?;
            continue;
        }
        let Some(conv) = node.op_as::<Conv>() else {
            continue;
        };
        let Some(found) = match_conv(model, node, conv, isa)? else {
            continue;
        };
        let tail = match_tail(model, OutletId::new(id, 0), found.allows_residual())?;
        let mut patch = TypedModelPatch::default();
        let mut inputs = tvec![patch.tap_model(model, node.inputs[0])?];
        let op: Box<dyn TypedOp> = match found {
            Found::Depthwise(mut op) => {
                op.act = tail.act;
                Box::new(op)
            }
            Found::Spatial(mut op) => {
                op.act = tail.act;
                Box::new(op)
            }
            Found::Winograd(mut op) => {
                op.act = tail.act;
                Box::new(op)
            }
            Found::Pointwise(op) => {
                if let Some(r) = tail.residual {
                    inputs.push(patch.tap_model(model, r)?);
                }
                Box::new(PointwiseConv::new(
                    isa,
                    op.cin,
                    op.cout,
                    op.hw,
                    &op.weights,
                    op.bias,
                    tail.act,
                    tail.residual.is_some(),
                ))
            }
        };
        let name = node.name.clone();
        let wired = patch.wire_node(name, op, &inputs)?;
        patch.shunt_outside(model, tail.output, wired[0])?;
        patch.apply(model)?;
    }
    model.compact()?;
    if !crate::env::fusion_off() {
        fuse_expand_depthwise(model)?;
        model.compact()?;
        fuse_depthwise_project(model)?;
    }
    model.compact()?;
    Ok(())
}

/// Fuse each large 1×1 expansion into the depthwise convolution that alone consumes it.
fn fuse_expand_depthwise(model: &mut TypedModel) -> TractResult<()> {
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(dw) = node.op_as::<DepthwiseConv>() else {
            continue;
        };
        let producer = node.inputs[0];
        let prev = model.node(producer.node);
        let Some(pw) = prev.op_as::<PointwiseConv>() else {
            continue;
        };
        let sole = sole_consumer(model, producer).is_some_and(|n| n.id == id);
        if pw.residual || !sole || pw.hw != dw.in_hw || !ExpandDepthwise::worth_it(pw) {
            continue;
        }
        let op = ExpandDepthwise {
            expand: Arc::new(pw.clone()),
            depthwise: Arc::new(dw.clone()),
            project: None,
        };
        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, prev.inputs[0])?;
        let wired = patch.wire_node(node.name.clone(), op, &[x])?;
        patch.shunt_outside(model, OutletId::new(id, 0), wired[0])?;
        patch.apply(model)?;
    }
    Ok(())
}

/// Fuse each large depthwise convolution, or fused expansion + depthwise, into the 1×1
/// projection that alone consumes it (with the projection's residual, if any).
fn fuse_depthwise_project(model: &mut TypedModel) -> TractResult<()> {
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(pw) = node.op_as::<PointwiseConv>() else {
            continue;
        };
        let producer = node.inputs[0];
        let prev = model.node(producer.node);
        let sole = sole_consumer(model, producer).is_some_and(|n| n.id == id);
        if !sole {
            continue;
        }
        let op: Box<dyn TypedOp> = if let Some(dw) = prev.op_as::<DepthwiseConv>() {
            if pw.hw != dw.out_hw || pw.cin != dw.channels || !DepthwiseProject::worth_it(dw, pw) {
                continue;
            }
            Box::new(DepthwiseProject {
                depthwise: Arc::new(dw.clone()),
                project: Arc::new(pw.clone()),
            })
        } else if let Some(ed) = prev.op_as::<ExpandDepthwise>() {
            let dw = &ed.depthwise;
            if ed.project.is_some()
                || pw.hw != dw.out_hw
                || pw.cin != dw.channels
                || !ed.worth_adding(pw)
            {
                continue;
            }
            Box::new(ExpandDepthwise {
                project: Some(Arc::new(pw.clone())),
                ..ed.clone()
            })
        } else {
            continue;
        };
        let mut patch = TypedModelPatch::default();
        let mut inputs = tvec![patch.tap_model(model, prev.inputs[0])?];
        if pw.residual {
            inputs.push(patch.tap_model(model, node.inputs[1])?);
        }
        let wired = patch.wire_node(node.name.clone(), op, &inputs)?;
        patch.shunt_outside(model, OutletId::new(id, 0), wired[0])?;
        patch.apply(model)?;
    }
    Ok(())
}

enum Found {
    Depthwise(DepthwiseConv),
    Spatial(SpatialConv),
    Winograd(WinogradConv),
    Pointwise(PointwiseParts),
}

impl Found {
    fn allows_residual(&self) -> bool {
        matches!(self, Found::Pointwise(_))
    }
}

struct PointwiseParts {
    cin: usize,
    cout: usize,
    hw: [usize; 2],
    weights: Arc<Vec<f32>>,
    bias: Arc<Vec<f32>>,
}

fn match_conv(
    model: &TypedModel,
    node: &TypedNode,
    conv: &Conv,
    isa: Isa,
) -> TractResult<Option<Found>> {
    let spec = &conv.pool_spec;
    if conv.q_params.is_some()
        || spec.data_format != DataFormat::NCHW
        || conv.kernel_fmt != KernelFormat::OIHW
        || spec
            .dilations
            .as_ref()
            .is_some_and(|d| d.iter().any(|&x| x != 1))
        || node.inputs.len() != 3
    {
        return Ok(None);
    }
    let Some(([cin, h, w], [cout, oh, ow])) = f32_nchw_io(model, node)? else {
        return Ok(None);
    };
    let Some((weights, bias)) = weights_and_bias(model, node, cout)? else {
        return Ok(None);
    };
    let ks = &spec.kernel_shape;
    let strides: TVec<usize> = spec.strides.clone().unwrap_or_else(|| tvec![1, 1]);
    if ks.len() != 2 || strides.len() != 2 {
        return Ok(None);
    }
    if conv.group == cin && cin == cout && ks[0] == ks[1] && strides[0] == strides[1] {
        let (k, s) = (ks[0], strides[0]);
        if !DepthwiseConv::supports(k, s) || weights.len() != cout * k * k {
            return Ok(None);
        }
        let pads = spec.padding.compute(&[h, w], &[k, k], &[1, 1], &[s, s]);
        if pads[0].convoluted != oh || pads[1].convoluted != ow {
            return Ok(None);
        }
        return Ok(Some(Found::Depthwise(DepthwiseConv {
            channels: cin,
            kernel: k,
            stride: s,
            pad: [pads[0].pad_before, pads[1].pad_before],
            in_hw: [h, w],
            out_hw: [oh, ow],
            weights: Arc::new(weights),
            bias: Arc::new(bias),
            act: Activation::Identity,
        })));
    }
    let pointwise = ks[..] == [1, 1] && strides[..] == [1, 1] && [oh, ow] == [h, w];
    if conv.group == 1
        && !pointwise
        && ks[0] == ks[1]
        && strides[0] == strides[1]
        && SpatialConv::supports(ks[0], strides[0])
        && weights.len() == cout * cin * ks[0] * ks[0]
        && isa != Isa::Portable
    {
        let (k, s) = (ks[0], strides[0]);
        let pads = spec.padding.compute(&[h, w], &[k, k], &[1, 1], &[s, s]);
        if pads[0].convoluted != oh || pads[1].convoluted != ow {
            return Ok(None);
        }
        if (k, s) == (3, 1)
            && !crate::env::winograd_off()
            && WinogradConv::worth_it(cin, cout, [oh, ow])
        {
            return Ok(Some(Found::Winograd(WinogradConv::new(
                isa,
                cin,
                cout,
                [pads[0].pad_before, pads[1].pad_before],
                [h, w],
                [oh, ow],
                &weights,
                Arc::new(bias),
                Activation::Identity,
            ))));
        }
        return Ok(Some(Found::Spatial(SpatialConv::new(
            isa,
            cin,
            cout,
            k,
            s,
            [pads[0].pad_before, pads[1].pad_before],
            [h, w],
            [oh, ow],
            &weights,
            Arc::new(bias),
            Activation::Identity,
        ))));
    }
    if conv.group == 1
        && isa != Isa::Portable
        && ks[..] == [1, 1]
        && strides[..] == [1, 1]
        && [oh, ow] == [h, w]
        && weights.len() == cout * cin
    {
        return Ok(Some(Found::Pointwise(PointwiseParts {
            cin,
            cout,
            hw: [h, w],
            weights: Arc::new(weights),
            bias: Arc::new(bias),
        })));
    }
    Ok(None)
}

/// The move of a float `[1, H, W, C]` (C ≤ 4) to `[1, C, H, W]` (see [`PixelsToPlanes`]).
fn match_pixels_to_planes(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<PixelsToPlanes>> {
    if node.op_as::<AxisOp>() != Some(&AxisOp::Move(3, 1)) || node.inputs.len() != 1 {
        return Ok(None);
    }
    let x = model.outlet_fact(node.inputs[0])?;
    if x.datum_type != f32::datum_type() {
        return Ok(None);
    }
    let Some(&[1, h, w, c]) = x.shape.as_concrete() else {
        return Ok(None);
    };
    Ok(PixelsToPlanes::supports(c).then_some(PixelsToPlanes {
        channels: c,
        hw: [h, w],
    }))
}

/// A large float concatenation of `[1, c_i, H, W]` maps along channels (see [`ChannelConcat`]).
fn match_channel_concat(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<ChannelConcat>> {
    use tract_onnx::tract_core::ops::array::TypedConcat;
    if node.op_as::<TypedConcat>().map(|c| c.axis) != Some(1) || node.inputs.len() < 2 {
        return Ok(None);
    }
    let mut channels = Vec::new();
    let mut hw = None;
    for &i in &node.inputs {
        let f = model.outlet_fact(i)?;
        let Some(&[1, c, h, w]) = f.shape.as_concrete() else {
            return Ok(None);
        };
        if f.datum_type != f32::datum_type()
            || f.konst.is_some()
            || *hw.get_or_insert([h, w]) != [h, w]
        {
            return Ok(None);
        }
        channels.push(c);
    }
    let Some(hw) = hw else {
        return Ok(None);
    };
    let total = channels.iter().sum::<usize>() * hw[0] * hw[1];
    Ok((total >= layout::CONCAT_MIN_FLOATS).then_some(ChannelConcat { channels, hw }))
}

/// A depthwise transposed convolution with `k = 2·stride` (see [`DepthwiseDeconv`]).
fn match_deconv(model: &TypedModel, node: &TypedNode) -> TractResult<Option<DepthwiseDeconv>> {
    let Some(op) = node.op_as::<Deconv>() else {
        return Ok(None);
    };
    let spec = &op.pool_spec;
    if spec.data_format != DataFormat::NCHW
        || op.kernel_format != KernelFormat::OIHW
        || node.inputs.len() != 3
        || op.adjustments.iter().any(|&a| a != 0)
        || spec.dilations().iter().any(|&d| d != 1)
    {
        return Ok(None);
    }
    let Some(([c, h, w], [co, oh, ow])) = f32_nchw_io(model, node)? else {
        return Ok(None);
    };
    let (ks, strides) = (&spec.kernel_shape, spec.strides());
    if co != c || op.group != c || ks.len() != 2 || ks[0] != ks[1] || strides[..] != [ks[0] / 2; 2]
    {
        return Ok(None);
    }
    let (k, s) = (ks[0], strides[0]);
    let pads = spec
        .padding
        .compute_for_deconv(&[h, w], &[k, k], &[1, 1], &[s, s], &[0, 0])?;
    let pad = [pads[0].pad_before, pads[1].pad_before];
    if pads[0].deconvoluted != oh
        || pads[1].deconvoluted != ow
        || !DepthwiseDeconv::supports(k, s, pad)
    {
        return Ok(None);
    }
    let Some((weights, bias)) = weights_and_bias(model, node, c)? else {
        return Ok(None);
    };
    if weights.len() != c * k * k {
        return Ok(None);
    }
    Ok(Some(DepthwiseDeconv {
        channels: c,
        kernel: k,
        stride: s,
        pad,
        in_hw: [h, w],
        out_hw: [oh, ow],
        weights: Arc::new(weights),
        bias: Arc::new(bias),
    }))
}

/// `([c, h, w], [c_out, h_out, w_out])` of a node with a float `[1, C, H, W]` first input and
/// output (concrete shapes), or `None`.
type Chw = [usize; 3];
fn f32_nchw_io(model: &TypedModel, node: &TypedNode) -> TractResult<Option<(Chw, Chw)>> {
    let x = model.outlet_fact(node.inputs[0])?;
    let y = model.outlet_fact(OutletId::new(node.id, 0))?;
    if x.datum_type != f32::datum_type() || y.datum_type != f32::datum_type() {
        return Ok(None);
    }
    let (Some(&[1, c, h, w]), Some(&[1, co, oh, ow])) =
        (x.shape.as_concrete(), y.shape.as_concrete())
    else {
        return Ok(None);
    };
    Ok(Some(([c, h, w], [co, oh, ow])))
}

/// The constant weights (input 1) and bias (input 2, a scalar broadcast to `cout`) of a
/// (transposed) convolution node, or `None` when either is not constant.
fn weights_and_bias(
    model: &TypedModel,
    node: &TypedNode,
    cout: usize,
) -> TractResult<Option<(Vec<f32>, Vec<f32>)>> {
    let (Some(weights), Some(bias)) = (
        const_f32(model, node.inputs[1])?,
        const_f32(model, node.inputs[2])?,
    ) else {
        return Ok(None);
    };
    let bias = match bias.len() {
        1 => vec![bias[0]; cout],
        n if n == cout => bias,
        _ => return Ok(None),
    };
    Ok(Some((weights, bias)))
}

/// The value of a constant input (looking through casts), as f32.
fn const_f32(model: &TypedModel, outlet: OutletId) -> TractResult<Option<Vec<f32>>> {
    let Some(t) = const_tensor(model, outlet)? else {
        return Ok(None);
    };
    let t = t.cast_to::<f32>()?;
    Ok(Some(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()))
}

/// The value of a constant input, looking through casts and axis changes (tract-onnx wires a
/// transposed convolution's kernel through a split, a move and a collapse of its axes).
fn const_tensor(model: &TypedModel, outlet: OutletId) -> TractResult<Option<Tensor>> {
    let fact = model.outlet_fact(outlet)?;
    if let Some(k) = &fact.konst {
        return Ok(Some(k.clone().into_tensor()));
    }
    let node = model.node(outlet.node);
    if node.inputs.len() != 1 {
        return Ok(None);
    }
    if node.op_is::<Cast>() {
        return const_tensor(model, node.inputs[0]);
    }
    if node.op_is::<AxisOp>() {
        let Some(t) = const_tensor(model, node.inputs[0])? else {
            return Ok(None);
        };
        // A failed evaluation leaves the node to tract rather than failing the model.
        let out = node
            .op
            .eval_out_of_plan(tvec![t.into_tvalue()])
            .ok()
            .flatten();
        return Ok(out.and_then(|mut o| o.pop()).map(|v| v.into_tensor()));
    }
    Ok(None)
}

/// A scalar constant operand of a binary node (the input that is not `from`).
fn scalar_operand(model: &TypedModel, node: &TypedNode, from: OutletId) -> Option<f32> {
    if node.inputs.len() != 2 {
        return None;
    }
    let other = if node.inputs[0] == from {
        node.inputs[1]
    } else if node.inputs[1] == from {
        node.inputs[0]
    } else {
        return None;
    };
    let v = const_f32(model, other).ok()??;
    (v.len() == 1).then(|| v[0])
}

fn bin_name(node: &TypedNode) -> Option<String> {
    node.op_as::<TypedBinOp>().map(|b| b.0.name().to_string())
}

/// The only consumer of `outlet`, if it has exactly one and is not a model output.
fn sole_consumer(model: &TypedModel, outlet: OutletId) -> Option<&TypedNode> {
    if model.outputs.contains(&outlet) {
        return None;
    }
    match model.outlet_successors(outlet) {
        [one] => Some(model.node(one.node)),
        _ => None,
    }
}

struct Tail {
    act: Activation,
    residual: Option<OutletId>,
    /// The outlet the fused node's output replaces.
    output: OutletId,
}

/// What follows a convolution that its kernel can absorb: ReLU (`Max 0`), ReLU6 (`Max 0`
/// then `Min 6`), hard-swish (`(x * s) * Min(Max(x + 3, 0), 6)`), and for 1×1 convolutions a
/// residual `Add` of a tensor of the output's shape.
fn match_tail(model: &TypedModel, conv: OutletId, allow_residual: bool) -> TractResult<Tail> {
    let mut tail = Tail {
        act: Activation::Identity,
        residual: None,
        output: conv,
    };
    if let Some(hs) = match_hardswish(model, conv) {
        tail.act = hs.0;
        tail.output = hs.1;
    } else if let Some(n) = sole_consumer(model, conv) {
        if bin_name(n).as_deref() == Some("Max") && scalar_operand(model, n, conv) == Some(0.0) {
            tail.act = Activation::Relu;
            tail.output = OutletId::new(n.id, 0);
            if let Some(m) = sole_consumer(model, tail.output) {
                if bin_name(m).as_deref() == Some("Min")
                    && scalar_operand(model, m, tail.output) == Some(6.0)
                {
                    tail.act = Activation::Relu6;
                    tail.output = OutletId::new(m.id, 0);
                }
            }
        }
    }
    if allow_residual {
        if let Some(add) = sole_consumer(model, tail.output) {
            if bin_name(add).as_deref() == Some("Add") && add.inputs.len() == 2 {
                let other = if add.inputs[0] == tail.output {
                    add.inputs[1]
                } else {
                    add.inputs[0]
                };
                let same_shape =
                    model.outlet_fact(other)?.shape == model.outlet_fact(tail.output)?.shape;
                let is_const = model.outlet_fact(other)?.konst.is_some();
                if other != tail.output && same_shape && !is_const {
                    tail.residual = Some(other);
                    tail.output = OutletId::new(add.id, 0);
                }
            }
        }
    }
    Ok(tail)
}

/// `y = (x * s) * Min(Max(x + 3, 0), 6)` on the convolution output `x`: returns the
/// activation and `y`'s outlet.
fn match_hardswish(model: &TypedModel, x: OutletId) -> Option<(Activation, OutletId)> {
    if model.outputs.contains(&x) {
        return None;
    }
    let succ = model.outlet_successors(x);
    if succ.len() != 2 {
        return None;
    }
    let a = model.node(succ[0].node);
    let b = model.node(succ[1].node);
    let (scale_node, add_node) = match (bin_name(a)?.as_str(), bin_name(b)?.as_str()) {
        ("Mul", "Add") => (a, b),
        ("Add", "Mul") => (b, a),
        _ => return None,
    };
    let scale = scalar_operand(model, scale_node, x)?;
    if scalar_operand(model, add_node, x)? != 3.0 {
        return None;
    }
    let add_out = OutletId::new(add_node.id, 0);
    let max = sole_consumer(model, add_out)?;
    if bin_name(max)? != "Max" || scalar_operand(model, max, add_out)? != 0.0 {
        return None;
    }
    let max_out = OutletId::new(max.id, 0);
    let min = sole_consumer(model, max_out)?;
    if bin_name(min)? != "Min" || scalar_operand(model, min, max_out)? != 6.0 {
        return None;
    }
    let min_out = OutletId::new(min.id, 0);
    let scaled = OutletId::new(scale_node.id, 0);
    let mul = sole_consumer(model, min_out)?;
    if bin_name(mul)? != "Mul" || sole_consumer(model, scaled)?.id != mul.id {
        return None;
    }
    // `(x * s) * clip` with the scaled value first, as the graph computes it.
    if !(mul.inputs.contains(&scaled) && mul.inputs.contains(&min_out)) {
        return None;
    }
    Some((Activation::HardSwish { scale }, OutletId::new(mul.id, 0)))
}

/// A float NCHW linear `Resize` of the spatial axes with a plain coordinate transform.
fn match_resize(model: &TypedModel, node: &TypedNode) -> TractResult<Option<BilinearResize>> {
    use tract_onnx::tract_core::ops::nn::resize::Interpolator;
    use tract_onnx_opl::resize::{CoordTransform, Resize};
    let Some(op) = node.op_as::<Resize>() else {
        return Ok(None);
    };
    let CoordTransform::Plain(coord) = &op.coord_transformer else {
        return Ok(None);
    };
    if op.interpolator != Interpolator::Linear || op.antialias || op.axes.is_some() {
        return Ok(None);
    }
    let Some(([c, h, w], [oc, oh, ow])) = f32_nchw_io(model, node)? else {
        return Ok(None);
    };
    use tract_onnx::tract_core::ops::nn::resize::CoordTransformer as T;
    let supported = matches!(coord, T::Asymmetric | T::HalfPixel | T::AlignCorners);
    if c != oc || !supported || h == 0 || w == 0 {
        return Ok(None);
    }
    Ok(Some(BilinearResize::new(coord, c, [h, w], [oh, ow])))
}

/// A float `Reduce<Max>` over exactly one axis of a concrete shape.
fn match_reduce_max(model: &TypedModel, node: &TypedNode) -> TractResult<Option<ReduceMax>> {
    use tract_onnx::tract_core::ops::nn::{Reduce, Reducer};
    let Some(op) = node.op_as::<Reduce>() else {
        return Ok(None);
    };
    if op.reducer != Reducer::Max || op.axes.len() != 1 || node.inputs.len() != 1 {
        return Ok(None);
    }
    let x = model.outlet_fact(node.inputs[0])?;
    if x.datum_type != f32::datum_type() {
        return Ok(None);
    }
    let Some(shape) = x.shape.as_concrete() else {
        return Ok(None);
    };
    Ok(ReduceMax::new(shape, op.axes[0]))
}

/// A float binary operation (arithmetic or comparison) that broadcasts in the middle of
/// its shapes, large enough to matter. Same-shape and by-scalar operations stay with tract,
/// whose fused chains handle them well.
fn match_broadcast(model: &TypedModel, node: &TypedNode) -> TractResult<Option<BroadcastBinary>> {
    let Some(kind) = bin_name(node).as_deref().and_then(BinKind::from_name) else {
        return Ok(None);
    };
    if node.inputs.len() != 2 {
        return Ok(None);
    }
    let a = model.outlet_fact(node.inputs[0])?;
    let b = model.outlet_fact(node.inputs[1])?;
    let y = model.outlet_fact(OutletId::new(node.id, 0))?;
    if a.datum_type != f32::datum_type() || b.datum_type != f32::datum_type() {
        return Ok(None);
    }
    let (Some(sa), Some(sb), Some(so)) = (
        a.shape.as_concrete(),
        b.shape.as_concrete(),
        y.shape.as_concrete(),
    ) else {
        return Ok(None);
    };
    let volume: usize = so.iter().product();
    let scalar = |s: &[usize]| s.iter().product::<usize>() == 1;
    if volume < 16 * 1024 || (sa == so && sb == so) || scalar(sa) || scalar(sb) {
        return Ok(None);
    }
    Ok(
        broadcast::Plan::new(sa, sb, so).map(|plan| BroadcastBinary {
            kind,
            out_shape: so.into(),
            plan,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_linalg::multithread::Executor;

    /// A depthwise transposed convolution as tract-onnx builds it (kernel `[C, 1, k, k]`,
    /// OIHW, explicit asymmetric pads): the output with our kernel swapped in equals tract's.
    #[test]
    fn depthwise_deconv_matches_tracts_own_in_a_graph() {
        use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};
        let mut seed = 41u64;
        for (c, h, w, s, before, after) in [
            (
                3usize,
                7usize,
                9usize,
                2usize,
                [1usize, 0usize],
                [2usize, 1usize],
            ),
            (5, 6, 5, 4, [3, 2], [0, 5]),
            (2, 4, 11, 8, [4, 4], [4, 4]),
        ] {
            let k = 2 * s;
            let weights = rand_vec(c * k * k, &mut seed);
            let bias = rand_vec(c, &mut seed);
            let x = rand_vec(c * h * w, &mut seed);
            let mut model = TypedModel::default();
            let src = model.add_source("x", f32::fact([1, c, h, w])).unwrap();
            let kern = tract_ndarray::Array4::from_shape_vec((c, 1, k, k), weights).unwrap();
            let kern = model.add_const("k", Tensor::from(kern)).unwrap();
            let b = model
                .add_const("b", Tensor::from(tract_ndarray::arr1(&bias)))
                .unwrap();
            let pool = PoolSpec::new(
                DataFormat::NCHW,
                tvec![k, k],
                PaddingSpec::Explicit(
                    before.iter().copied().collect(),
                    after.iter().copied().collect(),
                ),
                None,
                Some(tvec![s, s]),
                c,
                c,
            );
            let op = Deconv::new(pool, KernelFormat::OIHW, tvec![0, 0], c);
            let y = model.wire_node("deconv", op, &[src, kern, b]).unwrap();
            model.select_output_outlets(&y).unwrap();
            let run = |m: TypedModel| {
                let input = tract_ndarray::Array4::from_shape_vec((1, c, h, w), x.clone()).unwrap();
                let out = m
                    .into_optimized()
                    .unwrap()
                    .into_runnable()
                    .unwrap()
                    .run(tvec![Tensor::from(input).into_tvalue()])
                    .unwrap();
                let t = out[0].clone().into_tensor();
                t.try_as_plain_ram()
                    .unwrap()
                    .as_slice::<f32>()
                    .unwrap()
                    .to_vec()
            };
            let want = run(model.clone());
            let mut ours = model.clone();
            accelerate(&mut ours).unwrap();
            assert!(
                ours.nodes().iter().any(|n| n.op_is::<DepthwiseDeconv>()),
                "s{s}: not matched"
            );
            let got = run(ours);
            assert_eq!(got.len(), want.len());
            for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - r).abs() <= 1e-5 * (1.0 + r.abs()),
                    "s{s} [{i}]: {g} vs {r}"
                );
            }
        }
    }

    #[test]
    fn an_exclusive_executor_splits_work_and_survives_panics() {
        let executor = Executor::multithread(2);
        let serial: Vec<u64> = (0..64u64).map(|i| (0..=i * 1000).sum()).collect();
        for _ in 0..200 {
            let parallel = with_executor_exclusive(&executor, || {
                assert_eq!(
                    parallelism(),
                    2,
                    "the executor is in scope on the pool thread"
                );
                let out: Vec<std::sync::Mutex<u64>> =
                    (0..64).map(|_| std::sync::Mutex::new(0)).collect();
                run_parts((0..64u64).collect(), |i| {
                    // A nested split inside a part, as our kernels' callers may do.
                    let inner = std::sync::atomic::AtomicU64::new(0);
                    run_parts((0..i).collect(), |j: u64| {
                        inner.fetch_add((j * 1000..j * 1000 + 1000).sum(), Ordering::Relaxed);
                    });
                    *out[i as usize].lock().unwrap() = inner.load(Ordering::Relaxed) + i * 1000;
                });
                out.into_iter()
                    .map(|m| m.into_inner().unwrap())
                    .collect::<Vec<u64>>()
            });
            assert_eq!(parallel, serial);
        }
        // A panic inside ends the helpers too: the pool still serves the next inference.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_executor_exclusive(&executor, || panic!("inside an inference"))
        }));
        assert!(r.is_err());
        assert_eq!(with_executor_exclusive(&executor, || 7), 7);
    }
}
