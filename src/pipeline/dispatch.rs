//! The dispatcher: waits for a free in-flight [`Slot`](super::reorder::Slot), takes the next
//! item from the source thread, snapshots model and settings, and sends the frame to a worker
//! (or the end / an error straight to the consumer). Everything it sends carries its slot.

use super::controls::Controls;
use super::reorder::{Sequenced, SlotPool};
use super::source_loop::SourceItem;
use super::worker::WorkItem;
use super::Msg;
use crossbeam_channel::{select, Receiver, Sender};
use std::sync::Arc;

pub(crate) struct Dispatcher {
    pub controls: Arc<Controls>,
    pub frames: Receiver<SourceItem>,
    pub slots: SlotPool,
    pub work: Sender<WorkItem>,
    pub results: Sender<Sequenced<Msg>>,
    pub wake: Option<Arc<dyn Fn() + Send + Sync>>,
    pub stop: Receiver<()>,
}

impl Dispatcher {
    pub fn run(self) {
        let mut seq = 0u64;
        loop {
            // A free in-flight slot first, so a frame waiting in the channel can still be
            // replaced by a newer one in live mode.
            select! {
                recv(self.slots.free()) -> t => if t.is_err() { return },
                recv(self.stop) -> _ => return,
            }
            let slot = self.slots.claim();
            let item = select! {
                recv(self.frames) -> f => match f { Ok(f) => f, Err(_) => return },
                recv(self.stop) -> _ => return,
            };
            let (epoch, body) = match item {
                SourceItem::Frame(job) => {
                    // Model and settings are read once per frame: a swap lands between frames.
                    let Some(now) = self.controls.snapshot() else {
                        return;
                    };
                    let item = WorkItem {
                        job,
                        model: now.model,
                        params: now.params,
                        size: now.input_size,
                        seq,
                        slot,
                    };
                    seq += 1;
                    select! {
                        send(self.work, item) -> r => if r.is_err() { return },
                        recv(self.stop) -> _ => return,
                    }
                    continue;
                }
                SourceItem::End(epoch) => (epoch, Msg::End),
                SourceItem::Error(e, epoch) => (epoch, Msg::Frame(Err(e))),
                SourceItem::Skipped(e, epoch) => (epoch, Msg::Skipped(e)),
            };
            let _ = self.results.send(Sequenced {
                seq,
                epoch,
                body,
                slot,
            });
            seq += 1;
            if let Some(f) = &self.wake {
                f()
            }
        }
    }
}
