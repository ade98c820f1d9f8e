//! The source thread: pulls frames from the [`FrameSource`], applies seeks, pause/step,
//! pacing, looping and the frame step, and hands frames to the dispatcher.
//!
//! It owns the source. In every-frame mode the hand-over channel is bounded, so a slow
//! consumer pushes back to the decoder; in live mode the channel holds one frame and a newer
//! frame replaces it (counted as dropped).

use super::config::{Mode, PipelineConfig};
use super::controls::Controls;
use super::worker::Job;
use crate::source::{FrameSource, SeekTarget};
use crate::Error;
use crossbeam_channel::{select, Receiver, Sender, TrySendError};
use std::time::{Duration, Instant};

/// What the source thread hands to the dispatcher.
pub(crate) enum SourceItem {
    Frame(Job),
    /// An input the source skipped (one unreadable picture of a folder).
    Skipped(Error, u64),
    End(u64),
    Error(Error, u64),
}

pub(crate) fn stopped(stop: &Receiver<()>) -> bool {
    matches!(
        stop.try_recv(),
        Err(crossbeam_channel::TryRecvError::Disconnected)
    )
}

struct Handover<'a> {
    mode: Mode,
    tx: &'a Sender<SourceItem>,
    drain: &'a Receiver<SourceItem>,
    stop: &'a Receiver<()>,
    controls: &'a Controls,
}

impl Handover<'_> {
    /// Hand `item` over; `false` once the pipeline is stopping.
    fn send(&self, item: SourceItem) -> bool {
        let item = match (self.mode, item) {
            (Mode::Live, SourceItem::Frame(job)) => {
                match self.tx.try_send(SourceItem::Frame(job)) {
                    Ok(()) => return true,
                    Err(TrySendError::Disconnected(_)) => return false,
                    Err(TrySendError::Full(item)) => {
                        // Newest wins: replace the frame no worker has taken yet.
                        if let Ok(SourceItem::Frame(_)) = self.drain.try_recv() {
                            self.controls.count_dropped();
                        }
                        item
                    }
                }
            }
            (_, item) => item,
        };
        select! {
            send(self.tx, item) -> r => r.is_ok(),
            recv(self.stop) -> _ => false,
        }
    }
}

/// Wall-clock pacing of frames at their presentation times.
struct Pacer {
    clock: Option<(Instant, f64)>,
}

impl Pacer {
    fn reset(&mut self) {
        self.clock = None;
    }

    /// Sleep until `pts_ms` is due, in small steps so stop, pause and seek stay responsive.
    fn wait(&mut self, pts_ms: f64, controls: &Controls, stop: &Receiver<()>) {
        let speed = controls.speed();
        let (start, pts0) = *self.clock.get_or_insert((Instant::now(), pts_ms));
        let due = Duration::from_secs_f64(((pts_ms - pts0) / speed / 1000.0).max(0.0));
        let now = start.elapsed();
        if due <= now {
            return;
        }
        let wake = Instant::now() + (due - now);
        while Instant::now() < wake && !stopped(stop) && !controls.seek_pending() {
            std::thread::sleep((wake - Instant::now()).min(Duration::from_millis(10)));
        }
    }
}

pub(crate) fn run(
    mut source: Box<dyn FrameSource>,
    controls: &Controls,
    config: &PipelineConfig,
    tx: &Sender<SourceItem>,
    drain: &Receiver<SourceItem>,
    stop: &Receiver<()>,
) {
    let out = Handover {
        mode: config.mode,
        tx,
        drain,
        stop,
        controls,
    };
    let mut pacer = Pacer { clock: None };
    let mut at_end = false;
    loop {
        if stopped(stop) {
            return;
        }
        if let Some((target, epoch)) = controls.take_seek() {
            pacer.reset();
            at_end = false;
            if let Err(e) = source.seek(target) {
                if !out.send(SourceItem::Error(e, epoch)) {
                    return;
                }
            }
            if controls.is_paused() {
                controls.step(); // show the frame we seeked to
            }
            continue;
        }
        let epoch = controls.epoch();
        if let Some(frame) = controls.take_reprocess() {
            let job = Job {
                frame,
                epoch,
                captured: Instant::now(),
                decode_ms: None,
            };
            if !out.send(SourceItem::Frame(job)) {
                return;
            }
            continue;
        }
        let stepping = controls.take_step();
        if (controls.is_paused() && !stepping) || at_end {
            pacer.reset();
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let t0 = Instant::now();
        let item = source.next_frame();
        let decode_ms = t0.elapsed().as_secs_f64() * 1e3;
        controls.set_source_dropped(source.dropped_frames());
        let frame = match item {
            Some(Ok(f)) => f,
            Some(Err(e @ Error::Skipped { .. })) => {
                if !out.send(SourceItem::Skipped(e, epoch)) {
                    return;
                }
                continue;
            }
            Some(Err(e)) => {
                let _ = out.send(SourceItem::Error(e, epoch));
                return;
            }
            None => {
                if controls.is_looping() && source.seek(SeekTarget::Frame(0)).is_ok() {
                    pacer.reset();
                    continue;
                }
                if !out.send(SourceItem::End(epoch)) {
                    return;
                }
                at_end = true;
                continue;
            }
        };
        if config.end_ms.is_some_and(|end| frame.pts_ms > end) {
            if !out.send(SourceItem::End(epoch)) {
                return;
            }
            at_end = true;
            continue;
        }
        if !frame.index.is_multiple_of(config.every) {
            continue;
        }
        if config.realtime && !stepping {
            pacer.wait(frame.pts_ms, controls, stop);
        }
        let job = Job {
            frame,
            epoch,
            captured: t0,
            decode_ms: Some(decode_ms),
        };
        if !out.send(SourceItem::Frame(job)) {
            return;
        }
    }
}
