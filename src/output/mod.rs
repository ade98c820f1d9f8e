//! Where results go outside the GUI: JSON Lines records and annotated pictures.

pub mod annotate;
pub mod jsonl;
pub mod video;

pub use annotate::{class_color, draw_detections};
pub use jsonl::{FrameRecord, JsonlWriter};
