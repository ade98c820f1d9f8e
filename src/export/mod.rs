//! Exporting one file, anonymised (faces covered) or annotated (boxes drawn): every frame of a
//! video or one picture, written beside its target and renamed when complete. Shared by
//! `centerscope anonymize` and the window's File → Export video…, so both keep the sound,
//! the timestamps and the user's files safe in the same way.
//!
//! A video export runs every frame through the pipeline (frame order kept), the tracker (so a
//! face missed for a few frames stays covered at its predicted place for the track's lost
//! buffer), the cover or annotator, and the encoder (its own thread and process,
//! [`crate::output::video`]).

pub mod paths;

use crate::decode::DecodeParams;
use crate::model::Model;
use crate::output::atomic::{InputGuard, PartialPath};
use crate::output::cover::{cover_all, cover_boxes, CoverParams};
use crate::output::style::LabelParts;
use crate::output::video::{EncodeSettings, VideoWriter};
use crate::output::{draw_detections, draw_detections_with};
use crate::pipeline::{Event, Mode, Pipeline, PipelineConfig};
use crate::source::{self, SourceKind};
use crate::track::{Tracker, TrackerParams};
use crate::{Detection, Error, Frame, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default score threshold of anonymising: recall first (a missed face is worse than an extra
/// blur). See docs/anonymize.md for how it was chosen.
pub const ANONYMIZE_THRESHOLD: f32 = 0.15;

/// Which classes anonymising covers: `classes` by name, else the model's faces, else its
/// people, else everything it finds.
pub fn cover_class_filter(model: &Model, classes: &[String]) -> Result<Vec<bool>> {
    let labels = &model.manifest.labels;
    let wanted: Vec<String> = if classes.is_empty() {
        let default = ["face", "person"]
            .into_iter()
            .find(|c| labels.iter().any(|l| l == c));
        match default {
            Some(c) => vec![c.to_string()],
            None => labels.clone(),
        }
    } else {
        classes.iter().map(|c| c.trim().to_string()).collect()
    };
    for c in &wanted {
        if !labels.iter().any(|l| l == c) {
            return Err(Error::InvalidArgument(format!(
                "--classes: model {} has no class \"{c}\"; it has: {}",
                model.id,
                labels.join(", ")
            )));
        }
    }
    Ok(labels.iter().map(|l| wanted.contains(l)).collect())
}

/// What an export does to each frame.
#[derive(Clone, Debug, PartialEq)]
pub enum ExportKind {
    /// Cover what the model finds; `draw_boxes` also outlines it (for checking). A frame the
    /// detector fails on is covered whole when `cover_failed_frames`, else the export stops.
    Anonymize {
        cover: CoverParams,
        draw_boxes: bool,
        cover_failed_frames: bool,
    },
    /// Draw boxes, labels, track IDs and keypoints.
    Annotate,
}

/// One file to export.
#[derive(Clone)]
pub struct ExportJob {
    pub input: PathBuf,
    pub output: PathBuf,
    pub kind: ExportKind,
    pub model: Arc<Model>,
    /// Score threshold and class filter of what is covered or drawn.
    pub params: DecodeParams,
    /// Network input size (`None`: the model's choice for the frame size).
    pub size: Option<[usize; 2]>,
    /// Follow objects across frames (always on for anonymising videos).
    pub tracker: Option<TrackerParams>,
    pub encode: EncodeSettings,
    pub workers: usize,
    pub matmul_threads: usize,
    /// Replace an existing output (otherwise an existing output is an error).
    pub overwrite: bool,
    /// Cameras: record this many seconds (otherwise until cancelled, which keeps the file).
    pub duration_s: Option<f64>,
}

impl ExportJob {
    /// A camera (`camera:N`) rather than a file.
    pub fn is_camera(&self) -> bool {
        source::parse_camera_spec(&self.input.to_string_lossy()).is_some()
    }
}

/// How far an export is.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExportProgress {
    pub frames_done: u64,
    pub frames_total: Option<u64>,
    pub elapsed: Duration,
}

impl ExportProgress {
    /// 0..1 when the total is known.
    pub fn fraction(&self) -> Option<f32> {
        let t = self.frames_total.filter(|t| *t > 0)?;
        Some((self.frames_done as f32 / t as f32).min(1.0))
    }

    pub fn fps(&self) -> f64 {
        self.frames_done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Seconds left at the rate so far.
    pub fn eta_s(&self) -> Option<f64> {
        let t = self.frames_total?;
        let fps = self.fps();
        (fps > 0.0 && t >= self.frames_done).then(|| (t - self.frames_done) as f64 / fps)
    }
}

/// What an export did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExportSummary {
    pub output: PathBuf,
    pub frames: u64,
    /// Regions covered (anonymise) or boxes drawn (annotate), over all frames.
    pub regions: u64,
    /// Frames where a covered region came from a track's prediction, not a detection.
    pub frames_with_predicted: u64,
    /// Frames the detector failed on, covered whole.
    pub frames_covered_whole: u64,
    pub seconds: f64,
    /// Things the user should know (streams that could not be kept).
    pub warnings: Vec<String>,
}

/// Check what can be checked before any work: the output is not an input, does not exist
/// (unless overwriting) and has a format the export can write.
pub fn check_job(job: &ExportJob, guard: &InputGuard) -> Result<()> {
    guard.check("--output", &job.output)?;
    if job.output.exists() && !job.overwrite {
        return Err(Error::InvalidArgument(format!(
            "{} already exists; add --overwrite to replace it (or --skip-existing to leave it)",
            job.output.display()
        )));
    }
    let is_video_out = crate::output::video::VIDEO_EXTENSIONS.iter().any(|e| {
        job.output
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case(e))
    });
    if source::is_image_path(&job.input) && !job.is_camera() {
        if !source::is_image_path(&job.output) {
            return Err(Error::InvalidArgument(format!(
                "{}: a picture is exported as a picture; name the output .jpg/.png/.webp/.bmp",
                job.output.display()
            )));
        }
    } else if !is_video_out {
        return Err(Error::InvalidArgument(format!(
            "{}: a video is exported as a video; name the output .mp4/.mkv/.webm/.mov/.avi",
            job.output.display()
        )));
    }
    Ok(())
}

/// Run one export. `cancel` stops it (a file's export leaves no output; a camera recording is
/// finished and kept); `on_progress` is called after every frame.
pub fn run(
    job: &ExportJob,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(&ExportProgress),
) -> Result<ExportSummary> {
    let mut guard = InputGuard::default();
    if !job.is_camera() {
        guard.add(&job.input);
    }
    check_job(job, &guard)?;
    if let Some(parent) = job.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
    }
    if source::is_image_path(&job.input) {
        export_picture(job)
    } else {
        export_video(job, cancel, on_progress)
    }
}

/// What one frame's result becomes in the output.
struct FrameRenderer<'a> {
    kind: &'a ExportKind,
    threshold: f32,
    tracker: Option<Tracker>,
    skeleton: &'a [[usize; 2]],
    regions: u64,
    frames_with_predicted: u64,
}

impl FrameRenderer<'_> {
    fn render(&mut self, frame: Frame, mut detections: Vec<Detection>) -> image::RgbImage {
        let threshold = self.threshold;
        let mut predicted = Vec::new();
        if let Some(t) = self.tracker.as_mut() {
            t.update(frame.pts_ms, &mut detections);
            predicted = t.predicted_missing();
        }
        // A detection below the threshold that continues a track is still that object.
        detections.retain(|d| d.score >= threshold || d.track_id.is_some());
        let mut img = frame.into_image();
        match self.kind {
            ExportKind::Anonymize {
                cover, draw_boxes, ..
            } => {
                let boxes: Vec<[f32; 4]> = detections
                    .iter()
                    .chain(predicted.iter())
                    .map(|d| d.bbox)
                    .collect();
                cover_boxes(&mut img, &boxes, cover);
                if *draw_boxes {
                    let parts = LabelParts {
                        label: true,
                        score: true,
                        track: true,
                    };
                    draw_detections_with(&mut img, &detections, &[], Some(parts));
                    draw_detections_with(&mut img, &predicted, &[], None);
                }
                self.regions += boxes.len() as u64;
            }
            ExportKind::Annotate => {
                draw_detections(&mut img, &detections, self.skeleton);
                draw_detections_with(&mut img, &predicted, &[], None);
                self.regions += detections.len() as u64;
            }
        }
        if !predicted.is_empty() {
            self.frames_with_predicted += 1;
        }
        img
    }
}

fn renderer(job: &ExportJob, fps: Option<f64>) -> FrameRenderer<'_> {
    let tracker = job.tracker.map(|mut p| {
        if let Some(fps) = fps.filter(|f| f.is_finite() && *f > 0.0) {
            p.frame_interval_ms = 1000.0 / fps;
        }
        Tracker::new(p)
    });
    FrameRenderer {
        kind: &job.kind,
        threshold: job.params.score_threshold,
        tracker,
        skeleton: &job.model.manifest.skeleton,
        regions: 0,
        frames_with_predicted: 0,
    }
}

/// Decode down to the tracker's low score, so a track whose score dips keeps its identity.
fn detection_params(job: &ExportJob) -> DecodeParams {
    let mut params = job.params.clone();
    if let Some(t) = &job.tracker {
        params.score_threshold = params.score_threshold.min(t.low_thresh);
    }
    params
}

fn export_video(
    job: &ExportJob,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(&ExportProgress),
) -> Result<ExportSummary> {
    let started = Instant::now();
    let src = source::open(&job.input.to_string_lossy())?;
    let info = src.info().clone();
    let live = info.kind == SourceKind::Camera;
    if !live && info.kind != SourceKind::Video {
        return Err(Error::input(&job.input, "is not a video file"));
    }
    let config = PipelineConfig {
        workers: job.workers.max(1),
        // A camera does not wait for the detector: when it falls behind, frames are dropped
        // (never written uncovered); the recording keeps each frame's capture time.
        mode: if live { Mode::Live } else { Mode::EveryFrame },
        matmul_threads: job.matmul_threads.max(1),
        ..Default::default()
    };
    let mut pipeline = Pipeline::start(src, job.model.clone(), detection_params(job), config)?;
    pipeline.controls().set_input_size(job.size);
    let mut writer = VideoWriter::new(
        &job.output,
        EncodeSettings {
            keep_streams_from: (!live).then(|| job.input.clone()),
            start_ms: 0.0,
            partial: false,
            frame_rate: info.fps,
            ..job.encode.clone()
        },
    );
    let mut render = renderer(job, info.fps);
    let mut progress = ExportProgress {
        frames_total: info.frame_count,
        ..Default::default()
    };
    let mut covered_whole = 0;
    let mut warnings = Vec::new();
    let mut first_pts_ms = None;
    let failure = loop {
        if cancel.load(Ordering::Relaxed) {
            if live {
                break None; // Ctrl-C ends a recording: keep it
            }
            drop(pipeline);
            writer.discard();
            return Err(Error::Cancelled);
        }
        match pipeline.recv_timeout(Duration::from_millis(200)) {
            Some(Event::Frame(r)) => {
                let r = *r;
                let first = *first_pts_ms.get_or_insert(r.frame.pts_ms);
                if job
                    .duration_s
                    .is_some_and(|d| r.frame.pts_ms - first >= d * 1000.0)
                {
                    break None;
                }
                let pts_ms = r.frame.pts_ms;
                let img = render.render(r.frame, r.detections);
                if let Err(e) = writer.push(img, pts_ms) {
                    break Some(e);
                }
                progress.frames_done += 1;
                progress.elapsed = started.elapsed();
                on_progress(&progress);
            }
            Some(Event::FrameFailed(frame, e)) => match &job.kind {
                ExportKind::Anonymize {
                    cover,
                    cover_failed_frames: true,
                    ..
                } => {
                    // Nothing of a frame that could not be analysed may show.
                    let (index, pts_ms) = (frame.index, frame.pts_ms);
                    let mut img = frame.into_image();
                    cover_all(&mut img, cover);
                    if let Err(e) = writer.push(img, pts_ms) {
                        break Some(e);
                    }
                    covered_whole += 1;
                    warnings.push(format!("frame {} covered whole: {}", index, e.one_line()));
                    progress.frames_done += 1;
                    progress.elapsed = started.elapsed();
                    on_progress(&progress);
                }
                _ => break Some(e),
            },
            Some(Event::EndOfStream) => break None,
            Some(Event::Error(e)) | Some(Event::Skipped(e)) => break Some(e),
            None => {}
        }
    };
    drop(pipeline);
    // Ctrl-C in a terminal also stops the ffmpeg children, which may surface first as a
    // decoding or encoding error: it is still a cancel.
    if cancel.load(Ordering::Relaxed) && !live {
        writer.discard();
        return Err(Error::Cancelled);
    }
    if let Some(e) = failure {
        let kept = writer.abandon();
        return Err(match kept {
            Some(p) => Error::Other(format!(
                "{}; the {} frame(s) before it are kept in {}",
                e.one_line(),
                progress.frames_done,
                p.display()
            )),
            None => e,
        });
    }
    if progress.frames_done == 0 {
        writer.discard();
        return Err(Error::input(&job.input, "has no frames to export"));
    }
    warnings.extend(writer.warnings.iter().cloned());
    writer.finish()?;
    Ok(ExportSummary {
        output: job.output.clone(),
        frames: progress.frames_done,
        regions: render.regions,
        frames_with_predicted: render.frames_with_predicted,
        frames_covered_whole: covered_whole,
        seconds: started.elapsed().as_secs_f64(),
        warnings,
    })
}

/// A picture with its EXIF block (orientation reset, since the pixels are turned upright).
fn load_picture(path: &Path) -> Result<(image::RgbImage, Option<Vec<u8>>)> {
    use image::ImageDecoder;
    let bad = |e: &dyn std::fmt::Display| Error::input(path, format!("not a readable image ({e})"));
    let reader = image::ImageReader::open(path)
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?
        .with_guessed_format()
        .map_err(|e| bad(&e))?;
    let mut decoder = reader.into_decoder().map_err(|e| bad(&e))?;
    let (w, h) = decoder.dimensions();
    crate::pipeline::check_frame_size(&path.display().to_string(), w, h)?;
    let mut exif = decoder.exif_metadata().ok().flatten();
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    if let Some(chunk) = exif.as_mut() {
        let _ = image::metadata::Orientation::remove_from_exif_chunk(chunk);
    }
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| bad(&e))?;
    img.apply_orientation(orientation);
    Ok((img.to_rgb8(), exif))
}

/// Save in the format of `target`'s extension, with `exif` where the format holds it.
fn save_picture(img: &image::RgbImage, target: &Path, exif: Option<Vec<u8>>) -> Result<()> {
    use image::ImageEncoder;
    let out = PartialPath::new(target);
    let fail =
        |e: &dyn std::fmt::Display| Error::Other(format!("cannot write {}: {e}", target.display()));
    let format = image::ImageFormat::from_path(target).map_err(|e| fail(&e))?;
    let file = std::fs::File::create(out.partial()).map_err(|e| fail(&e))?;
    let mut w = std::io::BufWriter::new(file);
    let (width, height) = img.dimensions();
    let color = image::ExtendedColorType::Rgb8;
    let written = match format {
        image::ImageFormat::Jpeg => {
            let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut w, 92);
            if let Some(x) = exif {
                let _ = enc.set_exif_metadata(x);
            }
            enc.write_image(img.as_raw(), width, height, color)
        }
        image::ImageFormat::Png => {
            let mut enc = image::codecs::png::PngEncoder::new(&mut w);
            if let Some(x) = exif {
                let _ = enc.set_exif_metadata(x);
            }
            enc.write_image(img.as_raw(), width, height, color)
        }
        image::ImageFormat::WebP => {
            let mut enc = image::codecs::webp::WebPEncoder::new_lossless(&mut w);
            if let Some(x) = exif {
                let _ = enc.set_exif_metadata(x);
            }
            enc.write_image(img.as_raw(), width, height, color)
        }
        other => image::DynamicImage::ImageRgb8(img.clone()).write_to(&mut w, other),
    };
    let flushed = written
        .map_err(|e| fail(&e))
        .and_then(|_| std::io::Write::flush(&mut w).map_err(|e| fail(&e)));
    drop(w);
    if let Err(e) = flushed {
        out.discard();
        return Err(e);
    }
    out.commit().map(|_| ())
}

fn export_picture(job: &ExportJob) -> Result<ExportSummary> {
    let started = Instant::now();
    let (img, exif) = load_picture(&job.input)?;
    let exif = if job.encode.strip_metadata {
        None
    } else {
        exif
    };
    let frame = Frame::from_image(0, 0.0, img);
    let mut session = job.model.session();
    session.set_input_size(job.size)?;
    let (detections, _) = session.detect(&frame, &job.params)?;
    // One picture: nothing to track.
    let mut render = FrameRenderer {
        kind: &job.kind,
        threshold: job.params.score_threshold,
        tracker: None,
        skeleton: &job.model.manifest.skeleton,
        regions: 0,
        frames_with_predicted: 0,
    };
    let out = render.render(frame, detections);
    save_picture(&out, &job.output, exif)?;
    Ok(ExportSummary {
        output: job.output.clone(),
        frames: 1,
        regions: render.regions,
        frames_with_predicted: 0,
        frames_covered_whole: 0,
        seconds: started.elapsed().as_secs_f64(),
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn face(x: f32) -> Detection {
        Detection {
            label: Arc::from("face"),
            class_id: 0,
            score: 0.9,
            bbox: [x, 40.0, x + 40.0, 90.0],
            keypoints: vec![],
            track_id: None,
        }
    }

    /// Vertical stripes: detail everywhere.
    fn stripes(index: u64) -> Frame {
        let img = RgbImage::from_fn(200, 120, |x, _| {
            if x % 2 == 0 {
                Rgb([250, 250, 250])
            } else {
                Rgb([5, 5, 5])
            }
        });
        Frame::from_image(index, index as f64 * 40.0, img)
    }

    fn detail_at(img: &RgbImage, x: u32, y: u32) -> i32 {
        (img.get_pixel(x, y).0[0] as i32 - img.get_pixel(x + 1, y).0[0] as i32).abs()
    }

    #[test]
    fn a_face_missed_for_a_few_frames_stays_covered_where_the_track_predicts_it() {
        let kind = ExportKind::Anonymize {
            cover: CoverParams::default(),
            draw_boxes: false,
            cover_failed_frames: false,
        };
        let mut r = FrameRenderer {
            kind: &kind,
            threshold: 0.2,
            tracker: Some(Tracker::new(TrackerParams {
                frame_interval_ms: 40.0,
                ..TrackerParams::default().with_high_thresh(0.2)
            })),
            skeleton: &[],
            regions: 0,
            frames_with_predicted: 0,
        };
        // A face moving right 4 px per frame, detected in frames 0-9, missed in 10-12.
        for i in 0..13u64 {
            let x = 20.0 + 4.0 * i as f32;
            let dets = if i < 10 { vec![face(x)] } else { vec![] };
            let out = r.render(stripes(i), dets);
            let (cx, cy) = ((x + 20.0) as u32, 65);
            assert!(
                detail_at(&out, cx, cy) < 40,
                "frame {i}: the face at x={x} shows (contrast {})",
                detail_at(&out, cx, cy)
            );
            // Far from the face the picture is untouched.
            assert!(detail_at(&out, 190, 10) > 200, "frame {i}");
        }
        assert_eq!(r.frames_with_predicted, 3);
        // Without the tracker the missed frames would show the face.
        let mut plain = FrameRenderer {
            kind: &kind,
            threshold: 0.2,
            tracker: None,
            skeleton: &[],
            regions: 0,
            frames_with_predicted: 0,
        };
        let out = plain.render(stripes(10), vec![]);
        assert!(detail_at(&out, 80, 65) > 200);
    }
}
