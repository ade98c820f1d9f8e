//! Models: manifests, the registry of built-in and user models, and the tract runtime.

pub mod manifest;
pub mod registry;
pub mod runtime;

pub use manifest::{Family, Manifest};
pub use registry::{ModelEntry, Registry, DEFAULT_MODEL};
pub use runtime::{Model, RawOutputs, Session};

/// The model a command names (built-in id, user model or path), checked against the network
/// input size asked for, loaded.
pub fn load_checked(
    id_or_path: &str,
    size: Option<[usize; 2]>,
) -> crate::Result<std::sync::Arc<Model>> {
    let mut registry = Registry::with_user_models();
    let entry = registry.resolve(id_or_path)?;
    if let Some(size) = size {
        entry.manifest.check_size(size)?;
    }
    entry.load()
}
