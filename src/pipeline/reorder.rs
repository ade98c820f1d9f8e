//! In-flight slots and the reorder buffer.
//!
//! A [`Slot`] is the right to have one message between the dispatcher and the consumer. The
//! dispatcher takes one before it sends anything downstream (a frame, the end of the stream,
//! an error); the message carries it; dropping the message gives it back. So a slot returns
//! whatever happens to its message (consumed, stale after a seek, discarded at shutdown) and
//! no code path can leak one: the number of messages in flight, and so memory, stays bounded.
//!
//! The [`Reorder`] buffer owns messages that arrived ahead of their turn (workers finish out of
//! order) and hands them out by sequence number.

use crossbeam_channel::{Receiver, Sender};
use std::collections::BTreeMap;

/// The right to have one message in flight. Returned to its pool on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    home: Sender<()>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The pool's channel holds exactly as many tokens as there are slots: never full here.
        let _ = self.home.try_send(());
    }
}

/// A fixed number of [`Slot`]s.
pub(crate) struct SlotPool {
    give: Sender<()>,
    take: Receiver<()>,
}

impl SlotPool {
    pub fn new(slots: usize) -> SlotPool {
        let (give, take) = crossbeam_channel::bounded(slots);
        for _ in 0..slots {
            let _ = give.try_send(());
        }
        SlotPool { give, take }
    }

    /// The channel to wait on for a free slot (for `select!`); turn its token into a slot with
    /// [`SlotPool::claim`].
    pub fn free(&self) -> &Receiver<()> {
        &self.take
    }

    pub fn claim(&self) -> Slot {
        Slot {
            home: self.give.clone(),
        }
    }

    /// Slots not currently held by any message.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.take.len()
    }
}

/// A message that owns a slot and has a place in the output order.
pub(crate) struct Sequenced<T> {
    pub seq: u64,
    pub epoch: u64,
    pub body: T,
    pub slot: Slot,
}

/// Messages waiting for their turn.
pub(crate) struct Reorder<T> {
    waiting: BTreeMap<u64, Sequenced<T>>,
    next_seq: u64,
}

impl<T> Reorder<T> {
    pub fn new() -> Self {
        Reorder {
            waiting: BTreeMap::new(),
            next_seq: 0,
        }
    }

    pub fn insert(&mut self, msg: Sequenced<T>) {
        self.waiting.insert(msg.seq, msg);
    }

    /// The next message in order, if it has arrived. Its slot is released here: the caller
    /// gets the body and the epoch, never the slot.
    pub fn pop(&mut self) -> Option<(u64, T)> {
        let Sequenced {
            epoch, body, slot, ..
        } = self.waiting.remove(&self.next_seq)?;
        self.next_seq += 1;
        drop(slot);
        Some((epoch, body))
    }

    /// Drop everything waiting (their slots go back).
    pub fn clear(&mut self) {
        self.waiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Strategy;

    #[test]
    fn slots_come_back_whatever_happens_to_their_message() {
        let pool = SlotPool::new(3);
        let mut r = Reorder::new();
        for seq in [2u64, 0, 1] {
            assert!(pool.free().try_recv().is_ok());
            r.insert(Sequenced {
                seq,
                epoch: 0,
                body: seq,
                slot: pool.claim(),
            });
        }
        assert_eq!(pool.available(), 0);
        assert_eq!(r.pop().map(|m| m.1), Some(0));
        assert_eq!(pool.available(), 1, "consumed: slot back");
        assert_eq!(r.pop().map(|m| m.1), Some(1));
        r.clear();
        assert_eq!(pool.available(), 3, "discarded: slots back");
    }

    proptest::proptest! {
        /// Whatever order workers finish in, messages come out in sequence and every slot
        /// goes back.
        #[test]
        fn any_arrival_order_comes_out_in_sequence(
            order in proptest::collection::vec(0u64..1000, 1..60).prop_map(|v| {
                let mut idx: Vec<u64> = (0..v.len() as u64).collect();
                idx.sort_by_key(|i| v[*i as usize]);
                idx
            }),
        ) {
            let n = order.len();
            let pool = SlotPool::new(n);
            let mut r = Reorder::new();
            let mut out = Vec::new();
            for seq in order {
                proptest::prop_assert!(pool.free().try_recv().is_ok());
                r.insert(Sequenced { seq, epoch: 0, body: seq, slot: pool.claim() });
                while let Some((_, body)) = r.pop() {
                    out.push(body);
                }
            }
            proptest::prop_assert_eq!(out, (0..n as u64).collect::<Vec<_>>());
            proptest::prop_assert_eq!(pool.available(), n);
        }
    }
}
