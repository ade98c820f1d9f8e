//! One error type for everything a user can cause. Every variant renders as a single line that
//! names the thing at fault and, where there is one, the fix.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line value or setting outside its allowed range.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{path}: no such file or directory; check the path")]
    NotFound { path: PathBuf },
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("model {model}: {message}")]
    Model { model: String, message: String },
    #[error("{0}")]
    Source(String),
    /// One input among many could not be read; the run goes on without it.
    #[error("{path}: skipped ({message})")]
    Skipped { path: PathBuf, message: String },
    #[error("camera: {0}")]
    Camera(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
    /// The user stopped the work (Ctrl-C, Cancel); nothing is left under the final name.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    pub fn model(model: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Model {
            model: model.into(),
            message: message.into(),
        }
    }

    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The message on one line (nested causes are joined with `: `).
    pub fn one_line(&self) -> String {
        self.to_string().replace('\n', " ")
    }
}

thread_local! {
    /// How many [`catch_panic`] calls are running on this thread.
    static CATCHING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether a panic on this thread right now will be caught by [`catch_panic`] and reported as an
/// ordinary error: the CLI's panic hook stays quiet then, so the failure prints exactly one line.
pub fn panic_is_caught() -> bool {
    CATCHING.with(|c| c.get() > 0)
}

/// Run `work`; a panic inside it (a bug in tract or in our code, met on hostile input) becomes
/// the error `on_panic` makes from the panic's message, instead of unwinding further.
pub fn catch_panic<T>(
    work: impl FnOnce() -> Result<T>,
    on_panic: impl FnOnce(&str) -> Error,
) -> Result<T> {
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            CATCHING.with(|c| c.set(c.get().saturating_sub(1)));
        }
    }
    CATCHING.with(|c| c.set(c.get() + 1));
    let depth = Depth;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    drop(depth);
    outcome.unwrap_or_else(|payload| Err(on_panic(&panic_message(payload.as_ref()))))
}

/// A panic's message on one line (`"unknown panic"` for payloads that are not text).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
        .replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_panic_turns_a_panic_into_the_error_and_marks_the_thread_while_running() {
        assert!(!panic_is_caught());
        let r: Result<()> = catch_panic(
            || {
                assert!(panic_is_caught());
                panic!("index out of bounds: the len is 2 but the index is 3")
            },
            |m| Error::Other(format!("caught: {m}")),
        );
        assert_eq!(
            r.unwrap_err().to_string(),
            "caught: index out of bounds: the len is 2 but the index is 3"
        );
        assert!(!panic_is_caught(), "the mark is removed after a panic");
        assert_eq!(catch_panic(|| Ok(7), |_| Error::Cancelled).unwrap(), 7);
        assert!(!panic_is_caught());
    }
}
