//! Asking for a file: the native dialog on its own thread (rfd: desktop portal or zenity), and
//! an in-app picker (egui_file) when the desktop has neither.

use super::pending::{take_done, Pending};
use crate::Result;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogKind {
    Video,
    Image,
    Model,
}

impl DialogKind {
    fn title(self) -> &'static str {
        match self {
            DialogKind::Video => "Open video",
            DialogKind::Image => "Open image",
            DialogKind::Model => "Load ONNX model",
        }
    }

    /// The kind of thing a dropped or chosen file is, from its extension.
    pub fn for_path(path: &std::path::Path) -> DialogKind {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "onnx" | "json" => DialogKind::Model,
            _ if crate::source::is_image_path(path) => DialogKind::Image,
            _ => DialogKind::Video,
        }
    }
}

/// rfd answers "nothing" within this time when no dialog could be shown at all (nobody
/// cancels a dialog that fast by hand).
const UNAVAILABLE_WITHIN: Duration = Duration::from_millis(400);

#[derive(Default)]
pub struct Dialogs {
    native: Option<(DialogKind, Pending<Option<PathBuf>>)>,
    fallback: Option<(DialogKind, egui_file::FileDialog)>,
    native_unavailable: bool,
}

impl Dialogs {
    /// Is a dialog (native or in-app) open?
    pub fn is_open(&self) -> bool {
        self.native.is_some() || self.fallback.is_some()
    }
    pub fn native_open(&self) -> bool {
        self.native.is_some()
    }
    pub fn fallback_open(&self) -> bool {
        self.fallback.is_some()
    }
    pub fn native_unavailable(&self) -> bool {
        self.native_unavailable
    }

    /// Ask for a file of `kind`; `start` is the folder to begin in.
    pub fn ask(&mut self, kind: DialogKind, start: Option<PathBuf>) {
        if self.native_unavailable {
            return self.open_fallback(kind, start);
        }
        let task = Pending::spawn("file-dialog", "the file dialog", move || {
            let dialog = rfd::FileDialog::new().set_title(kind.title());
            let dialog = match kind {
                DialogKind::Video => dialog
                    .add_filter(
                        "Videos",
                        &["mp4", "mkv", "mov", "webm", "avi", "m4v", "mpg", "ts"],
                    )
                    .add_filter("All files", &["*"]),
                DialogKind::Image => {
                    dialog.add_filter("Images", &["png", "jpg", "jpeg", "bmp", "webp", "gif"])
                }
                DialogKind::Model => dialog.add_filter("ONNX models", &["onnx", "json"]),
            };
            Ok(dialog.pick_file())
        });
        match task {
            Ok(t) => self.native = Some((kind, t)),
            Err(_) => self.open_fallback(kind, start),
        }
    }

    fn open_fallback(&mut self, kind: DialogKind, start: Option<PathBuf>) {
        let mut d = egui_file::FileDialog::open_file().title(kind.title());
        if let Some(dir) = start.or_else(|| std::env::current_dir().ok()) {
            d = d.initial_path(dir);
        }
        d.open();
        self.fallback = Some((kind, d));
    }

    /// Once per frame: the file chosen, if any.
    pub fn poll(&mut self, start: Option<PathBuf>) -> Option<Result<(DialogKind, PathBuf)>> {
        let (kind, asked) = self
            .native
            .as_ref()
            .map(|(k, t)| (*k, t.started().elapsed()))?;
        let mut task = self.native.take().map(|(_, t)| t);
        let answer = take_done(&mut task);
        self.native = task.map(|t| (kind, t));
        match answer? {
            Ok(Some(path)) => Some(Ok((kind, path))),
            Ok(None) if asked < UNAVAILABLE_WITHIN => {
                self.native_unavailable = true;
                self.open_fallback(kind, start);
                None
            }
            Ok(None) => None,
            Err(e) => {
                self.open_fallback(kind, start);
                Some(Err(e))
            }
        }
    }

    /// Draw the in-app picker; the file chosen in it, if any.
    pub fn show_fallback(&mut self, ctx: &egui::Context) -> Option<(DialogKind, PathBuf)> {
        let (kind, dialog) = self.fallback.as_mut()?;
        let kind = *kind;
        if dialog.show(ctx).selected() {
            let path = dialog.path().map(|p| p.to_path_buf());
            self.fallback = None;
            return path.map(|p| (kind, p));
        }
        if !dialog.visible() {
            self.fallback = None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn dropped_files_are_sorted_by_extension() {
        assert_eq!(DialogKind::for_path(Path::new("m.onnx")), DialogKind::Model);
        assert_eq!(DialogKind::for_path(Path::new("m.JSON")), DialogKind::Model);
        assert_eq!(DialogKind::for_path(Path::new("a.jpg")), DialogKind::Image);
        assert_eq!(DialogKind::for_path(Path::new("a.mp4")), DialogKind::Video);
    }
}
