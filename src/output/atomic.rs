//! Results are written beside their target under a name that says they are partial, and renamed
//! into place only when complete; no output may resolve to an input.
//!
//! * [`PartialPath`]: `boxes.jsonl` is written as `boxes.jsonl.partial`, `out.mp4` as
//!   `out.partial.mp4` (the extension stays last so encoders pick the right format). A run that
//!   fails or is interrupted leaves the partial file (frames already written are kept) and never
//!   touches an existing file of the final name; a successful run renames over it atomically.
//! * [`InputGuard`]: the inputs of a run by canonical path and by (device, inode), so an output
//!   reached through a symlink, a hard link or `..` is still recognised and refused before
//!   anything is opened for writing.

use crate::{Error, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A target path and the partial path written until the result is complete.
#[derive(Debug)]
pub struct PartialPath {
    target: PathBuf,
    partial: PathBuf,
}

impl PartialPath {
    pub fn new(target: &Path) -> PartialPath {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let partial_name = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && !ext.eq_ignore_ascii_case("jsonl") => {
                format!("{stem}.partial.{ext}")
            }
            _ => format!("{name}.partial"),
        };
        PartialPath {
            target: target.to_path_buf(),
            partial: target.with_file_name(partial_name),
        }
    }

    /// Where to write now.
    pub fn partial(&self) -> &Path {
        &self.partial
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The result is complete: move it into place (replacing an older file of that name).
    pub fn commit(self) -> Result<PathBuf> {
        std::fs::rename(&self.partial, &self.target).map_err(|e| {
            Error::io(
                format!(
                    "cannot move {} to {}",
                    self.partial.display(),
                    self.target.display()
                ),
                e,
            )
        })?;
        Ok(self.target)
    }

    /// Remove the partial file (nothing worth keeping was written).
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

/// The files a run reads, to refuse outputs that would overwrite them.
#[derive(Default)]
pub struct InputGuard {
    paths: HashSet<PathBuf>,
    #[cfg(unix)]
    inodes: HashSet<(u64, u64)>,
}

/// `path` with its parent folder canonicalised (the file itself may not exist yet).
fn resolve(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

impl InputGuard {
    pub fn add(&mut self, input: &Path) {
        if let Some(p) = resolve(input) {
            self.paths.insert(p);
        }
        #[cfg(unix)]
        if let Ok(m) = std::fs::metadata(input) {
            use std::os::unix::fs::MetadataExt;
            self.inodes.insert((m.dev(), m.ino()));
        }
    }

    /// An input spec as `detect` takes it: a file, or every entry of a folder.
    pub fn add_spec(&mut self, spec: &str) {
        let path = Path::new(spec);
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(path) {
                for e in entries.flatten() {
                    self.add(&e.path());
                }
            }
        } else if path.exists() {
            self.add(path);
        }
    }

    /// Refuse `output` (named by `flag`, e.g. `--annotate`) if it is one of the inputs.
    pub fn check(&self, flag: &str, output: &Path) -> Result<()> {
        let same_path = resolve(output).is_some_and(|p| self.paths.contains(&p));
        #[cfg(unix)]
        let same_file = std::fs::metadata(output).is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            self.inodes.contains(&(m.dev(), m.ino()))
        });
        #[cfg(not(unix))]
        let same_file = false;
        if same_path || same_file {
            return Err(Error::InvalidArgument(format!(
                "{flag} {}: that is an input of this run and would be overwritten; choose another file name",
                output.display()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names_keep_the_extension_last() {
        let p = PartialPath::new(Path::new("/d/out.mp4"));
        assert_eq!(p.partial(), Path::new("/d/out.partial.mp4"));
        let p = PartialPath::new(Path::new("boxes.jsonl"));
        assert_eq!(p.partial(), Path::new("boxes.jsonl.partial"));
        let p = PartialPath::new(Path::new("noext"));
        assert_eq!(p.partial(), Path::new("noext.partial"));
    }

    #[test]
    fn outputs_resolving_to_inputs_are_refused() {
        let dir = std::env::temp_dir().join(format!("cs-guard-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("dir");
        let input = dir.join("photo.jpg");
        std::fs::write(&input, b"x").expect("write");
        let mut g = InputGuard::default();
        g.add(&input);
        assert!(g.check("--output", &input).is_err());
        assert!(g.check("--output", &dir.join("sub/../photo.jpg")).is_err());
        #[cfg(unix)]
        {
            let link = dir.join("link.jpg");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&input, &link).expect("symlink");
            assert!(g.check("--annotate", &link).is_err(), "through a symlink");
            let hard = dir.join("hard.jpg");
            let _ = std::fs::remove_file(&hard);
            std::fs::hard_link(&input, &hard).expect("hard link");
            assert!(g.check("--annotate", &hard).is_err(), "through a hard link");
        }
        assert!(g.check("--output", &dir.join("other.jpg")).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
