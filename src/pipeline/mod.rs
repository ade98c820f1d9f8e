//! The pipeline: a source thread, a dispatcher, a rayon worker pool, and an ordered output.
//!
//! ```text
//! FrameSource ─▶ [source thread] ─▶ frames ─▶ [dispatch thread] ─▶ rayon pool (N workers)
//!                  pacing, seek,     bounded      waits for a free      one tract Session per
//!                  pause, drops      or newest    in-flight slot,       worker and model
//!                  (live)            wins         snapshots model        │
//!                                                 + params               ▼
//!                         consumer ◀── reorder by sequence number ◀── results
//! ```
//!
//! * Every-frame mode (files, batch): the frame channel is bounded, so a slow consumer pushes
//!   back all the way to the decoder; nothing is skipped and memory stays flat.
//! * Live mode (cameras, real-time playback): the source hands over only its newest frame;
//!   frames replaced before a worker was free are counted as dropped, so lag never grows.
//! * In-flight slots are returned when the consumer *takes* a result, which bounds memory even
//!   when the consumer is the slow part.
//! * Model, thresholds and input size are read once per frame at dispatch: a swap takes effect
//!   at the next frame boundary and a frame is never decoded by a half-swapped model.
//! * Dropping the pipeline stops and joins its named threads. Errors from any stage arrive once,
//!   as [`Event::Error`], and end the run.

pub mod stats;

use crate::decode::DecodeParams;
use crate::model::{Model, Session};
use crate::source::{FrameSource, SeekTarget, SourceInfo};
use crate::{Error, Frame, FrameResult, Result};
use crossbeam_channel::{select, Receiver, Sender, TrySendError};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    EveryFrame,
    Live,
}

/// Physical cores: tract gains nothing from SMT siblings sharing one core's vector units, so
/// the default pool has one worker per core (Linux: distinct core ids in sysfs; elsewhere the
/// logical CPU count).
pub fn default_workers() -> usize {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    physical_cores().unwrap_or(logical).clamp(1, logical)
}

fn physical_cores() -> Option<usize> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu").ok()?;
    let mut cores = std::collections::HashSet::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name
            .strip_prefix("cpu")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        {
            continue;
        }
        let topo = entry.path().join("topology");
        let read = |f: &str| {
            std::fs::read_to_string(topo.join(f))
                .ok()
                .map(|s| s.trim().to_string())
        };
        if let (Some(pkg), Some(core)) = (read("physical_package_id"), read("core_id")) {
            cores.insert((pkg, core));
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

#[derive(Clone)]
pub struct PipelineConfig {
    pub workers: usize,
    pub mode: Mode,
    /// Process only frames whose index is a multiple of this.
    pub every: u64,
    /// Stop after frames past this time (ms).
    pub end_ms: Option<f64>,
    /// Pace frames at their presentation times (for playback); `speed` scales the clock.
    pub realtime: bool,
    pub speed: f64,
    /// Restart from the beginning at the end of a seekable source.
    pub looping: bool,
    /// Called whenever a result is ready (the GUI passes `request_repaint`).
    pub on_event: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Threads for tract's matrix products inside one inference (1 = single-threaded).
    /// More workers raise throughput; more matmul threads lower one frame's latency.
    pub matmul_threads: usize,
    /// Test hook: extra sleep per frame inside the worker, to simulate a slow model.
    pub debug_delay: Option<Duration>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            workers: default_workers(),
            mode: Mode::EveryFrame,
            every: 1,
            end_ms: None,
            realtime: false,
            speed: 1.0,
            looping: false,
            on_event: None,
            matmul_threads: 1,
            debug_delay: None,
        }
    }
}

/// Settings that may change while running; read at frame boundaries.
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
    epoch: AtomicU64,
}

impl Controls {
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
    /// Run this frame through the current model again (e.g. a threshold changed while paused).
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
        self.speed_milli
            .store((speed.clamp(0.05, 16.0) * 1000.0) as u64, Ordering::Relaxed);
    }
    pub fn set_looping(&self, looping: bool) {
        self.looping.store(looping, Ordering::Relaxed);
    }
    /// Frames skipped because a newer one arrived first (live mode).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    fn speed(&self) -> f64 {
        self.speed_milli.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

/// What the consumer receives, in frame order.
#[derive(Debug)]
pub enum Event {
    Frame(Box<FrameResult>),
    /// The source has no more frames (a paused GUI may still seek).
    EndOfStream,
    Error(Error),
}

struct Job {
    frame: Frame,
    epoch: u64,
    captured: Instant,
    decode_ms: Option<f64>,
}

enum SourceItem {
    Frame(Job),
    End(u64),
    Error(Error, u64),
}

struct Msg {
    seq: u64,
    epoch: u64,
    body: MsgBody,
}

enum MsgBody {
    Frame(Result<Box<FrameResult>>),
    End,
}

/// A running pipeline. Drop it to stop.
pub struct Pipeline {
    controls: Arc<Controls>,
    info: SourceInfo,
    results: Receiver<Msg>,
    tokens: Sender<()>,
    reorder: BTreeMap<u64, Msg>,
    next_seq: u64,
    finished: bool,
    stop: Option<Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// One message per worker loop that has finished.
    workers_done: Receiver<()>,
    workers: usize,
    _pool: rayon::ThreadPool,
}

/// One frame for a worker, with the model and settings it was dispatched under.
struct WorkItem {
    seq: u64,
    job: Job,
    model: Arc<Model>,
    params: Arc<DecodeParams>,
    size: Option<[usize; 2]>,
}

/// A worker loop: owns its tract session, takes frames until the work channel closes.
struct Worker {
    work: Receiver<WorkItem>,
    results: Sender<Msg>,
    wake: Option<Arc<dyn Fn() + Send + Sync>>,
    delay: Option<Duration>,
    executor: Option<tract_linalg::multithread::Executor>,
    done: Sender<()>,
}

impl Worker {
    fn run(self) {
        let mut session: Option<Session> = None;
        while let Ok(item) = self.work.recv() {
            let started = Instant::now();
            let queue_ms = (started - item.job.captured).as_secs_f64() * 1e3;
            let model = item.model.clone();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut run = || self.detect(&mut session, &item);
                match &self.executor {
                    Some(e) => tract_linalg::multithread::multithread_tract_scope(e.clone(), run),
                    None => run(),
                }
            }))
            .unwrap_or_else(|_| {
                session = None; // its state may be half-updated
                Err(Error::model(
                    model.id.as_ref(),
                    "the detector panicked on this frame",
                ))
            });
            let WorkItem { seq, job, .. } = item;
            let body = outcome.map(|(detections, mut timings)| {
                timings.decode = job.decode_ms;
                timings.queue = Some(queue_ms);
                timings.end_to_end = Some(job.captured.elapsed().as_secs_f64() * 1e3);
                Box::new(FrameResult {
                    frame: job.frame,
                    model_id: model.id.clone(),
                    detections,
                    timings,
                })
            });
            let _ = self.results.send(Msg {
                seq,
                epoch: job.epoch,
                body: MsgBody::Frame(body),
            });
            if let Some(f) = &self.wake {
                f()
            }
        }
        let _ = self.done.send(());
    }

    fn detect(
        &self,
        session: &mut Option<Session>,
        item: &WorkItem,
    ) -> Result<(Vec<crate::Detection>, crate::StageTimings)> {
        // A swapped model gets a fresh session; the old one's buffers go with it.
        if session
            .as_ref()
            .is_none_or(|s| !Arc::ptr_eq(s.model(), &item.model))
        {
            *session = Some(item.model.session());
        }
        let Some(s) = session.as_mut() else {
            unreachable!("session set above")
        };
        if s.input_size_override() != item.size {
            s.set_input_size(item.size)?;
        }
        let out = s.detect(&item.job.frame, &item.params);
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        out
    }
}

impl Pipeline {
    pub fn start(
        source: Box<dyn FrameSource>,
        model: Arc<Model>,
        params: DecodeParams,
        config: PipelineConfig,
    ) -> Result<Pipeline> {
        if config.workers == 0 || config.workers > 256 {
            return Err(Error::InvalidArgument(format!(
                "workers must be between 1 and 256 (got {})",
                config.workers
            )));
        }
        if config.matmul_threads == 0 || config.matmul_threads > 64 {
            return Err(Error::InvalidArgument(format!(
                "matmul threads must be between 1 and 64 (got {})",
                config.matmul_threads
            )));
        }
        if config.every == 0 {
            return Err(Error::InvalidArgument("--every must be at least 1".into()));
        }
        let info = source.info().clone();
        let controls = Arc::new(Controls {
            model: Mutex::new(model),
            params: Mutex::new(Arc::new(params)),
            input_size: Mutex::new(None),
            seek: Mutex::new(None),
            reprocess: Mutex::new(None),
            paused: AtomicBool::new(false),
            step: AtomicBool::new(false),
            speed_milli: AtomicU64::new(1000),
            looping: AtomicBool::new(config.looping),
            dropped: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
        });
        controls.set_speed(config.speed);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let capacity = match config.mode {
            Mode::EveryFrame => config.workers * 2,
            Mode::Live => 1,
        };
        let (frame_tx, frame_rx) = crossbeam_channel::bounded::<SourceItem>(capacity);
        let (result_tx, result_rx) = crossbeam_channel::unbounded::<Msg>();
        let in_flight = config.workers * 2;
        let (token_tx, token_rx) = crossbeam_channel::bounded::<()>(in_flight);
        for _ in 0..in_flight {
            let _ = token_tx.send(());
        }
        // The worker pool runs one long-lived loop per worker, fed through a channel, rather
        // than one rayon job per frame: a worker waiting inside tract's matmul pool could
        // otherwise pick up a second frame on the same thread and re-enter tract's per-thread
        // state.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.workers)
            .thread_name(|i| format!("detect-worker-{i}"))
            .build()
            .map_err(|e| Error::Other(format!("cannot start worker pool: {e}")))?;
        let (work_tx, work_rx) = crossbeam_channel::bounded::<WorkItem>(config.workers);
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(config.workers);
        let executor = (config.matmul_threads > 1).then(|| {
            tract_linalg::multithread::Executor::multithread_with_name(
                config.matmul_threads,
                "matmul",
            )
        });
        for _ in 0..config.workers {
            let worker = Worker {
                work: work_rx.clone(),
                results: result_tx.clone(),
                wake: config.on_event.clone(),
                delay: config.debug_delay,
                executor: executor.clone(),
                done: done_tx.clone(),
            };
            pool.spawn(move || worker.run());
        }
        drop((work_rx, done_tx));

        let config_workers = config.workers;
        let source_thread = {
            let (controls, stop_rx, config) = (controls.clone(), stop_rx.clone(), config.clone());
            let frame_rx_drain = frame_rx.clone();
            std::thread::Builder::new()
                .name("pipeline-source".into())
                .spawn(move || {
                    source_loop(
                        source,
                        &controls,
                        &config,
                        &frame_tx,
                        &frame_rx_drain,
                        &stop_rx,
                    )
                })
                .map_err(|e| Error::io("cannot start source thread", e))?
        };
        let dispatch_thread = {
            let controls = controls.clone();
            std::thread::Builder::new()
                .name("pipeline-dispatch".into())
                .spawn(move || {
                    dispatch_loop(
                        &controls, &frame_rx, &token_rx, &work_tx, &result_tx, &config, &stop_rx,
                    )
                })
                .map_err(|e| Error::io("cannot start dispatch thread", e))?
        };
        Ok(Pipeline {
            controls,
            info,
            results: result_rx,
            tokens: token_tx,
            reorder: BTreeMap::new(),
            next_seq: 0,
            finished: false,
            stop: Some(stop_tx),
            threads: vec![source_thread, dispatch_thread],
            workers_done: done_rx,
            workers: config_workers,
            _pool: pool,
        })
    }

    pub fn controls(&self) -> &Arc<Controls> {
        &self.controls
    }

    pub fn source_info(&self) -> &SourceInfo {
        &self.info
    }

    /// Next event in frame order, waiting at most `timeout`; `None` on timeout or after the end.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(ev) = self.pop_ready() {
                return Some(ev);
            }
            if self.finished {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.results.recv_timeout(left) {
                Ok(msg) => {
                    self.reorder.insert(msg.seq, msg);
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => return None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    self.finished = true;
                    return self.pop_ready().or(Some(Event::Error(Error::Other(
                        "pipeline stopped unexpectedly".into(),
                    ))));
                }
            }
        }
    }

    /// Next event without waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        while let Ok(msg) = self.results.try_recv() {
            self.reorder.insert(msg.seq, msg);
        }
        self.pop_ready()
    }

    /// Blocking: next event, `None` after the end of the stream or an error.
    pub fn recv(&mut self) -> Option<Event> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(ev) = self.recv_timeout(Duration::from_millis(200)) {
                if matches!(ev, Event::EndOfStream | Event::Error(_)) {
                    self.finished = true;
                }
                return Some(ev);
            }
        }
    }

    fn pop_ready(&mut self) -> Option<Event> {
        loop {
            let msg = self.reorder.remove(&self.next_seq)?;
            self.next_seq += 1;
            let current_epoch = self.controls.epoch.load(Ordering::Relaxed);
            match msg.body {
                MsgBody::Frame(r) => {
                    let _ = self.tokens.try_send(());
                    if msg.epoch < current_epoch {
                        continue; // decoded before a seek: stale
                    }
                    return Some(match r {
                        Ok(fr) => Event::Frame(fr),
                        Err(e) => Event::Error(e),
                    });
                }
                MsgBody::End => {
                    if msg.epoch < current_epoch {
                        continue;
                    }
                    return Some(Event::EndOfStream);
                }
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.take(); // disconnects: every blocked select wakes up
        self.controls.set_paused(false);
        // Keep draining so no worker blocks while we join.
        while self.results.try_recv().is_ok() {}
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // The dispatcher is gone, so the work channel is closed: wait for every worker loop to
        // finish its frame and return.
        for _ in 0..self.workers {
            while self.results.try_recv().is_ok() {}
            if self
                .workers_done
                .recv_timeout(Duration::from_secs(30))
                .is_err()
            {
                break;
            }
        }
    }
}

fn stopped(stop: &Receiver<()>) -> bool {
    matches!(
        stop.try_recv(),
        Err(crossbeam_channel::TryRecvError::Disconnected)
    )
}

fn source_loop(
    mut source: Box<dyn FrameSource>,
    controls: &Controls,
    config: &PipelineConfig,
    tx: &Sender<SourceItem>,
    drain: &Receiver<SourceItem>,
    stop: &Receiver<()>,
) {
    let mut clock: Option<(Instant, f64)> = None; // wall-clock start and pts at start
    let mut at_end = false;
    let send = |item: SourceItem| -> bool {
        match config.mode {
            Mode::EveryFrame => select! {
                send(tx, item) -> r => r.is_ok(),
                recv(stop) -> _ => false,
            },
            Mode::Live => match item {
                SourceItem::Frame(job) => match tx.try_send(SourceItem::Frame(job)) {
                    Ok(()) => true,
                    Err(TrySendError::Full(item)) => {
                        // Newest wins: replace the frame no worker has taken yet.
                        if let Ok(SourceItem::Frame(_)) = drain.try_recv() {
                            controls.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        select! { send(tx, item) -> r => r.is_ok(), recv(stop) -> _ => false }
                    }
                    Err(TrySendError::Disconnected(_)) => false,
                },
                other => select! { send(tx, other) -> r => r.is_ok(), recv(stop) -> _ => false },
            },
        }
    };
    loop {
        if stopped(stop) {
            return;
        }
        let epoch = controls.epoch.load(Ordering::Relaxed);
        if let Some(target) = controls.seek.lock().ok().and_then(|mut s| s.take()) {
            let epoch = controls.epoch.fetch_add(1, Ordering::Relaxed) + 1;
            clock = None;
            at_end = false;
            if let Err(e) = source.seek(target) {
                if !send(SourceItem::Error(e, epoch)) {
                    return;
                }
            }
            if controls.is_paused() {
                controls.step(); // show the frame we seeked to
            }
            continue;
        }
        if let Some(frame) = controls.reprocess.lock().ok().and_then(|mut r| r.take()) {
            if !send(SourceItem::Frame(Job {
                frame,
                epoch,
                captured: Instant::now(),
                decode_ms: None,
            })) {
                return;
            }
            continue;
        }
        let stepping = controls.step.swap(false, Ordering::Relaxed);
        if (controls.is_paused() && !stepping) || at_end {
            clock = None;
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let t0 = Instant::now();
        let item = source.next_frame();
        let decode_ms = t0.elapsed().as_secs_f64() * 1e3;
        let frame = match item {
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                let _ = send(SourceItem::Error(e, epoch));
                return;
            }
            None => {
                if controls.looping.load(Ordering::Relaxed)
                    && source.seek(SeekTarget::Frame(0)).is_ok()
                {
                    clock = None;
                    continue;
                }
                if !send(SourceItem::End(epoch)) {
                    return;
                }
                at_end = true;
                continue;
            }
        };
        if config.end_ms.is_some_and(|end| frame.pts_ms > end) {
            if !send(SourceItem::End(epoch)) {
                return;
            }
            at_end = true;
            continue;
        }
        if frame.index % config.every != 0 {
            continue;
        }
        if config.realtime && !stepping {
            let speed = controls.speed();
            let (start, pts0) = *clock.get_or_insert((Instant::now(), frame.pts_ms));
            let due = Duration::from_secs_f64(((frame.pts_ms - pts0) / speed / 1000.0).max(0.0));
            let now = start.elapsed();
            if due > now {
                // Sleep in small steps so stop, pause and seek stay responsive.
                let wake = Instant::now() + (due - now);
                while Instant::now() < wake
                    && !stopped(stop)
                    && controls.seek.lock().map(|s| s.is_none()).unwrap_or(true)
                {
                    std::thread::sleep((wake - Instant::now()).min(Duration::from_millis(10)));
                }
            }
        }
        if !send(SourceItem::Frame(Job {
            frame,
            epoch,
            captured: t0,
            decode_ms: Some(decode_ms),
        })) {
            return;
        }
    }
}

fn dispatch_loop(
    controls: &Controls,
    frames: &Receiver<SourceItem>,
    tokens: &Receiver<()>,
    work: &Sender<WorkItem>,
    results: &Sender<Msg>,
    config: &PipelineConfig,
    stop: &Receiver<()>,
) {
    let mut seq = 0u64;
    let wake = || {
        if let Some(f) = &config.on_event {
            f()
        }
    };
    loop {
        // A free in-flight slot first, so a frame waiting in the channel can still be replaced
        // by a newer one in live mode.
        select! {
            recv(tokens) -> t => if t.is_err() { return },
            recv(stop) -> _ => return,
        }
        let item = select! {
            recv(frames) -> f => match f { Ok(f) => f, Err(_) => return },
            recv(stop) -> _ => return,
        };
        let job = match item {
            SourceItem::Frame(job) => job,
            SourceItem::End(epoch) => {
                let _ = results.send(Msg {
                    seq,
                    epoch,
                    body: MsgBody::End,
                });
                seq += 1;
                wake();
                continue;
            }
            SourceItem::Error(e, epoch) => {
                let _ = results.send(Msg {
                    seq,
                    epoch,
                    body: MsgBody::Frame(Err(e)),
                });
                seq += 1;
                wake();
                continue;
            }
        };
        // Model and settings are read once per frame: a swap lands between frames.
        let (Some(model), Some(params), Some(size)) = (
            controls.model(),
            controls.params.lock().ok().map(|p| p.clone()),
            controls.input_size.lock().ok().map(|s| *s),
        ) else {
            return;
        };
        let item = WorkItem {
            seq,
            job,
            model,
            params,
            size,
        };
        seq += 1;
        select! {
            send(work, item) -> r => if r.is_err() { return },
            recv(stop) -> _ => return,
        }
    }
}
