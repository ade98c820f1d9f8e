//! `centerscope anonymize`: cover every face (or person) in videos and pictures, keeping the
//! sound, the timestamps and the metadata; one file after another, each written beside its
//! target and renamed when complete ([`crate::export`]).

use super::progress::Progress;
use super::{parse_seconds, parse_size, parse_unit, parse_workers};
use crate::export::paths::{collect_inputs, output_path, InputFile};
use crate::export::{cover_class_filter, ExportJob, ExportKind, ExportSummary};
use crate::output::atomic::InputGuard;
use crate::output::cover::{CoverParams, CoverStyle, MaskShape};
use crate::output::video::EncodeSettings;
use crate::track::TrackerParams;
use crate::{Error, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Default name suffix of an anonymised file (deface's convention).
pub const SUFFIX: &str = "_anonymized";

use crate::export::ANONYMIZE_THRESHOLD as DEFAULT_THRESHOLD;

#[derive(Args, Debug)]
pub struct AnonymizeArgs {
    /// Videos, pictures or folders of them, or camera:N (records until Ctrl-C or --duration).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output file (one input only). Default: <name>_anonymized.<ext> beside each input.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Write the results into this folder instead, mirroring the input folders.
    #[arg(long, conflicts_with = "output")]
    pub output_dir: Option<PathBuf>,
    /// Look for videos and pictures in sub-folders too.
    #[arg(long, short)]
    pub recursive: bool,
    /// Leave inputs whose output already exists (resume an interrupted run over an archive).
    #[arg(long, conflicts_with = "overwrite")]
    pub skip_existing: bool,
    /// Replace existing outputs.
    #[arg(long)]
    pub overwrite: bool,
    /// Model id (see `centerscope models`).
    #[arg(long, default_value = "centerface")]
    pub model: String,
    /// Classes to cover, comma-separated (default: the model's faces, else people).
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// Minimum detection score to cover (0..1). Low by default: a missed face is worse than
    /// an extra blur.
    #[arg(long, default_value_t = DEFAULT_THRESHOLD, value_parser = parse_unit, allow_negative_numbers = true)]
    pub threshold: f32,
    /// Shape of the covered region.
    #[arg(long, value_enum, default_value_t = MaskArg::Ellipse)]
    pub mask: MaskArg,
    /// Enlarge each box by this factor around its centre before covering.
    #[arg(long, default_value_t = 1.3, value_parser = parse_scale)]
    pub mask_scale: f32,
    /// How regions are covered: blur, pixelate, solid, image:PATH or none (with --draw-boxes,
    /// to check what would be covered).
    #[arg(long, default_value = "blur", value_parser = parse_style)]
    pub style: StyleArg,
    /// Blur strength: sigma as a fraction of the region's size.
    #[arg(long, default_value_t = 0.1, value_parser = parse_strength)]
    pub blur_strength: f32,
    /// Mosaic blocks across a region (pixelate).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub mosaic_size: u32,
    /// Also outline each covered region with its label and score.
    #[arg(long)]
    pub draw_boxes: bool,
    /// When the detector fails on a frame, cover that whole frame and go on (with a warning)
    /// instead of stopping.
    #[arg(long)]
    pub cover_failed_frames: bool,
    /// Seconds a lost face stays covered at its predicted place.
    #[arg(long, default_value_t = 1.0, value_parser = parse_seconds)]
    pub track_buffer: f64,
    /// Network input size WxH (default: the model's choice for the frame size).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<[usize; 2]>,
    /// Drop metadata (titles, dates, GPS location, EXIF) and chapters.
    #[arg(long)]
    pub strip_metadata: bool,
    /// Video quality (constant rate factor; lower is better and bigger). Default 23.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=63))]
    pub crf: Option<u8>,
    /// Encoder preset (x264/x265), e.g. ultrafast, veryfast (default), medium, slow.
    #[arg(long)]
    pub preset: Option<String>,
    /// ffmpeg video encoder (default libx264; libvpx-vp9 for .webm).
    #[arg(long)]
    pub codec: Option<String>,
    /// Worker threads running the model (default: number of cores).
    #[arg(long, value_parser = parse_workers, allow_negative_numbers = true)]
    pub workers: Option<usize>,
    /// camera:N: record this many seconds (default: until Ctrl-C).
    #[arg(long, value_parser = parse_seconds)]
    pub duration: Option<f64>,
    /// Threads for matrix products inside one inference.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub matmul_threads: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MaskArg {
    Ellipse,
    Box,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StyleArg {
    Blur,
    Pixelate,
    Solid,
    Image(PathBuf),
    None,
}

fn parse_style(s: &str) -> std::result::Result<StyleArg, String> {
    match s {
        "blur" => Ok(StyleArg::Blur),
        "pixelate" | "mosaic" => Ok(StyleArg::Pixelate),
        "solid" => Ok(StyleArg::Solid),
        "none" => Ok(StyleArg::None),
        _ => match s.strip_prefix("image:") {
            Some(p) if !p.is_empty() => Ok(StyleArg::Image(PathBuf::from(p))),
            _ => Err(format!(
                "\"{s}\" is not a style; use blur, pixelate, solid, image:PATH or none"
            )),
        },
    }
}

fn parse_scale(s: &str) -> std::result::Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("\"{s}\" is not a number"))?;
    if !(0.1..=10.0).contains(&v) {
        return Err(format!("{v} is outside 0.1..10"));
    }
    Ok(v)
}

fn parse_strength(s: &str) -> std::result::Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("\"{s}\" is not a number"))?;
    if !(0.01..=1.0).contains(&v) {
        return Err(format!("{v} is outside 0.01..1"));
    }
    Ok(v)
}

/// Set by Ctrl-C: the file being written is dropped (never left under its final name), the
/// files already finished stay.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn catch_ctrl_c() {
    extern "C" fn on_sigint(_: libc::c_int) {
        INTERRUPTED.store(true, Ordering::SeqCst);
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn catch_ctrl_c() {}

fn cover_params(args: &AnonymizeArgs) -> Result<CoverParams> {
    let style = match &args.style {
        StyleArg::Blur => CoverStyle::Blur,
        StyleArg::Pixelate => CoverStyle::Pixelate,
        StyleArg::Solid => CoverStyle::Solid([0, 0, 0]),
        StyleArg::None => CoverStyle::None,
        StyleArg::Image(p) => {
            let img = crate::source::stills::load_image(p).map_err(|e| {
                Error::InvalidArgument(format!("--style image:{}: {}", p.display(), e.one_line()))
            })?;
            CoverStyle::Image(Arc::new(img))
        }
    };
    Ok(CoverParams {
        style,
        shape: match args.mask {
            MaskArg::Ellipse => MaskShape::Ellipse,
            MaskArg::Box => MaskShape::Box,
        },
        scale: args.mask_scale,
        blur_strength: args.blur_strength,
        mosaic_blocks: args.mosaic_size,
    })
}

pub fn run(args: AnonymizeArgs) -> Result<()> {
    if args.style == StyleArg::None && !args.draw_boxes {
        return Err(Error::InvalidArgument(
            "--style none covers nothing; add --draw-boxes to check what would be covered".into(),
        ));
    }
    let cameras: Vec<&PathBuf> = args
        .inputs
        .iter()
        .filter(|p| crate::source::parse_camera_spec(&p.to_string_lossy()).is_some())
        .collect();
    let files = match cameras.as_slice() {
        [] => collect_inputs(&args.inputs, args.recursive, SUFFIX)?,
        [camera] if args.inputs.len() == 1 => {
            if let Some(Err(e)) = crate::source::parse_camera_spec(&camera.to_string_lossy()) {
                return Err(e);
            }
            vec![InputFile {
                path: (*camera).clone(),
                root: None,
            }]
        }
        _ => {
            return Err(Error::InvalidArgument(
                "record one camera per run, without other inputs".into(),
            ))
        }
    };
    if args.duration.is_some() && cameras.is_empty() {
        return Err(Error::InvalidArgument(
            "--duration is for camera:N recordings; a file is anonymised whole".into(),
        ));
    }
    if args.output.is_some() && files.len() != 1 {
        return Err(Error::InvalidArgument(format!(
            "--output names one file but there are {} inputs; use --output-dir DIR",
            files.len()
        )));
    }
    let cover = cover_params(&args)?;
    let workers = match args.workers {
        Some(w) => crate::pipeline::check_workers(w)?,
        None => crate::pipeline::default_workers(),
    };
    // Every input, to refuse any output that is one of them before anything is written.
    let mut guard = InputGuard::default();
    for f in &files {
        guard.add(&f.path);
    }
    let targets: Vec<(InputFile, PathBuf)> = files
        .into_iter()
        .map(|f| {
            let out = args.output.clone().unwrap_or_else(|| {
                if cameras.is_empty() {
                    output_path(&f, args.output_dir.as_deref(), SUFFIX)
                } else {
                    // camera:0 → camera0_anonymized.mp4 in the output folder or here.
                    let name = format!("{}{SUFFIX}.mp4", f.path.to_string_lossy().replace(':', ""));
                    args.output_dir
                        .as_deref()
                        .unwrap_or(Path::new("."))
                        .join(name)
                }
            });
            (f, out)
        })
        .collect();
    for (_, out) in &targets {
        guard.check("--output", out)?;
    }
    let model = crate::model::load_checked(&args.model, args.size)?;
    let mut params = model.default_params();
    params.score_threshold = args.threshold;
    params.class_filter = Some(Arc::new(cover_class_filter(&model, &args.classes)?));
    let tracker = TrackerParams {
        low_thresh: (args.threshold / 2.0).min(0.1),
        lost_buffer_s: args.track_buffer,
        ..TrackerParams::default().with_high_thresh(args.threshold)
    };
    let encode = EncodeSettings {
        codec: args.codec.clone(),
        crf: args.crf,
        preset: args.preset.clone(),
        strip_metadata: args.strip_metadata,
        ..Default::default()
    };
    catch_ctrl_c();
    let total = targets.len();
    let (mut done, mut skipped, mut failed) = (0, 0, 0);
    for (file, output) in targets {
        if args.skip_existing && output.exists() {
            skipped += 1;
            eprintln!(
                "{}: skipped ({} exists)",
                file.path.display(),
                output.display()
            );
            continue;
        }
        let job = ExportJob {
            input: file.path.clone(),
            output,
            kind: ExportKind::Anonymize {
                cover: cover.clone(),
                draw_boxes: args.draw_boxes,
                cover_failed_frames: args.cover_failed_frames,
            },
            model: model.clone(),
            params: params.clone(),
            size: args.size,
            tracker: Some(tracker),
            encode: encode.clone(),
            workers,
            matmul_threads: args.matmul_threads as usize,
            overwrite: args.overwrite,
            duration_s: args.duration,
        };
        match export_one(&job) {
            Ok(summary) => {
                done += 1;
                report(&file.path, &summary);
            }
            Err(Error::Cancelled) => {
                return Err(Error::Other(format!(
                    "interrupted: {} of {total} file(s) finished; {} was not written (run again with --skip-existing to resume)",
                    done,
                    job.output.display()
                )));
            }
            Err(e) if total == 1 => return Err(e),
            Err(e) => {
                failed += 1;
                eprintln!("centerscope: error: {}", e.one_line());
            }
        }
    }
    if failed > 0 {
        return Err(Error::Other(format!(
            "{failed} of {total} file(s) could not be anonymised (see above); {done} written, {skipped} skipped"
        )));
    }
    Ok(())
}

fn export_one(job: &ExportJob) -> Result<ExportSummary> {
    let name = job
        .input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut progress: Option<Progress> = None;
    let result = crate::export::run(job, &INTERRUPTED, &mut |p| {
        let bar = progress.get_or_insert_with(|| Progress::new(&name, p.frames_total));
        bar.update(p.frames_done);
    });
    if let Some(mut p) = progress {
        p.finish();
    }
    result
}

/// `clip.mp4 → clip_anonymized.mp4: 125 frames, 131 regions covered (9 frames from tracks), 4.2 s (29.8 fps)`
fn report(input: &Path, s: &ExportSummary) {
    for w in &s.warnings {
        eprintln!("centerscope: warning: {}: {w}", input.display());
    }
    let whole = if s.frames_covered_whole > 0 {
        format!(", {} frame(s) covered whole", s.frames_covered_whole)
    } else {
        String::new()
    };
    let tracked = if s.frames_with_predicted > 0 {
        format!(
            " ({} frame(s) covered from tracks)",
            s.frames_with_predicted
        )
    } else {
        String::new()
    };
    eprintln!(
        "{} → {}: {} frame(s), {} region(s) covered{tracked}{whole}, {:.1} s ({:.1} fps)",
        input.display(),
        s.output.display(),
        s.frames,
        s.regions,
        s.seconds,
        s.frames as f64 / s.seconds.max(1e-9)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_parse() {
        assert_eq!(parse_style("blur"), Ok(StyleArg::Blur));
        assert_eq!(
            parse_style("image:logo.png"),
            Ok(StyleArg::Image(PathBuf::from("logo.png")))
        );
        assert!(parse_style("image:").is_err());
        assert!(parse_style("smudge").is_err());
        assert!(parse_scale("0").is_err());
        assert!(parse_strength("2").is_err());
    }
}
