//! Every `CENTERSCOPE_*` environment variable is read here, and only here (each is documented
//! in the README's "Environment" table). They are knobs for measuring and testing; a user never
//! needs one.

use std::path::PathBuf;
use std::time::Duration;

/// `CENTERSCOPE_MODEL_DIR`: the user model folder, instead of
/// `$XDG_DATA_HOME/centerscope/models`.
pub fn model_dir() -> Option<PathBuf> {
    std::env::var_os("CENTERSCOPE_MODEL_DIR").map(PathBuf::from)
}

/// `CENTERSCOPE_KERNELS=off`: tract's own kernels only (same as `bench --stock-tract`).
pub fn kernels_off() -> bool {
    std::env::var("CENTERSCOPE_KERNELS").is_ok_and(|v| v == "off")
}

/// `CENTERSCOPE_FUSE=off`: no fused blocks (expand + depthwise, depthwise + projection).
pub fn fusion_off() -> bool {
    std::env::var("CENTERSCOPE_FUSE").is_ok_and(|v| v == "off")
}

/// `CENTERSCOPE_WINOGRAD=off`: dense 3×3 stride-1 convolutions run directly, not by Winograd.
pub fn winograd_off() -> bool {
    std::env::var("CENTERSCOPE_WINOGRAD").is_ok_and(|v| v == "off")
}

/// `CENTERSCOPE_ISA=portable|avx2`: a lower instruction set than the CPU's best.
pub fn isa() -> Option<String> {
    std::env::var("CENTERSCOPE_ISA").ok()
}

/// `CENTERSCOPE_OPS_BY_NODE=1`: `bench --ops` splits operators by node, not by kind.
pub fn ops_by_node() -> bool {
    std::env::var_os("CENTERSCOPE_OPS_BY_NODE").is_some()
}

/// `CENTERSCOPE_DEBUG_FAIL_FRAME=N`: detection fails on frame N (index from 0), to test what
/// consumers do with a frame the detector could not analyse.
pub fn debug_fail_frame() -> Option<u64> {
    std::env::var("CENTERSCOPE_DEBUG_FAIL_FRAME")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
}

/// `CENTERSCOPE_DEBUG_PANIC=main|worker`: panic on purpose, in the command's own thread
/// (`main`) or in the detection worker on the first frame (`worker`), to test that a bug
/// still ends in one line on stderr and exit 2.
pub fn debug_panic() -> Option<String> {
    std::env::var("CENTERSCOPE_DEBUG_PANIC").ok()
}

/// `CENTERSCOPE_DEBUG_CAMERA=stall-after:N`: `camera:K` is a synthetic 640×480 camera at
/// 30 fps whose driver stalls (blocks forever) after N frames, to test what `detect camera:K`
/// and the window do with a stuck camera on machines without a video device.
pub fn debug_camera_stall_after() -> Option<u64> {
    std::env::var("CENTERSCOPE_DEBUG_CAMERA")
        .ok()?
        .strip_prefix("stall-after:")?
        .parse::<u64>()
        .ok()
}

/// `CENTERSCOPE_DEBUG_DELAY_MS=N`: the window's pipeline sleeps N ms per inference, to see how
/// the app behaves with a slow model (used by the window smoke test).
pub fn debug_delay() -> Option<Duration> {
    std::env::var("CENTERSCOPE_DEBUG_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(|ms| Duration::from_millis(ms.min(60_000)))
}
