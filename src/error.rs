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
