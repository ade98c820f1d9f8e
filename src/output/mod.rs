//! Where results go outside the GUI: JSON Lines records, annotated pictures and videos, all
//! written beside their target and renamed when complete (`atomic`).

pub mod annotate;
pub mod atomic;
pub mod cover;
pub mod jsonl;
pub mod mkv;
pub mod style;
pub mod table;
pub mod video;
pub mod writer;

pub use annotate::{draw_detections, draw_detections_with};
pub use jsonl::FrameRecord;
pub use style::{class_color, track_color};
pub use writer::{Format, ResultWriter};
