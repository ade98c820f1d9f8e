//! The command line: `detect`, `anonymize`, `bench`, `models`, `sources`, or a path to open in the app.
//!
//! Every failure a user can cause ends with exit code 2 and one line on stderr that names the
//! problem; results already written stay written.

pub mod anonymize;
pub mod bench;
pub mod detect;
pub mod dist;
mod progress;

use crate::model::Registry;
use crate::{Error, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "centerscope",
    version = dist::version(),
    about = "Find objects in video with MobileNet CenterNet detectors on the CPU",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A video, image, folder or camera:N to open in the app.
    pub open: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Detect objects in an image, a folder of images, a video file or camera:N.
    Detect(detect::DetectArgs),
    /// Cover every face (or person) in videos and pictures, keeping sound and timestamps.
    #[command(alias = "anonymise")]
    Anonymize(anonymize::AnonymizeArgs),
    /// Measure latency and throughput of models.
    Bench(bench::BenchArgs),
    /// List the available models.
    Models,
    /// List cameras.
    Sources,
    /// Write the man pages and shell completions (packaging).
    #[command(hide = true)]
    Dist(dist::DistArgs),
}

/// Parse `WxH` (e.g. `640x480`) into `[height, width]`.
pub fn parse_size(s: &str) -> std::result::Result<[usize; 2], String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size \"{s}\" must look like 640x480"))?;
    let w: usize = w
        .trim()
        .parse()
        .map_err(|_| format!("size \"{s}\": width is not a number"))?;
    let h: usize = h
        .trim()
        .parse()
        .map_err(|_| format!("size \"{s}\": height is not a number"))?;
    if w == 0 || h == 0 || w > 4096 || h > 4096 {
        return Err(format!("size \"{s}\" is out of range (1..4096 per side)"));
    }
    Ok([h, w])
}

/// A probability-like value in 0..=1.
pub fn parse_unit(s: &str) -> std::result::Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("\"{s}\" is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{v} is outside 0..1"));
    }
    Ok(v)
}

pub fn parse_workers(s: &str) -> std::result::Result<usize, String> {
    let v: usize = s
        .parse()
        .map_err(|_| format!("\"{s}\" is not a whole number"))?;
    if !(1..=256).contains(&v) {
        return Err(format!("{v} workers is out of range (1..256)"));
    }
    Ok(v)
}

pub fn parse_seconds(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("\"{s}\" is not a number of seconds"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{v} seconds is not a valid time"));
    }
    Ok(v)
}

/// Even a bug keeps the promise of one line on stderr: a panic on the main thread prints
/// `centerscope: error: internal error: …` (with its source location when `RUST_BACKTRACE` is
/// set) and `main` exits 2. Panics on other threads are caught where they happen (workers,
/// model loading, background tasks) and reported once as ordinary errors, so they print
/// nothing here unless `RUST_BACKTRACE` asks for it; so do panics on the main thread inside
/// [`crate::error::catch_panic`] (loading a model in the CLI).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let verbose = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        let main_thread = std::thread::current().name() == Some("main");
        if (!main_thread || crate::error::panic_is_caught()) && !verbose {
            return;
        }
        let msg = crate::error::panic_message(info.payload());
        let thread = std::thread::current()
            .name()
            .map(|n| format!(" in thread {n}"))
            .unwrap_or_default();
        match (verbose, info.location()) {
            (true, Some(at)) => eprintln!(
                "centerscope: error: internal error{thread}: {msg} (at {}:{}); please report it",
                at.file(),
                at.line()
            ),
            _ => eprintln!(
                "centerscope: error: internal error: {msg}; please report it (RUST_BACKTRACE=1 shows where)"
            ),
        }
    }));
}

/// Parse `args` and run; returns the process exit code. Usage errors are one line, exit 2.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    match Cli::try_parse_from(args) {
        Ok(cli) => run(cli),
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return 0;
            }
            let text = e.to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid command line");
            let first = first.trim_start_matches("error: ");
            eprintln!("centerscope: error: {first} (see `centerscope --help`)");
            2
        }
    }
}

/// Run a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    if crate::env::debug_panic().as_deref() == Some("main") {
        panic!("deliberate panic (CENTERSCOPE_DEBUG_PANIC=main)");
    }
    let outcome = match cli.command {
        Some(Command::Detect(args)) => detect::run(args),
        Some(Command::Anonymize(args)) => anonymize::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Models) => list_models(),
        Some(Command::Sources) => list_sources(),
        Some(Command::Dist(args)) => dist::run(args),
        None => crate::app::run(
            cli.open
                .map(PathBuf::from)
                .map(|p| p.to_string_lossy().into_owned()),
        ),
    };
    match outcome {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("centerscope: error: {}", e.one_line());
            2
        }
    }
}

fn list_models() -> Result<()> {
    let reg = Registry::with_user_models();
    println!(
        "{:<28} {:<9} {:<10} {:>9} {:>8}  task",
        "id", "source", "input", "params", "classes"
    );
    for e in reg.entries() {
        let m = &e.manifest;
        let [h, w] = m.input.size;
        let params = m
            .params
            .map(|p| format!("{:.2}M", p as f64 / 1e6))
            .unwrap_or_else(|| "?".into());
        let source = if e.is_builtin() { "built-in" } else { "user" };
        let size = if m.flexible_size() {
            format!("{w}x{h}*")
        } else {
            format!("{w}x{h}")
        };
        println!(
            "{:<28} {:<9} {:<10} {:>9} {:>8}  {}",
            m.id,
            source,
            size,
            params,
            m.labels.len(),
            m.task
        );
    }
    println!(
        "(* any multiple of the size step; default model: {})",
        crate::model::DEFAULT_MODEL
    );
    for w in &reg.warnings {
        eprintln!("centerscope: warning: {w}");
    }
    Ok(())
}

fn list_sources() -> Result<()> {
    let cams = crate::source::camera::list_cameras()?;
    if cams.is_empty() {
        println!("no cameras found");
    }
    for c in cams {
        println!("camera:{}  {}  {}", c.index, c.name, c.description);
    }
    Ok(())
}

/// Validate an input spec early, with the CLI's wording.
pub fn check_input_exists(input: &str) -> Result<()> {
    if crate::source::parse_camera_spec(input).is_some() {
        return Ok(());
    }
    if !std::path::Path::new(input).exists() {
        return Err(Error::NotFound { path: input.into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_ranges() {
        assert_eq!(parse_size("640x480"), Ok([480, 640]));
        assert!(parse_size("640").is_err());
        assert!(parse_size("0x10").is_err());
        assert!(parse_unit("7").is_err());
        assert!(parse_unit("-1").is_err());
        assert_eq!(parse_unit("0.25"), Ok(0.25));
        assert!(parse_workers("0").is_err());
        assert!(parse_seconds("-3").is_err());
    }
}
