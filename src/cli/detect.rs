//! `centerscope detect`: run a model over an image, folder, video or camera.

use super::{parse_seconds, parse_size, parse_unit, parse_workers};
use crate::model::{Registry, DEFAULT_MODEL};
use crate::output::{draw_detections, JsonlWriter};
use crate::pipeline::{stats::StageSamples, Event, Mode, Pipeline, PipelineConfig};
use crate::source::{self, SeekTarget, SourceKind};
use crate::{Error, FrameResult, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct DetectArgs {
    /// Image, folder of images, video file, or camera:N.
    pub input: String,
    /// Model id (see `centerscope models`) or path to a user .onnx with its .json manifest.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Minimum score of a detection (0..1); default from the model's manifest.
    #[arg(long, value_parser = parse_unit, allow_negative_numbers = true)]
    pub threshold: Option<f32>,
    /// IoU above which overlapping boxes of a class are merged (0..1).
    #[arg(long, value_parser = parse_unit, allow_negative_numbers = true)]
    pub nms: Option<f32>,
    /// Write one JSON object per frame (JSON Lines); `-` for stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Draw the detections: an image file for a still (or one numbered file per frame),
    /// or a video file (.mp4/.mkv/.webm) for video input.
    #[arg(long)]
    pub annotate: Option<PathBuf>,
    /// Worker threads running the model (default: number of cores).
    #[arg(long, value_parser = parse_workers, allow_negative_numbers = true)]
    pub workers: Option<usize>,
    /// Threads for matrix products inside one inference (lowers a frame's latency).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub matmul_threads: u64,
    /// Process every Nth frame only.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub every: u64,
    /// Start this many seconds into the video.
    #[arg(long, value_parser = parse_seconds, allow_negative_numbers = true)]
    pub start: Option<f64>,
    /// Process this many seconds.
    #[arg(long, value_parser = parse_seconds, allow_negative_numbers = true)]
    pub duration: Option<f64>,
    /// Network input size WxH (models with a flexible size only).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<[usize; 2]>,
    /// Stop after this many frames (cameras run until Ctrl-C otherwise).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub frames: Option<u64>,
}

const VIDEO_EXTENSIONS: [&str; 5] = ["mp4", "mkv", "webm", "mov", "avi"];

pub fn run(args: DetectArgs) -> Result<()> {
    super::check_input_exists(&args.input)?;
    if args.duration == Some(0.0) {
        return Err(Error::InvalidArgument(
            "--duration must be more than 0 seconds".into(),
        ));
    }
    let mut registry = Registry::with_user_models();
    let entry = registry.resolve(&args.model)?;
    if let Some(size) = args.size {
        entry.manifest.check_size(size)?;
    }
    let mut writer = args
        .output
        .as_deref()
        .map(JsonlWriter::create)
        .transpose()?;
    let model = entry.load()?;
    let mut params = model.default_params();
    if let Some(t) = args.threshold {
        params.score_threshold = t;
    }
    if let Some(n) = args.nms {
        params.nms_iou = n;
    }

    let mut src = source::open(&args.input)?;
    let info = src.info().clone();
    let start_ms = args.start.unwrap_or(0.0) * 1000.0;
    if start_ms > 0.0 {
        if let Some(d) = info.duration_ms.filter(|d| start_ms >= *d) {
            return Err(Error::InvalidArgument(format!(
                "--start {}s is past the end of {} ({:.2}s long)",
                start_ms / 1000.0,
                info.name,
                d / 1000.0
            )));
        }
        src.seek(SeekTarget::TimeMs(start_ms))?;
    }
    let mut annotator = match &args.annotate {
        Some(p) => Some(Annotator::new(p, info.kind, info.fps)?),
        None => None,
    };
    let config = PipelineConfig {
        workers: args
            .workers
            .unwrap_or_else(crate::pipeline::default_workers),
        mode: if info.is_live() {
            Mode::Live
        } else {
            Mode::EveryFrame
        },
        every: args.every,
        end_ms: args.duration.map(|d| start_ms + d * 1000.0),
        matmul_threads: args.matmul_threads as usize,
        ..Default::default()
    };
    let mut pipeline = Pipeline::start(src, model.clone(), params, config)?;
    pipeline.controls().set_input_size(args.size);

    let started = Instant::now();
    let mut samples = StageSamples::default();
    let mut frames = 0u64;
    let mut failure = None;
    while let Some(event) = pipeline.recv() {
        match event {
            Event::Frame(result) => {
                frames += 1;
                samples.push(&result.timings);
                if let Some(w) = writer.as_mut() {
                    w.write(&result)?;
                }
                if let Some(a) = annotator.as_mut() {
                    a.add(&result, &model.manifest.skeleton)?;
                }
                if args.frames.is_some_and(|n| frames >= n) {
                    break;
                }
            }
            Event::EndOfStream => break,
            Event::Error(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let dropped = pipeline.controls().dropped();
    drop(pipeline);
    if let Some(a) = annotator {
        a.finish()?;
    }
    let secs = started.elapsed().as_secs_f64();
    let summary: Vec<String> = samples
        .summary()
        .iter()
        .map(|(n, p)| format!("{n} {:.1}/{:.1}", p.median_ms, p.p95_ms))
        .collect();
    eprintln!(
        "{}{}: {frames} frame(s) with {} in {secs:.2}s ({:.1} fps{}); ms p50/p95: {}",
        info.name,
        if info.details.is_empty() {
            String::new()
        } else {
            format!(" ({})", info.details)
        },
        model.id,
        frames as f64 / secs.max(1e-9),
        if dropped > 0 {
            format!(", {dropped} dropped")
        } else {
            String::new()
        },
        summary.join(", ")
    );
    match failure {
        Some(e) => Err(e),
        None if frames == 0 => Err(Error::Source(format!(
            "{}: no frames in the selected range",
            info.name
        ))),
        None => Ok(()),
    }
}

/// Writes annotated output: one image, numbered images, or a video through ffmpeg.
enum Annotator {
    Image { path: PathBuf, numbered: bool },
    Video(crate::output::video::VideoWriter),
}

impl Annotator {
    fn new(path: &Path, kind: SourceKind, fps: Option<f64>) -> Result<Annotator> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_default();
        if VIDEO_EXTENSIONS.contains(&ext.as_str()) {
            return Ok(Annotator::Video(crate::output::video::VideoWriter::new(
                path,
                fps.unwrap_or(25.0),
            )));
        }
        if !source::is_image_path(path) {
            return Err(Error::InvalidArgument(format!(
                "--annotate {}: use an image (.png/.jpg) or video (.mp4/.mkv/.webm) file name",
                path.display()
            )));
        }
        Ok(Annotator::Image {
            path: path.to_path_buf(),
            numbered: kind != SourceKind::Image,
        })
    }

    fn add(&mut self, r: &FrameResult, skeleton: &[[usize; 2]]) -> Result<()> {
        let mut img = r.frame.to_image();
        draw_detections(&mut img, &r.detections, skeleton, 0.2);
        match self {
            Annotator::Image { path, numbered } => {
                let target = if *numbered {
                    numbered_path(path, r.frame.index)
                } else {
                    path.clone()
                };
                img.save(&target)
                    .map_err(|e| Error::Other(format!("cannot write {}: {e}", target.display())))
            }
            Annotator::Video(w) => w.push(&img),
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Annotator::Image { .. } => Ok(()),
            Annotator::Video(w) => w.finish(),
        }
    }
}

fn numbered_path(path: &Path, index: u64) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "png".into());
    path.with_file_name(format!("{stem}-{index:06}.{ext}"))
}
