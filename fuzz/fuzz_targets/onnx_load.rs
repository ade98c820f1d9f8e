//! Fuzzed bytes as the ONNX file of a user model → `Model::load` (parse, check against the
//! manifest, compile the default input size, run one blank frame). Must return `Ok` or `Err`:
//! never panic, hang or exhaust memory.
//!
//! `ModelEntry::load` wraps this in `catch_unwind`, which turns a panic into an error in the
//! app; `Model::load` is fuzzed directly so that panics are still found. (An abort, such as an
//! allocation failure or a stack overflow, is not caught by `catch_unwind` either way.)
//!
//! Seed: `fuzz/seeds/onnx_load/tiny-centernet.onnx`, the 716-byte test fixture, which loads.
#![no_main]

use centerscope::model::{Manifest, Model};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn manifest() -> &'static Manifest {
    static M: OnceLock<Manifest> = OnceLock::new();
    M.get_or_init(|| {
        Manifest::parse(
            include_str!("../../tests/fixtures/classic/tiny-centernet.json"),
            "tiny-centernet.json",
        )
        .expect("fixture manifest parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = Model::load(manifest().clone(), data);
});
