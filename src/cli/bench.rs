//! `centerscope bench`: the numbers a user needs to choose a model — parameters, file size,
//! MACs, per-stage latency (median, p95, warm-up excluded) and throughput with the worker pool,
//! with the single-worker throughput measured in the same run as the reference.

use super::{parse_size, parse_workers};
use crate::kernels::with_executor_exclusive;
use crate::model::{ModelEntry, Registry, Session, DEFAULT_MODEL};
use crate::pipeline::stats::{percentiles, Percentiles, StageSamples};
use crate::pipeline::{Event, Mode, Pipeline, PipelineConfig};
use crate::source::memory::MemorySource;
use crate::{Error, Frame, Result};
use clap::Args;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;
use tract_linalg::multithread::Executor;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Model id or path; repeat for several. `all` benches every built-in model.
    #[arg(long = "model", alias = "models", default_value = DEFAULT_MODEL, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Picture or video to run on (default: a generated 1280x720 picture).
    #[arg(long)]
    pub input: Option<String>,
    /// Network input size WxH (flexible-size models only).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<[usize; 2]>,
    /// Worker threads for the throughput run.
    #[arg(long, value_parser = parse_workers, allow_negative_numbers = true)]
    pub workers: Option<usize>,
    /// Threads for matrix products inside one inference (latency and throughput runs).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub matmul_threads: u64,
    /// Timed frames per measurement (after 3 warm-up frames).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=100000))]
    pub frames: u64,
    /// Print one JSON object per model instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also time every operator of the network (with --matmul-threads threads) and list
    /// where inference time goes, by operator kind.
    #[arg(long)]
    pub ops: bool,
    /// Measure live-view latency instead: frames arrive in real time (30 fps) and the
    /// newest wins, as from a camera; capture-to-result latency and dropped frames for
    /// 1 worker x N threads against N workers x 1 thread (N = cores), in the same run.
    #[arg(long, conflicts_with = "ops")]
    pub live: bool,
    /// Run with tract's own kernels only (without Centerscope's depthwise and 1x1
    /// convolution kernels), for comparison.
    #[arg(long)]
    pub stock_tract: bool,
}

const WARMUP: usize = 3;

#[derive(Serialize)]
pub struct BenchReport {
    pub model: String,
    pub params: u64,
    pub file_bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub macs: Option<u64>,
    /// `[width, height]` of the network input.
    pub input: [usize; 2],
    pub source: [u32; 2],
    pub frames: u64,
    pub workers: usize,
    pub matmul_threads: usize,
    pub load_ms: f64,
    pub stages: BTreeMap<&'static str, Percentiles>,
    /// Pipeline throughput with `workers` workers.
    pub fps: f64,
    /// Pipeline throughput with one worker, measured in the same run.
    pub fps_1_worker: f64,
    pub speedup: f64,
    /// This CPU's compute and memory ceilings, measured in the same run (with `--ops`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceilings: Option<crate::kernels::roofline::Ceilings>,
    /// Inference time by operator kind (with `--ops`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<crate::model::runtime::OpTime>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    if args.stock_tract {
        crate::kernels::set_enabled(false);
    }
    let mut registry = Registry::with_user_models();
    let ids = model_ids(&args, &registry);
    let entries = ids
        .iter()
        .map(|id| registry.resolve(id))
        .collect::<Result<Vec<_>>>()?;
    let (frames, decode_ms) = load_frames(args.input.as_deref(), args.frames as usize + WARMUP)?;
    let workers = args
        .workers
        .unwrap_or_else(crate::pipeline::default_workers);
    if args.live {
        for entry in entries {
            live_latency(&entry, &args, &frames)?;
        }
        return Ok(());
    }
    if !args.json {
        print_table_header();
    }
    for entry in entries {
        let report = bench_model(&entry, &args, &frames, &decode_ms, workers)?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string(&report).map_err(|e| Error::Other(e.to_string()))?
            );
        } else {
            print_table_row(&report);
        }
    }
    Ok(())
}

/// The models to bench: `--model` as given, or every built-in model for `all`.
fn model_ids(args: &BenchArgs, registry: &Registry) -> Vec<String> {
    if args.models.iter().any(|m| m == "all") {
        registry
            .entries()
            .iter()
            .filter(|e| e.is_builtin())
            .map(|e| e.manifest.id.clone())
            .collect()
    } else {
        args.models.clone()
    }
}

/// Load one model and measure it: latency per stage, pipeline throughput, and (with `--ops`)
/// time per operator kind.
fn bench_model(
    entry: &ModelEntry,
    args: &BenchArgs,
    frames: &[Frame],
    decode_ms: &[f64],
    workers: usize,
) -> Result<BenchReport> {
    if let Some(size) = args.size {
        entry.manifest.check_size(size)?;
    }
    let t = Instant::now();
    let model = entry.load()?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut session = model.session();
    session.set_input_size(args.size)?;
    let [h, w] = session.input_size_for(frames[0].width, frames[0].height);

    let mt = args.matmul_threads as usize;
    let mut stages = latency(&mut session, frames, mt, args.frames as usize)?;
    if !decode_ms.is_empty() {
        stages.insert("decode", percentiles(decode_ms));
    }

    // Throughput: the real pipeline, 1 worker as the reference, then `workers`.
    let fps_1 = throughput(&model, frames, 1, 1, args.size, args.frames)?;
    let fps = if workers == 1 && mt == 1 {
        fps_1
    } else {
        throughput(&model, frames, workers, mt, args.size, args.frames)?
    };
    let ops = if args.ops {
        let executor = if mt > 1 {
            Executor::multithread(mt)
        } else {
            Executor::SingleThread
        };
        with_executor_exclusive(&executor, || {
            session.profile_ops(&frames[0], args.frames as usize)
        })?
    } else {
        Vec::new()
    };
    let macs = model.manifest.macs.map(|m| {
        let [dh, dw] = model.manifest.input.size;
        (m as f64 * (h * w) as f64 / (dh * dw) as f64) as u64
    });
    Ok(BenchReport {
        model: model.id.to_string(),
        params: model.params,
        file_bytes: model.file_bytes,
        macs,
        input: [w, h],
        source: [frames[0].width, frames[0].height],
        frames: args.frames,
        workers,
        matmul_threads: mt,
        load_ms,
        stages,
        fps,
        fps_1_worker: fps_1,
        speedup: fps / fps_1.max(1e-9),
        ceilings: args.ops.then(crate::kernels::roofline::measure_ceilings),
        ops,
    })
}

/// Latency: one worker, `timed` frames back to back after the warm-up, with `matmul_threads`
/// threads for matrix products; percentiles per stage.
fn latency(
    session: &mut Session,
    frames: &[Frame],
    matmul_threads: usize,
    timed: usize,
) -> Result<BTreeMap<&'static str, Percentiles>> {
    let params = session.model().default_params();
    let mut samples = StageSamples::default();
    let executor = (matmul_threads > 1).then(|| Executor::multithread(matmul_threads));
    let runs = timed + WARMUP;
    for (i, f) in frames.iter().cycle().take(runs).enumerate() {
        let (_, t) = match &executor {
            Some(e) => with_executor_exclusive(e, || session.detect(f, &params))?,
            None => session.detect(f, &params)?,
        };
        if i >= WARMUP {
            samples.push(&t);
        }
    }
    Ok(samples.summary().into_iter().collect())
}

fn print_table_header() {
    println!(
        "{:<28} {:>7} {:>7} {:>7} {:>9} {:>14} {:>14} {:>14} {:>7} {:>7}",
        "model",
        "params",
        "MB",
        "GMACs",
        "input",
        "pre ms p50/95",
        "infer p50/95",
        "post p50/95",
        "fps",
        "speedup"
    );
}

/// One model's line of the table, then its operator times (with `--ops`).
fn print_table_row(report: &BenchReport) {
    let [w, h] = report.input;
    let st = |n: &str| {
        report
            .stages
            .get(n)
            .map(|p| format!("{:.1}/{:.1}", p.median_ms, p.p95_ms))
            .unwrap_or_default()
    };
    println!(
        "{:<28} {:>6.2}M {:>7.1} {:>7.2} {:>9} {:>14} {:>14} {:>14} {:>7.1} {:>6.2}x",
        report.model,
        report.params as f64 / 1e6,
        report.file_bytes as f64 / 1e6,
        report.macs.map(|m| m as f64 / 1e9).unwrap_or(f64::NAN),
        format!("{w}x{h}"),
        st("preprocess"),
        st("inference"),
        st("postprocess"),
        report.fps,
        report.speedup
    );
    let total: f64 = report.ops.iter().map(|o| o.ms_per_run).sum();
    if let Some(c) = report.ceilings {
        println!(
            "    ceilings on one thread: 1x1 kernel in L2 {:.1} GMAC/s, memory copy {:.1} GB/s",
            c.gmacs_per_s, c.gbytes_per_s
        );
    }
    for o in &report.ops {
        let mut line = format!(
            "    {:<40} {:>4} nodes {:>9.2} ms {:>5.1}%",
            o.kind,
            o.nodes,
            o.ms_per_run,
            100.0 * o.ms_per_run / total.max(1e-9)
        );
        if o.macs > 0 && o.ms_per_run > 0.0 {
            let gmacs = o.macs as f64 / o.ms_per_run / 1e6;
            let gbs = o.bytes as f64 / o.ms_per_run / 1e6;
            line.push_str(&format!(" {gmacs:>7.1} GMAC/s {gbs:>6.1} GB/s"));
            if let Some(c) = report.ceilings {
                line.push_str(&format!(
                    " ({:>3.0}% / {:>3.0}%)",
                    100.0 * gmacs / c.gmacs_per_s,
                    100.0 * gbs / c.gbytes_per_s
                ));
            }
        }
        println!("{line}");
    }
}

/// A pipeline over `frames` repeated to `n` (at [`LIVE_FPS`] timestamps) with the model's
/// default settings.
fn start_on_frames(
    model: &std::sync::Arc<crate::model::Model>,
    frames: &[Frame],
    n: u64,
    config: PipelineConfig,
    size: Option<[usize; 2]>,
) -> Result<Pipeline> {
    let source = MemorySource::new("bench", frames.to_vec(), n, Some(LIVE_FPS));
    let pipeline = Pipeline::start(
        Box::new(source),
        model.clone(),
        model.default_params(),
        config,
    )?;
    pipeline.controls().set_input_size(size);
    Ok(pipeline)
}

/// Camera-like frame rate of `bench --live`.
const LIVE_FPS: f64 = 30.0;

/// One live run: frames paced at [`LIVE_FPS`], newest wins; returns the capture-to-result
/// latencies (ms) of the frames that came out and how many were dropped.
fn live_run(
    model: &std::sync::Arc<crate::model::Model>,
    frames: &[Frame],
    workers: usize,
    matmul_threads: usize,
    size: Option<[usize; 2]>,
    n: u64,
) -> Result<(Vec<f64>, u64)> {
    let config = PipelineConfig {
        workers,
        mode: Mode::Live,
        realtime: true,
        matmul_threads,
        ..Default::default()
    };
    let mut pipeline = start_on_frames(model, frames, n, config, size)?;
    let mut latencies = Vec::new();
    let mut seen = 0usize;
    while let Some(ev) = pipeline.recv() {
        match ev {
            Event::Frame(r) => {
                seen += 1;
                // The first frames warm the plans and buffers up.
                if seen > WARMUP * workers {
                    latencies.extend(r.timings.end_to_end);
                }
            }
            Event::EndOfStream => break,
            Event::Error(e) | Event::Skipped(e) | Event::FrameFailed(_, e) => return Err(e),
        }
    }
    Ok((latencies, pipeline.controls().dropped()))
}

/// `bench --live`: which split of the cores gives a live view the lowest latency.
fn live_latency(entry: &ModelEntry, args: &BenchArgs, frames: &[Frame]) -> Result<()> {
    if let Some(size) = args.size {
        entry.manifest.check_size(size)?;
    }
    let model = entry.load()?;
    let cores = crate::pipeline::default_workers().max(2);
    let n = args.frames.max(60) + WARMUP as u64 * cores as u64;
    println!(
        "{}: {} frames at {LIVE_FPS} fps, newest wins; capture-to-result latency",
        model.id, n
    );
    println!(
        "{:>8} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "workers", "threads", "p50 ms", "p95 ms", "out fps", "dropped"
    );
    for (workers, threads) in [(1, cores), (cores, 1), (1, 1)] {
        let t = Instant::now();
        let (lat, dropped) = live_run(&model, frames, workers, threads, args.size, n)?;
        let secs = t.elapsed().as_secs_f64();
        let p = crate::pipeline::stats::percentiles(&lat);
        println!(
            "{workers:>8} {threads:>8} {:>9.1} {:>9.1} {:>9.1} {dropped:>8}",
            p.median_ms,
            p.p95_ms,
            (n - dropped) as f64 / secs.max(1e-9)
        );
    }
    Ok(())
}

fn throughput(
    model: &std::sync::Arc<crate::model::Model>,
    frames: &[Frame],
    workers: usize,
    matmul_threads: usize,
    size: Option<[usize; 2]>,
    n: u64,
) -> Result<f64> {
    let warm = (WARMUP * workers) as u64;
    let config = PipelineConfig {
        workers,
        mode: Mode::EveryFrame,
        matmul_threads,
        ..Default::default()
    };
    let mut pipeline = start_on_frames(model, frames, n + warm, config, size)?;
    let mut seen = 0u64;
    let mut t0 = Instant::now();
    while let Some(ev) = pipeline.recv() {
        match ev {
            Event::Frame(_) => {
                seen += 1;
                if seen == warm {
                    t0 = Instant::now();
                }
            }
            Event::EndOfStream => break,
            Event::Error(e) | Event::Skipped(e) | Event::FrameFailed(_, e) => return Err(e),
        }
    }
    Ok((seen - warm) as f64 / t0.elapsed().as_secs_f64().max(1e-9))
}

/// Frames to run on, plus how long each took to decode (empty for the generated picture).
fn load_frames(input: Option<&str>, want: usize) -> Result<(Vec<Frame>, Vec<f64>)> {
    let Some(spec) = input else {
        return Ok((vec![synthetic_frame(1280, 720)], Vec::new()));
    };
    super::check_input_exists(spec)?;
    let mut src = crate::source::open(spec)?;
    let mut frames = Vec::new();
    let mut decode = Vec::new();
    // Keep at most ~64 distinct frames in memory; the bench cycles through them.
    while frames.len() < want.min(64) {
        let t = Instant::now();
        match src.next_frame() {
            Some(Ok(f)) => {
                decode.push(t.elapsed().as_secs_f64() * 1e3);
                frames.push(f);
            }
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    if frames.is_empty() {
        return Err(Error::Source(format!("{spec}: no frames to benchmark")));
    }
    Ok((frames, decode))
}

/// A deterministic 1280×720 test picture with structure at several scales.
pub fn synthetic_frame(width: u32, height: u32) -> Frame {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let checker = if ((x / 40) + (y / 40)) % 2 == 0 {
            40.0
        } else {
            0.0
        };
        let r = 255.0 * fx * 0.8 + checker;
        let g = 255.0 * fy * 0.8 + checker;
        let b = 128.0 + 100.0 * ((fx * 12.0).sin() * (fy * 7.0).cos());
        image::Rgb([
            r.min(255.0) as u8,
            g.min(255.0) as u8,
            b.clamp(0.0, 255.0) as u8,
        ])
    });
    Frame::from_image(0, 0.0, img)
}
