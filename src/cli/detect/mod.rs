//! `centerscope detect`: run a model over an image, folder, video or camera.
//!
//! Writing annotated pictures or video is in [`annotator`].

mod annotator;

use annotator::Annotator;

use super::progress::Progress;
use super::{parse_seconds, parse_size, parse_unit, parse_workers};
use crate::model::DEFAULT_MODEL;
use crate::output::atomic::InputGuard;
use crate::output::video::EncodeSettings;
use crate::output::{Format, ResultWriter};
use crate::pipeline::{stats::StageSamples, Event, Mode, Pipeline, PipelineConfig};
use crate::source::{self, SeekTarget};
use crate::track::{Tracker, TrackerParams};
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
    /// Write the detections of every frame to this file; `-` for stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Layout of --output: JSON Lines (one object per frame), CSV (one row per detection) or
    /// MOTChallenge text. Default: csv for a .csv file, else jsonl.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Follow objects across frames (ByteTrack): each detection of a track gets a "track_id".
    #[arg(long)]
    pub track: bool,
    /// Tracking: detections scoring at least this start and first-match tracks (0..1).
    #[arg(long, value_parser = parse_unit, allow_negative_numbers = true, requires = "track")]
    pub track_high: Option<f32>,
    /// Tracking: detections down to this score can continue a track (0..1).
    #[arg(long, value_parser = parse_unit, allow_negative_numbers = true, requires = "track")]
    pub track_low: Option<f32>,
    /// Tracking: least overlap (IoU) between a track's predicted box and a detection (0..1).
    #[arg(long, value_parser = parse_unit, allow_negative_numbers = true, requires = "track")]
    pub track_iou: Option<f32>,
    /// Tracking: also write the predicted box of each tracked object missed in a frame (JSON
    /// Lines `"predicted"`, drawn in --annotate output), so a briefly missed object stays covered.
    #[arg(long, requires = "track")]
    pub track_predicted: bool,
    /// Tracking: seconds a lost track is kept before it ends.
    #[arg(long, value_parser = parse_seconds, allow_negative_numbers = true, requires = "track")]
    pub track_buffer: Option<f64>,
    /// Draw the detections: an image file for a still (or one numbered file per frame),
    /// or a video file (.mp4/.mkv/.webm) for video input.
    #[arg(long)]
    pub annotate: Option<PathBuf>,
    /// Worker threads running the model (default: number of cores; at most 4 per CPU).
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Jsonl,
    Csv,
    Mot,
}

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Format {
        match f {
            OutputFormat::Jsonl => Format::Jsonl,
            OutputFormat::Csv => Format::Csv,
            OutputFormat::Mot => Format::Mot,
        }
    }
}

/// The tracker settings the command line asks for.
fn tracker_params(args: &DetectArgs, fps: Option<f64>) -> TrackerParams {
    let mut p = TrackerParams::default();
    if let Some(h) = args.track_high {
        p = p.with_high_thresh(h);
    }
    if let Some(l) = args.track_low {
        p.low_thresh = l;
    }
    if let Some(iou) = args.track_iou {
        p.match_iou = iou;
    }
    if let Some(b) = args.track_buffer {
        p.lost_buffer_s = b;
    }
    if let Some(fps) = fps.filter(|f| f.is_finite() && *f > 0.0) {
        p.frame_interval_ms = 1000.0 / fps;
    }
    p
}

pub fn run(args: DetectArgs) -> Result<()> {
    let inputs = check_args(&args)?;
    let workers = match args.workers {
        Some(w) => crate::pipeline::check_workers(w).map_err(|e| flag_error("--workers", e))?,
        None => crate::pipeline::default_workers(),
    };
    let model = crate::model::load_checked(&args.model, args.size)?;
    let mut params = model.default_params();
    if let Some(t) = args.threshold {
        params.score_threshold = t;
    }
    if let Some(n) = args.nms {
        params.nms_iou = n;
    }
    let shown_threshold = params.score_threshold;

    let (src, start_ms) = open_source(&args)?;
    let info = src.info().clone();
    let config = PipelineConfig {
        workers,
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
    let tracker = args
        .track
        .then(|| Tracker::new(tracker_params(&args, info.fps)));
    if let Some(t) = &tracker {
        // Decode down to the tracker's low score so a track whose score dips keeps its
        // identity; what is written is filtered back to the threshold asked for.
        params.score_threshold = params.score_threshold.min(t.params().low_thresh);
    }
    let sinks = Sinks {
        results: args
            .output
            .as_deref()
            .map(|p| {
                let format = args.format.map(Format::from).unwrap_or(Format::for_path(p));
                ResultWriter::create(p, format)
            })
            .transpose()?,
        annotator: match &args.annotate {
            Some(p) => Some(Annotator::new(
                p,
                info.kind,
                EncodeSettings {
                    // A video's sound, subtitles and metadata go with it, cut to the range.
                    keep_streams_from: (info.kind == source::SourceKind::Video)
                        .then(|| PathBuf::from(&args.input)),
                    start_ms,
                    partial: args.start.is_some()
                        || args.duration.is_some()
                        || args.frames.is_some(),
                    frame_rate: info.fps.map(|f| f / args.every as f64),
                    ..Default::default()
                },
                inputs,
            )?),
            None => None,
        },
    };
    let mut pipeline = Pipeline::start(src, model.clone(), params, config)?;
    pipeline.controls().set_input_size(args.size);
    let mut run = Run {
        sinks,
        tracker,
        shown_threshold,
        predicted: args.track_predicted,
        skeleton: &model.manifest.skeleton,
        samples: StageSamples::default(),
        frames: 0,
        skipped: 0,
        progress: Progress::new(&info.name, expected_frames(&info, &args)),
        started: Instant::now(),
    };
    let failure = run.consume(&mut pipeline, args.frames);
    let dropped = pipeline.controls().dropped();
    drop(pipeline);
    // A run that failed before its first frame has nothing to sum up: its error is the one line.
    if failure.is_none() || run.frames > 0 {
        run.report(&info, &model.id, dropped);
    }
    run.finish(failure, &info.name)
}

/// Checks that need no model or source; the inputs, to refuse outputs that are inputs before
/// anything is opened for writing.
fn check_args(args: &DetectArgs) -> Result<InputGuard> {
    super::check_input_exists(&args.input)?;
    if args.duration == Some(0.0) {
        return Err(Error::InvalidArgument(
            "--duration must be more than 0 seconds".into(),
        ));
    }
    if args.format.is_some() && args.output.is_none() {
        return Err(Error::InvalidArgument(
            "--format needs --output FILE (or --output - for stdout)".into(),
        ));
    }
    if args.output.is_some() && args.output == args.annotate {
        return Err(Error::InvalidArgument(
            "--output and --annotate name the same file; give each its own".into(),
        ));
    }
    let mut inputs = InputGuard::default();
    inputs.add_spec(&args.input);
    inputs.add_spec(&args.model);
    for (flag, path) in [("--output", &args.output), ("--annotate", &args.annotate)] {
        if let Some(p) = path.as_deref().filter(|p| *p != Path::new("-")) {
            inputs.check(flag, p)?;
        }
    }
    Ok(inputs)
}

/// Open the input and seek to `--start`; returns the source and the start time in ms.
fn open_source(args: &DetectArgs) -> Result<(Box<dyn source::FrameSource>, f64)> {
    let mut src = source::open(&args.input)?;
    let start_ms = args.start.unwrap_or(0.0) * 1000.0;
    if start_ms > 0.0 {
        let info = src.info();
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
    Ok((src, start_ms))
}

/// One `detect` run's consumer: ordered results → tracker → outputs, with progress and
/// statistics.
struct Run<'a> {
    sinks: Sinks,
    tracker: Option<Tracker>,
    shown_threshold: f32,
    /// Add the predicted boxes of missed tracked objects to each result.
    predicted: bool,
    skeleton: &'a [[usize; 2]],
    samples: StageSamples,
    frames: u64,
    skipped: u64,
    progress: Progress,
    started: Instant,
}

impl Run<'_> {
    /// Take results until the end, `limit` frames, or a failure (returned).
    fn consume(&mut self, pipeline: &mut Pipeline, limit: Option<u64>) -> Option<Error> {
        while let Some(event) = pipeline.recv() {
            match event.into_failure() {
                Event::Frame(mut result) => {
                    self.frames += 1;
                    self.samples.push(&result.timings);
                    if let Some(t) = self.tracker.as_mut() {
                        t.update(result.frame.pts_ms, &mut result.detections);
                        let min = self.shown_threshold;
                        result.detections.retain(|d| d.score >= min);
                        if self.predicted {
                            result.predicted = t.predicted_missing();
                        }
                    }
                    if let Err(e) = self.sinks.add(&result, self.skeleton) {
                        return Some(e);
                    }
                    self.progress.update(self.frames);
                    if limit.is_some_and(|n| self.frames >= n) {
                        return None;
                    }
                }
                Event::Skipped(e) => {
                    self.skipped += 1;
                    self.progress.finish();
                    eprintln!("centerscope: warning: {}", e.one_line());
                }
                Event::EndOfStream => return None,
                Event::Error(e) | Event::FrameFailed(_, e) => return Some(e),
            }
        }
        None
    }

    /// The summary lines on stderr.
    fn report(&mut self, info: &source::SourceInfo, model_id: &str, dropped: u64) {
        self.progress.finish();
        let secs = self.started.elapsed().as_secs_f64();
        let stages: Vec<String> = self
            .samples
            .summary()
            .iter()
            .map(|(n, p)| format!("{n} {:.1}/{:.1}", p.median_ms, p.p95_ms))
            .collect();
        let details = if info.details.is_empty() {
            String::new()
        } else {
            format!(" ({})", info.details)
        };
        let dropped = if dropped > 0 {
            format!(", {dropped} dropped")
        } else {
            String::new()
        };
        eprintln!(
            "{}{details}: {} frame(s) with {model_id} in {secs:.2}s ({:.1} fps{dropped}); ms p50/p95: {}",
            info.name,
            self.frames,
            self.frames as f64 / secs.max(1e-9),
            stages.join(", ")
        );
        if let Some(t) = &self.tracker {
            eprintln!("tracks: {}", track_summary(t));
        }
    }

    /// Commit the outputs, or keep them under their partial names when the run failed.
    fn finish(self, failure: Option<Error>, name: &str) -> Result<()> {
        let failure = failure.or_else(|| {
            (self.frames == 0)
                .then(|| Error::Source(format!("{name}: no frames in the selected range")))
        });
        if let Some(e) = failure {
            let kept: Vec<String> = self
                .sinks
                .abandon()
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            if kept.is_empty() {
                return Err(e);
            }
            return Err(Error::Other(format!(
                "{}; the {} frame(s) before it are kept in {}",
                e.one_line(),
                self.frames,
                kept.join(" and ")
            )));
        }
        self.sinks.finish()?;
        if self.skipped > 0 {
            return Err(Error::Source(format!(
                "{} file(s) of {name} could not be read and were skipped (see the warnings above); the rest was processed",
                self.skipped
            )));
        }
        Ok(())
    }
}

/// `person: 14 tracks, dog: 1 track`.
fn track_summary(t: &Tracker) -> String {
    let counts: Vec<String> = t
        .unique_tracks_per_class()
        .iter()
        .map(|(label, n)| format!("{label}: {n} track{}", if *n == 1 { "" } else { "s" }))
        .collect();
    if counts.is_empty() {
        "none".into()
    } else {
        counts.join(", ")
    }
}

/// A library error about a value the user gave with `flag`, in the CLI's words.
fn flag_error(flag: &str, e: Error) -> Error {
    Error::InvalidArgument(format!("{flag}: {}", e.one_line()))
}

/// Frames this run will process, when the source says how many it has.
fn expected_frames(info: &source::SourceInfo, args: &DetectArgs) -> Option<u64> {
    let fps = info.fps.unwrap_or(0.0);
    let mut total = info.frame_count?;
    if let Some(start) = args.start {
        total = total.saturating_sub((start * fps) as u64);
    }
    if let Some(d) = args.duration {
        total = total.min((d * fps).ceil() as u64);
    }
    total = total.div_ceil(args.every);
    Some(args.frames.map_or(total, |n| total.min(n)))
}

/// Where results go: a results file and/or annotated pictures or video.
struct Sinks {
    results: Option<ResultWriter>,
    annotator: Option<Annotator>,
}

impl Sinks {
    fn add(&mut self, r: &FrameResult, skeleton: &[[usize; 2]]) -> Result<()> {
        if let Some(w) = self.results.as_mut() {
            w.write(r)?;
        }
        if let Some(a) = self.annotator.as_mut() {
            a.add(r, skeleton)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        if let Some(w) = self.results {
            w.finish()?;
        }
        if let Some(a) = self.annotator {
            a.finish()?;
        }
        Ok(())
    }

    /// The run failed: keep what was written under partial names.
    fn abandon(self) -> Vec<PathBuf> {
        let mut kept = Vec::new();
        kept.extend(self.results.and_then(ResultWriter::abandon));
        kept.extend(self.annotator.and_then(Annotator::abandon));
        kept
    }
}
