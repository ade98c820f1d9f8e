//! Settings that may change while a pipeline runs. The running [`Pipeline`](super::Pipeline)
//! owns the one [`Controls`]; the source loop and the dispatcher read it at frame boundaries, so
//! a model swap or a threshold change lands between two frames and never inside one.

use crate::decode::DecodeParams;
use crate::model::Model;
use crate::source::SeekTarget;
use crate::Frame;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct Controls {
    model: Mutex<Arc<Model>>,
    params: Mutex<Arc<DecodeParams>>,
    input_size: Mutex<Option<[usize; 2]>>,
    seek: Mutex<Option<SeekTarget>>,
    reprocess: Mutex<Option<Frame>>,
    paused: AtomicBool,
    step: AtomicBool,
    speed_milli: AtomicU64,
    looping: AtomicBool,
    dropped: AtomicU64,
    /// Frames the source itself dropped (a camera's newest-wins hand-over).
    source_dropped: AtomicU64,
    /// Bumped by every seek: results of an older epoch are stale.
    epoch: AtomicU64,
}

/// What the dispatcher reads once per frame.
pub(crate) struct Snapshot {
    pub model: Arc<Model>,
    pub params: Arc<DecodeParams>,
    pub input_size: Option<[usize; 2]>,
}

impl Controls {
    pub(crate) fn new(model: Arc<Model>, params: DecodeParams, speed: f64, looping: bool) -> Self {
        let c = Controls {
            model: Mutex::new(model),
            params: Mutex::new(Arc::new(params)),
            input_size: Mutex::new(None),
            seek: Mutex::new(None),
            reprocess: Mutex::new(None),
            paused: AtomicBool::new(false),
            step: AtomicBool::new(false),
            speed_milli: AtomicU64::new(1000),
            looping: AtomicBool::new(looping),
            dropped: AtomicU64::new(0),
            source_dropped: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
        };
        c.set_speed(speed);
        c
    }

    pub fn set_model(&self, model: Arc<Model>) {
        if let Ok(mut m) = self.model.lock() {
            *m = model;
        }
    }
    pub fn model(&self) -> Option<Arc<Model>> {
        self.model.lock().ok().map(|m| m.clone())
    }
    pub fn set_params(&self, params: DecodeParams) {
        if let Ok(mut p) = self.params.lock() {
            *p = Arc::new(params);
        }
    }
    pub fn set_input_size(&self, size: Option<[usize; 2]>) {
        if let Ok(mut s) = self.input_size.lock() {
            *s = size;
        }
    }
    /// Jump; results of frames decoded before the seek are discarded.
    pub fn seek(&self, target: SeekTarget) {
        if let Ok(mut s) = self.seek.lock() {
            *s = Some(target);
        }
    }
    /// Run this frame through the current model again (e.g. the input size changed while
    /// paused).
    pub fn reprocess(&self, frame: Frame) {
        if let Ok(mut r) = self.reprocess.lock() {
            *r = Some(frame);
        }
    }
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
    /// While paused, decode exactly one more frame.
    pub fn step(&self) {
        self.step.store(true, Ordering::Relaxed);
    }
    pub fn set_speed(&self, speed: f64) {
        let speed = if speed.is_finite() { speed } else { 1.0 };
        self.speed_milli
            .store((speed.clamp(0.05, 16.0) * 1000.0) as u64, Ordering::Relaxed);
    }
    pub fn speed(&self) -> f64 {
        self.speed_milli.load(Ordering::Relaxed) as f64 / 1000.0
    }
    pub fn set_looping(&self, looping: bool) {
        self.looping.store(looping, Ordering::Relaxed);
    }
    pub fn is_looping(&self) -> bool {
        self.looping.load(Ordering::Relaxed)
    }
    /// Frames skipped because a newer one arrived first (live mode), in the pipeline or at
    /// the source (a camera).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed) + self.source_dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn set_source_dropped(&self, n: u64) {
        self.source_dropped.store(n, Ordering::Relaxed);
    }

    pub(crate) fn count_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }
    /// Take a pending seek, starting a new epoch.
    pub(crate) fn take_seek(&self) -> Option<(SeekTarget, u64)> {
        let target = self.seek.lock().ok().and_then(|mut s| s.take())?;
        Some((target, self.epoch.fetch_add(1, Ordering::Relaxed) + 1))
    }
    pub(crate) fn seek_pending(&self) -> bool {
        self.seek.lock().map(|s| s.is_some()).unwrap_or(false)
    }
    pub(crate) fn take_reprocess(&self) -> Option<Frame> {
        self.reprocess.lock().ok().and_then(|mut r| r.take())
    }
    pub(crate) fn take_step(&self) -> bool {
        self.step.swap(false, Ordering::Relaxed)
    }
    pub(crate) fn snapshot(&self) -> Option<Snapshot> {
        Some(Snapshot {
            model: self.model()?,
            params: self.params.lock().ok()?.clone(),
            input_size: *self.input_size.lock().ok()?,
        })
    }
}
