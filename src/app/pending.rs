//! Background work the UI waits for without blocking: model loading, opening a source, listing
//! cameras, the native file dialog. Each [`Pending`] runs on its own named thread and is polled
//! once per UI frame; it always ends in `Ok`, `Err`, or — if the thread panicked or vanished —
//! an error saying so, never a spinner that turns forever.

use crate::{Error, Result};
use crossbeam_channel::{Receiver, TryRecvError};
use std::time::Instant;

/// What a poll finds.
#[derive(Debug)]
pub enum Poll<T> {
    Running,
    Done(Result<T>),
}

pub struct Pending<T> {
    what: String,
    rx: Receiver<Result<T>>,
    started: Instant,
}

impl<T: Send + 'static> Pending<T> {
    /// Run `work` on a thread named `thread`; `what` names the task in error messages
    /// ("loading model centerface").
    pub fn spawn(
        thread: &str,
        what: impl Into<String>,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<Pending<T>> {
        let what = what.into();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name(thread.into())
            .spawn(move || {
                // A panic drops `tx` without a message: the poll reports it.
                let _ = tx.send(work());
            })
            .map_err(|e| Error::Other(format!("cannot start {what}: {e}")))?;
        Ok(Pending {
            what,
            rx,
            started: Instant::now(),
        })
    }
}

impl<T> Pending<T> {
    /// What the task is doing (for a spinner's label).
    pub fn what(&self) -> &str {
        &self.what
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// Once per UI frame. After `Done` the task is over; drop it.
    pub fn poll(&self) -> Poll<T> {
        match self.rx.try_recv() {
            Ok(r) => Poll::Done(r),
            Err(TryRecvError::Empty) => Poll::Running,
            Err(TryRecvError::Disconnected) => Poll::Done(Err(Error::Other(format!(
                "{} stopped unexpectedly (internal error); try again",
                self.what
            )))),
        }
    }
}

/// Poll the task in `slot`; when it is over, take it out and return its result.
pub fn take_done<T>(slot: &mut Option<Pending<T>>) -> Option<Result<T>> {
    match slot.as_ref()?.poll() {
        Poll::Running => None,
        Poll::Done(r) => {
            *slot = None;
            Some(r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn wait<T>(p: &mut Option<Pending<T>>) -> Result<T> {
        let start = Instant::now();
        loop {
            if let Some(r) = take_done(p) {
                return r;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "never finished");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn results_errors_and_panics_all_end_the_task() {
        let mut ok = Some(Pending::spawn("t-ok", "adding", || Ok(2 + 2)).expect("spawn"));
        assert_eq!(wait(&mut ok).ok(), Some(4));
        assert!(ok.is_none());
        let mut err = Some(
            Pending::<()>::spawn("t-err", "failing", || Err(Error::Other("no".into())))
                .expect("spawn"),
        );
        assert!(wait(&mut err).is_err());
        // Issue 10: a panicking loader used to leave the spinner turning forever.
        let mut panics = Some(
            Pending::<()>::spawn("t-panic", "loading model x", || panic!("bug")).expect("spawn"),
        );
        let e = wait(&mut panics).expect_err("a panic is an error");
        assert!(e.to_string().contains("loading model x"), "{e}");
    }
}
