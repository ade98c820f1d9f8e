//! File → Export video…: the form's choices and the export running in the background.
//!
//! The export reads the file again from the start in every-frame mode with its own pipeline,
//! independent of what is on screen (playback goes on), and reports progress through a shared
//! cell that the UI reads once per frame. Cancel stops it and removes the partial file.

use super::pending::{Pending, Poll};
use crate::export::{ExportJob, ExportKind, ExportProgress, ExportSummary};
use crate::model::Model;
use crate::output::cover::{CoverParams, CoverStyle, MaskShape};
use crate::output::video::EncodeSettings;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How covered regions look, as offered in the form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StyleChoice {
    Blur,
    Pixelate,
    Solid,
}

/// The export form's choices.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportForm {
    pub input: String,
    pub output: String,
    pub anonymize: bool,
    pub style: StyleChoice,
    pub ellipse: bool,
    pub mask_scale: f32,
    pub draw_boxes: bool,
}

impl ExportForm {
    /// The form for `input`: anonymise, `<name>_anonymized.<ext>` beside it.
    pub fn for_input(input: &str) -> ExportForm {
        let mut f = ExportForm {
            input: input.to_string(),
            output: String::new(),
            anonymize: true,
            style: StyleChoice::Blur,
            ellipse: true,
            mask_scale: 1.3,
            draw_boxes: false,
        };
        f.output = f.default_output();
        f
    }

    /// `<name>_anonymized.<ext>` or `<name>_annotated.<ext>` beside the input (.mp4 for
    /// inputs whose container is not written).
    pub fn default_output(&self) -> String {
        let input = Path::new(&self.input);
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "export".into());
        let ext = input
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .filter(|e| {
                // A picture stays a picture; a video keeps a container the encoder writes.
                crate::source::is_image_path(input)
                    || crate::output::video::VIDEO_EXTENSIONS.contains(&e.as_str())
            })
            .unwrap_or_else(|| "mp4".into());
        let suffix = if self.anonymize {
            "_anonymized"
        } else {
            "_annotated"
        };
        input
            .with_file_name(format!("{stem}{suffix}.{ext}"))
            .to_string_lossy()
            .into_owned()
    }

    fn cover(&self) -> CoverParams {
        CoverParams {
            style: match self.style {
                StyleChoice::Blur => CoverStyle::Blur,
                StyleChoice::Pixelate => CoverStyle::Pixelate,
                StyleChoice::Solid => CoverStyle::Solid([0, 0, 0]),
            },
            shape: if self.ellipse {
                MaskShape::Ellipse
            } else {
                MaskShape::Box
            },
            scale: self.mask_scale,
            ..Default::default()
        }
    }
}

/// An export running in the background.
pub struct ExportTask {
    pub output: PathBuf,
    cancel: Arc<AtomicBool>,
    progress: Arc<Mutex<ExportProgress>>,
    task: Pending<ExportSummary>,
}

impl ExportTask {
    /// Start exporting `form.input` with `model` and the detection settings on screen.
    pub fn start(
        form: &ExportForm,
        model: Arc<Model>,
        params: crate::decode::DecodeParams,
        size: Option<[usize; 2]>,
        workers: usize,
        tracker: crate::track::TrackerParams,
        wake: Option<Arc<dyn Fn() + Send + Sync>>,
    ) -> Result<ExportTask> {
        let output = PathBuf::from(form.output.trim());
        if form.output.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "choose where to save the export".into(),
            ));
        }
        let mut params = params;
        let kind = if form.anonymize {
            params.score_threshold = crate::export::ANONYMIZE_THRESHOLD;
            params.class_filter = Some(Arc::new(crate::export::cover_class_filter(&model, &[])?));
            ExportKind::Anonymize {
                cover: form.cover(),
                draw_boxes: form.draw_boxes,
                // Nothing of a frame the detector failed on may show.
                cover_failed_frames: true,
            }
        } else {
            ExportKind::Annotate
        };
        let job = ExportJob {
            input: PathBuf::from(&form.input),
            output: output.clone(),
            kind,
            model,
            params,
            size,
            tracker: Some(tracker),
            encode: EncodeSettings::default(),
            workers,
            matmul_threads: 1,
            // The form asks before replacing (the output field shows the name).
            overwrite: true,
            duration_s: None,
        };
        // Refuse an output that is the input before anything starts.
        let mut guard = crate::output::atomic::InputGuard::default();
        guard.add(&job.input);
        crate::export::check_job(&job, &guard)?;
        let cancel = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Mutex::new(ExportProgress::default()));
        let (c, p) = (cancel.clone(), progress.clone());
        let task = Pending::spawn("export", format!("exporting {}", form.input), move || {
            crate::export::run(&job, &c, &mut |now| {
                if let Ok(mut cell) = p.lock() {
                    *cell = *now;
                }
                if let Some(w) = &wake {
                    w();
                }
            })
        })?;
        Ok(ExportTask {
            output,
            cancel,
            progress,
            task,
        })
    }

    pub fn progress(&self) -> ExportProgress {
        self.progress.lock().map(|p| *p).unwrap_or_default()
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelling(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// The export dialog and the export it started.
#[derive(Default)]
pub struct Exports {
    /// The form, while the dialog is open.
    pub form: Option<ExportForm>,
    pub running: Option<ExportTask>,
}

/// What a finished export tells the user.
pub enum ExportOutcome {
    Done(ExportSummary),
    Cancelled,
    Failed(Error),
}

impl Exports {
    /// Once per UI frame: the outcome when the export ended.
    pub fn poll(&mut self) -> Option<ExportOutcome> {
        let running = self.running.as_ref()?;
        let Poll::Done(result) = running.task.poll() else {
            return None;
        };
        self.running = None;
        Some(match result {
            Ok(summary) => ExportOutcome::Done(summary),
            Err(Error::Cancelled) => ExportOutcome::Cancelled,
            Err(e) => ExportOutcome::Failed(e),
        })
    }
}

/// Open a folder in the desktop's file manager (detached; errors are the caller's toast).
pub fn open_folder(dir: &Path) -> Result<()> {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    std::process::Command::new(program)
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| Error::io(format!("cannot open {} with {program}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_names_follow_the_kind_and_keep_pictures_pictures() {
        let mut f = ExportForm::for_input("/v/clip.ts");
        assert_eq!(f.output, "/v/clip_anonymized.mp4");
        f.anonymize = false;
        assert_eq!(f.default_output(), "/v/clip_annotated.mp4");
        assert_eq!(
            ExportForm::for_input("/p/photo.JPG").output,
            "/p/photo_anonymized.jpg"
        );
        assert_eq!(ExportForm::for_input("a.mkv").output, "a_anonymized.mkv");
    }
}
