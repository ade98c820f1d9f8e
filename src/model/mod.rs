//! Models: manifests, the registry of built-in and user models, and the tract runtime.

pub mod manifest;
pub mod registry;
pub mod runtime;

pub use manifest::{Family, Manifest};
pub use registry::{ModelEntry, Registry, DEFAULT_MODEL};
pub use runtime::{Model, RawOutputs, Session};
