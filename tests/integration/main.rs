//! One integration-test binary: drives the real `centerscope` executable on real media, and
//! the library on the committed parity fixtures.

mod common;
mod cpu_render;

mod anonymize;
mod cli_detect;
mod cli_errors;
mod gui;
mod gui_smoke;
mod gui_snapshots;
mod kernels;
mod package;
mod parity;
mod pipeline;
mod reliability;
mod seed;
mod tracking;
mod video;
