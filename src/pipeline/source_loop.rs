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
use std::ops::ControlFlow;
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

/// How long after the first paced frame (`pts0_ms`) the frame at `pts_ms` is due at `speed`.
/// Time stamps come from the file: one that is not a number counts as due now, one too far
/// ahead for `Duration` (a damaged or hostile file, 1e20 s) as `Duration::MAX`, instead of
/// `Duration::from_secs_f64`'s panic.
fn due_after(pts_ms: f64, pts0_ms: f64, speed: f64) -> Duration {
    let secs = ((pts_ms - pts0_ms) / speed / 1000.0).max(0.0);
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

/// The longest single wait for a frame: a frame due later (an absurd time stamp) is shown
/// after a day; stop and seek end any wait at once.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

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
        let due = due_after(pts_ms, pts0, speed);
        let now = start.elapsed();
        if due <= now {
            return;
        }
        let wake = Instant::now() + (due - now).min(LONGEST_WAIT);
        while Instant::now() < wake && !stopped(stop) && !controls.seek_pending() {
            std::thread::sleep((wake - Instant::now()).min(Duration::from_millis(10)));
        }
    }
}

/// The source thread's state: the source, where its items go, and whether it is at the end.
struct SourceLoop<'a> {
    source: Box<dyn FrameSource>,
    controls: &'a Controls,
    config: &'a PipelineConfig,
    stop: &'a Receiver<()>,
    out: Handover<'a>,
    pacer: Pacer,
    /// The end was reached (and reported); wait for a seek or a stop.
    at_end: bool,
}

pub(crate) fn run(
    source: Box<dyn FrameSource>,
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
    let mut source_loop = SourceLoop {
        source,
        controls,
        config,
        stop,
        out,
        pacer: Pacer { clock: None },
        at_end: false,
    };
    while source_loop.turn().is_continue() {}
}

impl SourceLoop<'_> {
    /// One turn of the loop: a stop, a seek, a frame to reprocess, a pause, or the next frame
    /// of the source. `Break` once the thread should return.
    fn turn(&mut self) -> ControlFlow<()> {
        if stopped(self.stop) {
            return ControlFlow::Break(());
        }
        if let Some((target, epoch)) = self.controls.take_seek() {
            return self.handle_seek(target, epoch);
        }
        let epoch = self.controls.epoch();
        if let Some(frame) = self.controls.take_reprocess() {
            let job = Job {
                frame,
                epoch,
                captured: Instant::now(),
                decode_ms: None,
            };
            return self.send(SourceItem::Frame(job));
        }
        let stepping = self.controls.take_step();
        if (self.controls.is_paused() && !stepping) || self.at_end {
            self.pacer.reset();
            std::thread::sleep(Duration::from_millis(10));
            return ControlFlow::Continue(());
        }
        self.next_item(epoch, stepping)
    }

    /// Hand `item` over; `Break` once the pipeline is stopping.
    fn send(&self, item: SourceItem) -> ControlFlow<()> {
        if self.out.send(item) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    fn handle_seek(&mut self, target: SeekTarget, epoch: u64) -> ControlFlow<()> {
        self.pacer.reset();
        self.at_end = false;
        if let Err(e) = self.source.seek(target) {
            self.send(SourceItem::Error(e, epoch))?;
        }
        if self.controls.is_paused() {
            self.controls.step(); // show the frame we seeked to
        }
        ControlFlow::Continue(())
    }

    /// Read the next frame of the source and hand it over (paced when realtime), or report a
    /// skipped input, an error or the end.
    fn next_item(&mut self, epoch: u64, stepping: bool) -> ControlFlow<()> {
        let t0 = Instant::now();
        let item = self.source.next_frame();
        let decode_ms = t0.elapsed().as_secs_f64() * 1e3;
        self.controls
            .set_source_dropped(self.source.dropped_frames());
        let frame = match item {
            Some(Ok(f)) => f,
            Some(Err(e @ Error::Skipped { .. })) => {
                return self.send(SourceItem::Skipped(e, epoch));
            }
            Some(Err(e)) => {
                let _ = self.out.send(SourceItem::Error(e, epoch));
                return ControlFlow::Break(());
            }
            None => return self.source_ended(epoch),
        };
        if self.config.end_ms.is_some_and(|end| frame.pts_ms > end) {
            return self.reached_end(epoch);
        }
        if !frame.index.is_multiple_of(self.config.every) {
            return ControlFlow::Continue(());
        }
        if self.config.realtime && !stepping {
            self.pacer.wait(frame.pts_ms, self.controls, self.stop);
        }
        let job = Job {
            frame,
            epoch,
            captured: t0,
            decode_ms: Some(decode_ms),
        };
        self.send(SourceItem::Frame(job))
    }

    /// The source has no more frames: start over when looping, else report the end.
    fn source_ended(&mut self, epoch: u64) -> ControlFlow<()> {
        if self.controls.is_looping() && self.source.seek(SeekTarget::Frame(0)).is_ok() {
            self.pacer.reset();
            return ControlFlow::Continue(());
        }
        self.reached_end(epoch)
    }

    /// Report the end and wait for a seek or a stop.
    fn reached_end(&mut self, epoch: u64) -> ControlFlow<()> {
        self.send(SourceItem::End(epoch))?;
        self.at_end = true;
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_times_from_a_hostile_file_never_overflow_the_pacer() {
        assert_eq!(due_after(1500.0, 500.0, 1.0), Duration::from_secs(1));
        assert_eq!(due_after(1500.0, 500.0, 2.0), Duration::from_millis(500));
        assert_eq!(due_after(0.0, 500.0, 1.0), Duration::ZERO);
        // Each of these panicked in Duration::from_secs_f64; a day later (not never) is what
        // the pacer waits at most (`LONGEST_WAIT`).
        assert_eq!(due_after(1e30, 0.0, 1.0), Duration::MAX);
        assert_eq!(due_after(f64::INFINITY, 0.0, 1.0), Duration::MAX);
        assert_eq!(due_after(f64::NAN, 0.0, 1.0), Duration::ZERO);
        assert_eq!(due_after(1000.0, 0.0, 0.0), Duration::MAX);
        // Media far into a long file stays paced exactly (no cap on the due time itself).
        let two_days_ms = 2.0 * 86_400_000.0;
        assert_eq!(
            due_after(two_days_ms, 0.0, 1.0),
            Duration::from_secs(2 * 86_400)
        );
        assert!(Instant::now().checked_add(LONGEST_WAIT).is_some());
    }
}
