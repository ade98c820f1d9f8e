//! Fuzzed bytes as the ONNX file of a user model → `Model::load` (parse, check against the
//! manifest, compile the default input size, run one blank frame). Must return `Ok` or `Err`:
//! never panic, abort, hang or exhaust memory.
//!
//! `Model::load` turns a panic inside tract into an error ("loading it failed with an internal
//! error (…)"), so a panic escaping it is a finding, and so are aborts (allocation failures,
//! stack overflows), hangs and memory blow-ups, which no `catch_unwind` stops. With
//! `CENTERSCOPE_FUZZ_INTERNAL=1` the target also stops on those caught internal errors, to find
//! inputs that deserve a pre-check with a better message than tract's panic.
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

fn stop_on_internal_errors() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("CENTERSCOPE_FUZZ_INTERNAL").is_some_and(|v| v == "1"))
}

/// libFuzzer's panic hook aborts on every panic, even one `Model::load` catches; this one
/// aborts (after printing it) only on a panic that is not going to be caught.
fn abort_on_uncaught_panics_only() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !centerscope::error::panic_is_caught() {
                report(info);
                std::process::abort();
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    abort_on_uncaught_panics_only();
    if let Err(e) = Model::load(manifest().clone(), data) {
        let msg = e.to_string();
        assert!(
            !(stop_on_internal_errors() && msg.contains("internal error")),
            "{msg}"
        );
    }
});
