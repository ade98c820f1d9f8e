//! A worker loop: owns its tract session, takes dispatched frames until the work channel
//! closes, sends each result (with the slot it was dispatched under) to the consumer.
//!
//! One long-lived loop per plain thread (`detect-worker-N`), neither a rayon job per frame nor
//! a loop per rayon worker: a rayon worker waiting inside tract's matmul pool runs other jobs of
//! its own pool meanwhile (a second frame, or a second worker loop not yet started) on the same
//! thread and re-enters tract's per-thread state.

use super::reorder::Sequenced;
use super::Msg;
use crate::decode::DecodeParams;
use crate::model::{Model, Session};
use crate::{Detection, Error, FrameResult, Result, StageTimings};
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A frame that entered the pipeline, with when and how it was produced.
pub(crate) struct Job {
    pub frame: crate::Frame,
    pub epoch: u64,
    pub captured: Instant,
    pub decode_ms: Option<f64>,
}

/// One frame for a worker, with the model and settings it was dispatched under.
pub(crate) struct WorkItem {
    pub job: Job,
    pub model: Arc<Model>,
    pub params: Arc<DecodeParams>,
    pub size: Option<[usize; 2]>,
    pub seq: u64,
    pub slot: super::reorder::Slot,
}

pub(crate) struct Worker {
    pub work: Receiver<WorkItem>,
    pub results: Sender<Sequenced<Msg>>,
    pub wake: Option<Arc<dyn Fn() + Send + Sync>>,
    pub delay: Option<Duration>,
    /// Fail detection on this frame index (`CENTERSCOPE_DEBUG_FAIL_FRAME`).
    pub fail_frame: Option<u64>,
    /// Panic on this frame index (`CENTERSCOPE_DEBUG_PANIC=worker`: the first one).
    pub panic_frame: Option<u64>,
    pub executor: Option<tract_linalg::multithread::Executor>,
    /// This worker is the executor's only user (one worker): it may keep the pool's threads
    /// awake for the length of an inference ([`crate::kernels::with_executor_exclusive`]).
    pub exclusive: bool,
    pub done: Sender<()>,
}

impl Worker {
    pub fn run(self) {
        let mut session: Option<Session> = None;
        while let Ok(item) = self.work.recv() {
            let started = Instant::now();
            let queue_ms = (started - item.job.captured).as_secs_f64() * 1e3;
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut run = || self.detect(&mut session, &item);
                match &self.executor {
                    Some(e) if self.exclusive => crate::kernels::with_executor_exclusive(e, run),
                    Some(e) => crate::kernels::with_executor(e, run),
                    None => run(),
                }
            }))
            .unwrap_or_else(|_| {
                session = None; // its state may be half-updated
                Err(Error::model(
                    item.model.id.as_ref(),
                    "the detector failed on this frame (internal error)",
                ))
            });
            let WorkItem {
                seq,
                job,
                model,
                slot,
                ..
            } = item;
            let body = match outcome {
                Ok((detections, mut timings, raw)) => {
                    timings.decode = job.decode_ms;
                    timings.queue = Some(queue_ms);
                    timings.end_to_end = Some(job.captured.elapsed().as_secs_f64() * 1e3);
                    Msg::Frame(Ok(Box::new(FrameResult {
                        frame: job.frame,
                        model_id: model.id.clone(),
                        detections,
                        timings,
                        raw: Some(Arc::new(raw)),
                        predicted: Vec::new(),
                    })))
                }
                // The frame goes with its error: a consumer may still use it.
                Err(e) => Msg::Failed(Box::new(job.frame), e),
            };
            let _ = self.results.send(Sequenced {
                seq,
                epoch: job.epoch,
                body,
                slot,
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
    ) -> Result<(Vec<Detection>, StageTimings, crate::model::RawOutputs)> {
        // A swapped model gets a fresh session; the old one's buffers go with it.
        let s = match session {
            Some(s) if Arc::ptr_eq(s.model(), &item.model) => s,
            _ => session.insert(item.model.session()),
        };
        if s.input_size_override() != item.size {
            s.set_input_size(item.size)?;
        }
        if self.panic_frame == Some(item.job.frame.index) {
            panic!("deliberate panic (CENTERSCOPE_DEBUG_PANIC=worker)");
        }
        if self.fail_frame == Some(item.job.frame.index) {
            return Err(Error::model(
                item.model.id.as_ref(),
                format!(
                    "detection failed on frame {} (CENTERSCOPE_DEBUG_FAIL_FRAME)",
                    item.job.frame.index
                ),
            ));
        }
        let out = s.detect_raw(&item.job.frame, &item.params);
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        out
    }
}
