//! Centerscope: find objects in video with MobileNet CenterNet detectors on the CPU.
//!
//! The library holds everything; `main.rs` only dispatches. The flow of a frame is
//! `source` (decode a picture) → `preprocess` (resize into the network's input, recording the
//! transform) → `model` (tract inference) → `decode` (heatmap peaks / poses → boxes in source
//! pixels) → `output` (JSON Lines, annotated and anonymised pictures and videos) or `app` (the
//! desktop window). `export` runs a whole file through that flow into a new video or picture.
//! `pipeline` runs that flow for many frames on a set of worker threads.

pub mod app;
pub mod cli;
pub mod decode;
pub mod detection;
pub mod env;
pub mod error;
pub mod export;
pub mod frame;
pub mod kernels;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod preprocess;
pub mod source;
pub mod track;

pub use detection::{Detection, FrameResult, StageTimings};
pub use error::{Error, Result};
pub use frame::Frame;
