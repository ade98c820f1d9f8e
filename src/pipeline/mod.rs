//! The pipeline: a source thread, a dispatcher, N worker threads, and an ordered output.
//!
//! ```text
//! FrameSource ─▶ [source thread] ─▶ frames ─▶ [dispatch thread] ─▶ N worker threads
//!                  source_loop.rs    bounded      dispatch.rs           worker.rs: one tract
//!                  pacing, seek,     or newest    takes a Slot,         Session per worker
//!                  pause, drops      wins         snapshots model        │
//!                  (live)                         + params               ▼
//!                         consumer ◀── reorder.rs: by sequence number ◀── results
//! ```
//!
//! Who owns what: the source thread owns the [`FrameSource`]; [`Controls`] (controls.rs) own
//! the settings that change while running; each worker owns its session; the [`Pipeline`]
//! owns the threads, the reorder buffer and the receiving end. Limits and modes: config.rs.
//!
//! * Every-frame mode (files, batch): the frame channel is bounded, so a slow consumer pushes
//!   back all the way to the decoder; nothing is skipped and memory stays flat.
//! * Live mode (cameras, real-time playback): the source hands over only its newest frame;
//!   frames replaced before a worker was free are counted as dropped, so lag never grows.
//! * Every message between the dispatcher and the consumer (frame, end, error) carries an
//!   in-flight [`Slot`](reorder::Slot) that returns when the message is dropped, consumed or
//!   stale: memory is bounded by the slot count (config.rs: two per worker in every-frame mode,
//!   one in live mode, fewer for huge frames) and no path can leak one.
//! * Model, thresholds and input size are read once per frame at dispatch: a swap takes effect
//!   at the next frame boundary and a frame is never decoded by a half-swapped model.
//! * Dropping the pipeline stops and joins its named threads. Errors from any stage arrive once,
//!   as [`Event::Error`], and end the run.

mod config;
mod controls;
mod dispatch;
mod reorder;
mod source_loop;
pub mod stats;
mod worker;

pub use config::{
    check_frame_size, check_workers, default_workers, max_workers, Mode, PipelineConfig,
    FRAME_BUDGET_BYTES, MAX_FRAME_PIXELS, MAX_MATMUL_THREADS, MAX_WORKERS,
};
pub use controls::Controls;

use crate::decode::DecodeParams;
use crate::model::Model;
use crate::source::{FrameSource, SourceInfo};
use crate::{Error, FrameResult, Result};
use crossbeam_channel::{Receiver, Sender};
use reorder::{Reorder, Sequenced, SlotPool};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the consumer receives, in frame order.
#[derive(Debug)]
pub enum Event {
    Frame(Box<FrameResult>),
    /// An input the source could not read and skipped (the run goes on); show it as a
    /// warning.
    Skipped(Error),
    /// The source has no more frames (a paused GUI may still seek).
    EndOfStream,
    Error(Error),
    /// The detector could not analyse this frame; later frames still come. Consumers that
    /// cannot go on without it treat it as an [`Event::Error`] ([`Event::into_failure`]).
    FrameFailed(Box<crate::Frame>, Error),
}

impl Event {
    /// A failed frame as the error that ends a run, for consumers that need every result.
    pub fn into_failure(self) -> Event {
        match self {
            Event::FrameFailed(_, e) => Event::Error(e),
            other => other,
        }
    }
}

/// What travels from the dispatcher and the workers to the consumer.
pub(crate) enum Msg {
    Frame(Result<Box<FrameResult>>),
    /// Detection failed on this frame.
    Failed(Box<crate::Frame>, Error),
    Skipped(Error),
    End,
}

/// A running pipeline. Drop it to stop.
pub struct Pipeline {
    controls: Arc<Controls>,
    info: SourceInfo,
    results: Receiver<Sequenced<Msg>>,
    reorder: Reorder<Msg>,
    finished: bool,
    stop: Option<Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// One message per worker loop that has finished.
    workers_done: Receiver<()>,
    worker_threads: Vec<std::thread::JoinHandle<()>>,
}

/// Frame size assumed before a camera has delivered its first frame.
const UNKNOWN_FRAME_BYTES: u64 = 1920 * 1080 * 3;

/// Frames in flight at most (the slot count, bounding memory) and the capacity of the
/// source's hand-over channel, for `info`'s frame size.
fn frame_slots(info: &SourceInfo, config: &PipelineConfig) -> (usize, usize) {
    let frame_bytes = match info.width as u64 * info.height as u64 * 3 {
        0 => UNKNOWN_FRAME_BYTES,
        n => n,
    };
    let slots = config.slots_for(frame_bytes);
    match config.mode {
        Mode::EveryFrame => (slots, slots),
        // Live: one frame in flight per worker and no queue in front of them. A second slot
        // per worker would let the dispatcher queue a frame behind a busy worker, where it can
        // no longer be replaced by a newer one and waits a whole inference (measured with
        // `bench --live`: latency 2-3x the inference time). The newest frame waits in the
        // one-frame hand-over channel instead, replaced until a worker is free.
        Mode::Live => (slots.min(config.workers.max(1)), 1),
    }
}

/// The running worker loops: the threads they run on, where the dispatcher sends them work, and
/// one message per worker loop that has finished.
struct Workers {
    threads: Vec<std::thread::JoinHandle<()>>,
    work: Sender<worker::WorkItem>,
    done: Receiver<()>,
}

/// Start `config.workers` worker loops, each on its own named thread, each sending to
/// `results`.
///
/// Plain threads, not jobs of a rayon pool: a rayon worker waiting for another pool (tract's
/// matmul pool, `--matmul-threads` > 1) runs jobs of its own pool meanwhile, so when the second
/// loop had not been picked up yet, the first worker ran it nested inside its own inference:
/// tract's thread-local scratch was borrowed twice ("RefCell already borrowed" panics, and the
/// outer frame could never finish). Seen once on a fresh-clone CI run (test
/// `pipeline::matmul_threads_with_several_workers_neither_deadlock_nor_change_results`).
fn start_workers(config: &PipelineConfig, results: &Sender<Sequenced<Msg>>) -> Result<Workers> {
    let (work_tx, work_rx) = crossbeam_channel::bounded(config.workers);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(config.workers);
    let executor = (config.matmul_threads > 1).then(|| {
        tract_linalg::multithread::Executor::multithread_with_name(config.matmul_threads, "matmul")
    });
    let mut threads = Vec::with_capacity(config.workers);
    for i in 0..config.workers {
        let w = worker::Worker {
            work: work_rx.clone(),
            results: results.clone(),
            wake: config.on_event.clone(),
            delay: config.debug_delay,
            fail_frame: crate::env::debug_fail_frame(),
            panic_frame: (crate::env::debug_panic().as_deref() == Some("worker")).then_some(0),
            executor: executor.clone(),
            exclusive: config.workers == 1,
            done: done_tx.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("detect-worker-{i}"))
            .spawn(move || w.run())
            .map_err(|e| Error::io("cannot start a detection worker thread", e))?;
        threads.push(thread);
    }
    drop((work_rx, done_tx));
    Ok(Workers {
        threads,
        work: work_tx,
        done: done_rx,
    })
}

/// Start the named thread that owns `source` and hands its frames to `frames` (`drain` is the
/// receiving end, for live mode's newest-wins replacement).
fn spawn_source_thread(
    source: Box<dyn FrameSource>,
    controls: &Arc<Controls>,
    config: &PipelineConfig,
    frames: Sender<source_loop::SourceItem>,
    drain: Receiver<source_loop::SourceItem>,
    stop: &Receiver<()>,
) -> Result<std::thread::JoinHandle<()>> {
    let (controls, stop_rx, config) = (controls.clone(), stop.clone(), config.clone());
    std::thread::Builder::new()
        .name("pipeline-source".into())
        .spawn(move || source_loop::run(source, &controls, &config, &frames, &drain, &stop_rx))
        .map_err(|e| Error::io("cannot start source thread", e))
}

impl Pipeline {
    pub fn start(
        source: Box<dyn FrameSource>,
        model: Arc<Model>,
        params: DecodeParams,
        config: PipelineConfig,
    ) -> Result<Pipeline> {
        config.validate()?;
        let info = source.info().clone();
        check_frame_size(&info.name, info.width, info.height)?;
        let controls = Arc::new(Controls::new(model, params, config.speed, config.looping));
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let (slots, capacity) = frame_slots(&info, &config);
        let (frame_tx, frame_rx) = crossbeam_channel::bounded(capacity);
        let (result_tx, result_rx) = crossbeam_channel::unbounded();
        let workers = start_workers(&config, &result_tx)?;
        let source_thread = spawn_source_thread(
            source,
            &controls,
            &config,
            frame_tx,
            frame_rx.clone(),
            &stop_rx,
        )?;
        let dispatcher = dispatch::Dispatcher {
            controls: controls.clone(),
            frames: frame_rx,
            slots: SlotPool::new(slots),
            work: workers.work,
            results: result_tx,
            wake: config.on_event.clone(),
            stop: stop_rx,
        };
        let dispatch_thread = std::thread::Builder::new()
            .name("pipeline-dispatch".into())
            .spawn(move || dispatcher.run())
            .map_err(|e| Error::io("cannot start dispatch thread", e))?;
        Ok(Pipeline {
            controls,
            info,
            results: result_rx,
            reorder: Reorder::new(),
            finished: false,
            stop: Some(stop_tx),
            threads: vec![source_thread, dispatch_thread],
            workers_done: workers.done,
            worker_threads: workers.threads,
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
                Ok(msg) => self.reorder.insert(msg),
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
            self.reorder.insert(msg);
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

    /// The next current (not stale) event that has arrived in order.
    fn pop_ready(&mut self) -> Option<Event> {
        loop {
            let (epoch, body) = self.reorder.pop()?;
            if epoch < self.controls.epoch() {
                continue; // produced before a seek: stale
            }
            return Some(match body {
                Msg::Frame(Ok(fr)) => Event::Frame(fr),
                Msg::Frame(Err(e)) => Event::Error(e),
                Msg::Failed(frame, e) => Event::FrameFailed(frame, e),
                Msg::Skipped(e) => Event::Skipped(e),
                Msg::End => Event::EndOfStream,
            });
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.take(); // disconnects: every blocked select wakes up
        self.controls.set_paused(false);
        self.reorder.clear();
        // Keep draining so no worker blocks while we join.
        while self.results.try_recv().is_ok() {}
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // The dispatcher is gone, so the work channel is closed: wait for every worker loop to
        // finish its frame and return.
        let mut finished = 0;
        for _ in 0..self.worker_threads.len() {
            while self.results.try_recv().is_ok() {}
            if self
                .workers_done
                .recv_timeout(Duration::from_secs(30))
                .is_err()
            {
                break;
            }
            finished += 1;
        }
        // Joined when every loop said it is done (a worker stuck for 30 s is left behind
        // rather than hanging the caller).
        if finished == self.worker_threads.len() {
            for t in self.worker_threads.drain(..) {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceKind;

    fn info() -> SourceInfo {
        SourceInfo {
            name: "cam".into(),
            kind: SourceKind::Camera,
            width: 1280,
            height: 720,
            fps: Some(30.0),
            duration_ms: None,
            frame_count: None,
            details: String::new(),
        }
    }

    #[test]
    fn live_mode_queues_no_frame_behind_a_busy_worker() {
        for workers in [1, 2, 4] {
            let live = PipelineConfig {
                workers,
                mode: Mode::Live,
                ..Default::default()
            };
            // One frame in flight per worker; the newest waits in a one-frame hand-over.
            assert_eq!(frame_slots(&info(), &live), (workers, 1));
            let batch = PipelineConfig {
                mode: Mode::EveryFrame,
                ..live
            };
            assert_eq!(frame_slots(&info(), &batch), (2 * workers, 2 * workers));
        }
    }
}
