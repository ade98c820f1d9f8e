//! Which files an export reads and where each result goes: `<name>_anonymized.<ext>` beside the
//! input (deface's convention), or the same relative path inside an output folder.

use crate::source::is_image_path;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Video files an export accepts (by extension, when scanning folders).
pub const VIDEO_INPUT_EXTENSIONS: [&str; 9] = [
    "mp4", "mkv", "webm", "mov", "avi", "m4v", "mpg", "mpeg", "ts",
];

pub fn is_video_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_INPUT_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// One file to export and the folder it was found in (for mirroring into `--output-dir`).
#[derive(Clone, Debug, PartialEq)]
pub struct InputFile {
    pub path: PathBuf,
    /// The folder given on the command line that contains `path`, if it came from one.
    pub root: Option<PathBuf>,
}

/// The files named by `inputs`: files as given, folders scanned for videos and pictures (in
/// name order; sub-folders only when `recursive`). Earlier outputs of this export (names
/// ending in `suffix`) and partial files are not inputs.
pub fn collect_inputs(inputs: &[PathBuf], recursive: bool, suffix: &str) -> Result<Vec<InputFile>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            scan(input, recursive, &mut found)?;
            found.sort();
            found.retain(|p| !is_own_output(p, suffix));
            if found.is_empty() {
                return Err(Error::input(
                    input,
                    "has no videos or pictures to export (add --recursive to look in its sub-folders)",
                ));
            }
            out.extend(found.into_iter().map(|path| InputFile {
                path,
                root: Some(input.clone()),
            }));
        } else if input.exists() {
            out.push(InputFile {
                path: input.clone(),
                root: None,
            });
        } else {
            return Err(Error::NotFound {
                path: input.clone(),
            });
        }
    }
    Ok(out)
}

fn scan(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if recursive {
                scan(&path, recursive, out)?;
            }
        } else if kind.is_file() && (is_video_path(&path) || is_image_path(&path)) {
            out.push(path);
        }
    }
    Ok(())
}

/// An output of an earlier run (`clip_anonymized.mp4`) or a partial file (`x.partial.mp4`).
fn is_own_output(path: &Path, suffix: &str) -> bool {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.ends_with(suffix) || stem.ends_with(".partial")
}

/// Where the result of `input` goes: `output_dir/<relative path>` or beside the input, with
/// `suffix` added to the file stem in both cases unless an output folder is given.
pub fn output_path(input: &InputFile, output_dir: Option<&Path>, suffix: &str) -> PathBuf {
    let name = input
        .path
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_default();
    match output_dir {
        Some(dir) => {
            let rel = input
                .root
                .as_deref()
                .and_then(|root| input.path.strip_prefix(root).ok())
                .map(Path::to_path_buf)
                .unwrap_or(name);
            dir.join(rel)
        }
        None => {
            let stem = input
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let file = match input.path.extension() {
                // A container the encoder does not write (.ts, .mpg) becomes .mp4.
                Some(ext)
                    if is_video_path(&input.path)
                        && !crate::output::video::VIDEO_EXTENSIONS
                            .contains(&ext.to_string_lossy().to_ascii_lowercase().as_str()) =>
                {
                    format!("{stem}{suffix}.mp4")
                }
                Some(ext) => format!("{stem}{suffix}.{}", ext.to_string_lossy()),
                None => format!("{stem}{suffix}"),
            };
            input.path.with_file_name(file)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_follow_deface_and_output_dirs_mirror_the_tree() {
        let f = InputFile {
            path: PathBuf::from("/data/a/b/clip.MP4"),
            root: Some(PathBuf::from("/data/a")),
        };
        assert_eq!(
            output_path(&f, None, "_anonymized"),
            PathBuf::from("/data/a/b/clip_anonymized.MP4")
        );
        assert_eq!(
            output_path(&f, Some(Path::new("/out")), "_anonymized"),
            PathBuf::from("/out/b/clip.MP4")
        );
        let ts = InputFile {
            path: PathBuf::from("/tv/news.ts"),
            root: None,
        };
        assert_eq!(
            output_path(&ts, None, "_anonymized"),
            PathBuf::from("/tv/news_anonymized.mp4")
        );
        let single = InputFile {
            path: PathBuf::from("photo.jpg"),
            root: None,
        };
        assert_eq!(
            output_path(&single, Some(Path::new("o")), "_anonymized"),
            PathBuf::from("o/photo.jpg")
        );
    }

    #[test]
    fn folders_are_scanned_for_media_without_earlier_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        for name in [
            "a.mp4",
            "b.jpg",
            "notes.txt",
            "a_anonymized.mp4",
            "c.partial.mp4",
            "sub/d.png",
        ] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        let names = |files: Vec<InputFile>| -> Vec<String> {
            files
                .iter()
                .map(|f| f.path.strip_prefix(root).unwrap().display().to_string())
                .collect()
        };
        let flat = collect_inputs(&[root.to_path_buf()], false, "_anonymized").unwrap();
        assert_eq!(names(flat), ["a.mp4", "b.jpg"]);
        let deep = collect_inputs(&[root.to_path_buf()], true, "_anonymized").unwrap();
        assert_eq!(names(deep), ["a.mp4", "b.jpg", "sub/d.png"]);
        assert!(collect_inputs(&[root.join("missing")], false, "_x").is_err());
    }
}
