//! Which models exist: the three built-in ones (embedded in the binary, so a copied or
//! double-clicked executable works without a `models/` folder) and user models, each an ONNX
//! file with a manifest beside it, given by path or dropped into the user model folder.

use super::manifest::Manifest;
use super::runtime::Model;
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The first-run default: it finds the most kinds of things.
pub const DEFAULT_MODEL: &str = "centernet-mobilenetv3-coco";

struct Builtin {
    manifest: &'static str,
    onnx: &'static [u8],
}

const BUILTINS: [Builtin; 3] = [
    Builtin {
        manifest: include_str!("../../models/centernet-mobilenetv3-coco.json"),
        onnx: include_bytes!("../../models/centernet-mobilenetv3-coco.onnx"),
    },
    Builtin {
        manifest: include_str!("../../models/centerface.json"),
        onnx: include_bytes!("../../models/centerface.onnx"),
    },
    Builtin {
        manifest: include_str!("../../models/movenet-multipose.json"),
        onnx: include_bytes!("../../models/movenet-multipose.onnx"),
    },
];

/// Where a model's ONNX bytes live.
#[derive(Clone, Debug)]
pub enum ModelSource {
    Builtin(&'static [u8]),
    File(PathBuf),
}

/// A model that can be loaded: its manifest and where its weights are.
#[derive(Clone, Debug)]
pub struct ModelEntry {
    pub manifest: Arc<Manifest>,
    pub source: ModelSource,
}

impl ModelEntry {
    pub fn is_builtin(&self) -> bool {
        matches!(self.source, ModelSource::Builtin(_))
    }

    /// Read (for user models), verify and compile the model ([`Model::load`] turns a panic
    /// inside tract into an error naming the model).
    pub fn load(&self) -> Result<Arc<Model>> {
        let manifest = (*self.manifest).clone();
        match &self.source {
            ModelSource::Builtin(bytes) => Model::load(manifest, bytes),
            ModelSource::File(path) => {
                let bytes = read_regular_file(path, MAX_MODEL_BYTES, "model file")?;
                if let Some(expected) = &manifest.sha256 {
                    let actual = hex(&Sha256::digest(&bytes));
                    if !actual.eq_ignore_ascii_case(expected) {
                        return Err(Error::model(
                            &manifest.id,
                            format!("{} has SHA-256 {actual} but the manifest says {expected}; the file is corrupt or the manifest is stale", path.display()),
                        ));
                    }
                }
                Model::load(manifest, &bytes)
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// All models the app knows about, built-in first.
#[derive(Clone, Debug)]
pub struct Registry {
    entries: Vec<ModelEntry>,
    /// Problems met while scanning the user folder (reported, not fatal).
    pub warnings: Vec<String>,
}

impl Registry {
    /// Only the embedded models.
    pub fn builtin() -> Registry {
        let entries = BUILTINS
            .iter()
            .map(|b| ModelEntry {
                // The embedded manifests are checked by the unit tests below.
                manifest: Arc::new(
                    Manifest::parse(b.manifest, "built-in manifest")
                        .unwrap_or_else(|e| panic!("{e}")),
                ),
                source: ModelSource::Builtin(b.onnx),
            })
            .collect();
        Registry {
            entries,
            warnings: Vec::new(),
        }
    }

    /// Built-in models plus every `*.json` manifest in the user model folder.
    pub fn with_user_models() -> Registry {
        let mut reg = Registry::builtin();
        if let Some(dir) = user_model_dir() {
            reg.scan_dir(&dir);
        }
        reg
    }

    /// Add the manifests found in `dir` (silently nothing if it does not exist).
    pub fn scan_dir(&mut self, dir: &Path) {
        let Ok(read) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            match entry_from_manifest(&path) {
                Ok(entry) if self.get(&entry.manifest.id).is_some() => self.warnings.push(format!(
                    "{}: model id \"{}\" is already taken; rename \"id\"",
                    path.display(),
                    entry.manifest.id
                )),
                Ok(entry) => self.entries.push(entry),
                Err(e) => self.warnings.push(e.one_line()),
            }
        }
    }

    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    pub fn get(&self, id: &str) -> Option<&ModelEntry> {
        self.entries.iter().find(|e| e.manifest.id == id)
    }

    /// A model by id, or by path to a user model (`model.onnx` with `model.json` beside it, or
    /// the manifest itself). An entry given by path is added to the registry.
    pub fn resolve(&mut self, id_or_path: &str) -> Result<ModelEntry> {
        if let Some(e) = self.get(id_or_path) {
            return Ok(e.clone());
        }
        let path = Path::new(id_or_path);
        let looks_like_path = path.extension().is_some()
            || id_or_path.contains(std::path::MAIN_SEPARATOR)
            || id_or_path.contains('/');
        if !looks_like_path {
            let ids: Vec<&str> = self
                .entries
                .iter()
                .map(|e| e.manifest.id.as_str())
                .collect();
            return Err(Error::InvalidArgument(format!("unknown model \"{id_or_path}\"; use one of {} or a path to an .onnx file with its .json manifest", ids.join(", "))));
        }
        if !path.exists() {
            return Err(Error::NotFound {
                path: path.to_path_buf(),
            });
        }
        let manifest_path = if path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("json"))
        {
            path.to_path_buf()
        } else {
            let m = path.with_extension("json");
            if !m.exists() {
                return Err(Error::input(
                    path,
                    format!(
                        "no manifest {} beside the model; write one (see models/README.md)",
                        m.display()
                    ),
                ));
            }
            m
        };
        let mut entry = entry_from_manifest(&manifest_path)?;
        if path != manifest_path {
            entry.source = ModelSource::File(path.to_path_buf());
        }
        if self.get(&entry.manifest.id).is_none() {
            self.entries.push(entry.clone());
        }
        Ok(entry)
    }
}

/// Largest ONNX file accepted (the built-in models are 7–19 MB).
pub const MAX_MODEL_BYTES: u64 = 1 << 30;
/// Largest manifest accepted.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Read `path` if it is a regular file of at most `cap` bytes: a device (`/dev/zero`), a FIFO
/// or a huge file named by a manifest is refused at once instead of read forever.
pub fn read_regular_file(path: &Path, cap: u64, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            path: path.to_path_buf(),
        },
        _ => Error::io(format!("cannot read {what} {}", path.display()), e),
    })?;
    if !meta.is_file() {
        return Err(Error::input(
            path,
            format!("is not a regular file; the {what} must be an ordinary file"),
        ));
    }
    if meta.len() > cap {
        return Err(Error::input(
            path,
            format!(
                "is {} MB, more than the {} MB a {what} may have; check the path",
                meta.len() >> 20,
                cap >> 20
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::io(format!("cannot read {what} {}", path.display()), e))?;
    if bytes.len() as u64 > cap {
        return Err(Error::input(
            path,
            format!("grew past {} MB while being read", cap >> 20),
        ));
    }
    Ok(bytes)
}

fn entry_from_manifest(path: &Path) -> Result<ModelEntry> {
    let bytes = read_regular_file(path, MAX_MANIFEST_BYTES, "manifest")?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::input(path, "manifest is not UTF-8 text; it must be JSON"))?;
    let manifest = Manifest::parse(&text, &path.display().to_string())?;
    let onnx = path.parent().unwrap_or(Path::new(".")).join(&manifest.file);
    Ok(ModelEntry {
        manifest: Arc::new(manifest),
        source: ModelSource::File(onnx),
    })
}

/// `$CENTERSCOPE_MODEL_DIR`, else `$XDG_DATA_HOME/centerscope/models`, else
/// `~/.local/share/centerscope/models`.
pub fn user_model_dir() -> Option<PathBuf> {
    if let Some(d) = crate::env::model_dir() {
        return Some(d);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("centerscope/models"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifests_parse_and_match_embedded_files() {
        for b in &BUILTINS {
            let m = Manifest::parse(b.manifest, "built-in").expect("built-in manifest parses");
            let sha = hex(&Sha256::digest(b.onnx));
            assert_eq!(Some(sha.as_str()), m.sha256.as_deref(), "{} sha256", m.id);
        }
        let reg = Registry::builtin();
        assert!(reg.get(DEFAULT_MODEL).is_some());
        assert_eq!(reg.entries().len(), 3);
    }

    #[test]
    fn unknown_id_names_the_alternatives() {
        let err = Registry::builtin().resolve("yolo").unwrap_err().to_string();
        assert!(err.contains("centerface") && err.contains("yolo"), "{err}");
    }
}
