//! Video files through the system `ffmpeg` (spawned with `ffmpeg-sidecar`; nothing is ever
//! downloaded). `ffprobe` supplies size, rotation, frame rate and duration; `ffmpeg` decodes to
//! raw RGB24 on a pipe, applying the display-matrix rotation itself. A `showinfo` filter on
//! stderr gives each frame's real presentation time, so variable-frame-rate files get true
//! timestamps. Frames stream one at a time: memory does not grow with the file's length.
//! Seeking restarts ffmpeg with `-ss` before `-i`, which decodes from the previous keyframe and
//! discards up to the exact target.

use super::{FrameSource, SeekTarget, SourceInfo, SourceKind};
use crate::{Error, Frame, Result};
use crossbeam_channel::Receiver;
use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const INSTALL_HINT: &str =
    "install FFmpeg and make sure `ffmpeg` and `ffprobe` are on PATH (Debian/Ubuntu: sudo apt install ffmpeg; macOS: brew install ffmpeg; Windows: winget install ffmpeg)";

/// What ffprobe says about the first video stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Probe {
    pub coded_width: u32,
    pub coded_height: u32,
    /// Display rotation in degrees (counter-clockwise, as ffprobe reports it).
    pub rotation: i32,
    pub fps: Option<f64>,
    pub duration_ms: Option<f64>,
    pub frame_count: Option<u64>,
    pub codec: String,
}

impl Probe {
    /// Size after rotation.
    pub fn display_size(&self) -> (u32, u32) {
        if self.rotation.rem_euclid(180) == 90 {
            (self.coded_height, self.coded_width)
        } else {
            (self.coded_width, self.coded_height)
        }
    }
}

/// A failure to start `ffmpeg` or `ffprobe`: a missing program says how to install it.
pub fn spawn_error(program: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::Source(format!("{program} not found: {INSTALL_HINT}"))
        }
        _ => Error::io(format!("cannot start {program}"), e),
    }
}

/// `path` as an ffmpeg `file:` URL, so a name with a colon (`a:b.mp4`) is never read as a
/// protocol and a name starting with `-` never as an option.
pub fn file_url(path: &Path) -> std::ffi::OsString {
    let mut url = std::ffi::OsString::from("file:");
    url.push(path.as_os_str());
    url
}

fn parse_rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d > 0.0 && n > 0.0)
        .then(|| n / d)
        .filter(|r| r.is_finite())
}

/// Run ffprobe on `path`.
pub fn probe(path: &Path) -> Result<Probe> {
    let out = Command::new(ffmpeg_sidecar::ffprobe::ffprobe_path())
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg("stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,duration,codec_name:stream_side_data=rotation:stream_tags=rotate:format=duration")
        .args(["-of", "json"])
        .arg(file_url(path))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error("ffprobe", e))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let last = msg
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("unknown error")
            .trim();
        let last = last
            .strip_prefix(&format!("{}: ", path.display()))
            .unwrap_or(last);
        return Err(Error::input(
            path,
            format!("not a video ffmpeg can read ({last}); check the file"),
        ));
    }
    parse_probe(path, &out.stdout)
}

/// The [`Probe`] of `path` from ffprobe's JSON output (`-of json`, the entries [`probe`] asks
/// for). Any bytes give a result or an error naming `path`, never a panic: public for the
/// fuzz target `ffmpeg_output`.
pub fn parse_probe(path: &Path, ffprobe_json: &[u8]) -> Result<Probe> {
    let json: serde_json::Value = serde_json::from_slice(ffprobe_json)
        .map_err(|e| Error::input(path, format!("unexpected ffprobe output ({e})")))?;
    let Some(stream) = json["streams"].get(0) else {
        return Err(Error::input(path, "has no video stream; open a video file"));
    };
    // A size that does not fit u32 is no size (not one truncated to a small one).
    let dim = |v: &serde_json::Value| v.as_u64().and_then(|d| u32::try_from(d).ok());
    let coded_width = dim(&stream["width"]).unwrap_or(0);
    let coded_height = dim(&stream["height"]).unwrap_or(0);
    if coded_width == 0 || coded_height == 0 {
        return Err(Error::input(
            path,
            "video stream has no picture size; the file may be damaged",
        ));
    }
    let mut rotation = stream["side_data_list"]
        .as_array()
        .and_then(|l| l.iter().find_map(|s| s["rotation"].as_f64()))
        .map(|r| r.round() as i32 % 360)
        .unwrap_or(0);
    if rotation == 0 {
        rotation = stream["tags"]["rotate"]
            .as_str()
            .and_then(|s| s.parse::<i32>().ok())
            .map(|r| -(r % 360))
            .unwrap_or(0);
    }
    let fps = stream["avg_frame_rate"]
        .as_str()
        .and_then(parse_rate)
        .or_else(|| stream["r_frame_rate"].as_str().and_then(parse_rate));
    let secs = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|d| d.is_finite() && *d > 0.0)
    };
    let duration_ms = secs(&stream["duration"])
        .or_else(|| secs(&json["format"]["duration"]))
        .map(|s| s * 1000.0);
    let frame_count = stream["nb_frames"]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|n| *n > 0)
        .or_else(|| Some((duration_ms? / 1000.0 * fps?).round() as u64));
    Ok(Probe {
        coded_width,
        coded_height,
        rotation,
        fps,
        duration_ms,
        frame_count,
        codec: stream["codec_name"].as_str().unwrap_or("").to_string(),
    })
}

/// One running ffmpeg decode process.
struct Decoder {
    child: FfmpegChild,
    stdout: ChildStdout,
    /// `(frame number, presentation time in seconds relative to the seek point)` parsed from
    /// `showinfo`; matched to frames by number, not by arrival order.
    pts: Receiver<(u64, f64)>,
    /// Times received ahead of their frame.
    pts_ahead: std::collections::BTreeMap<u64, f64>,
    stderr_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }
}

pub struct VideoSource {
    path: PathBuf,
    info: SourceInfo,
    probe: Probe,
    decoder: Option<Decoder>,
    /// Seek position of the running decoder (ms) and index of its first frame.
    base_ms: f64,
    base_index: u64,
    decoded: u64,
    /// Last error line ffmpeg printed (shared with the stderr reader).
    last_error: Arc<Mutex<Option<String>>>,
    ended: bool,
    /// After a seek: deliver the frame on screen at this time (ms), dropping earlier ones.
    skip_until_ms: Option<f64>,
    /// A frame read past the seek target, delivered next.
    lookahead: Option<Frame>,
}

impl VideoSource {
    pub fn open(path: &Path) -> Result<VideoSource> {
        let probe = probe(path)?;
        let (width, height) = probe.display_size();
        crate::pipeline::check_frame_size(&path.display().to_string(), width, height)?;
        let mut details = format!(
            "{} {}x{}",
            probe.codec, probe.coded_width, probe.coded_height
        );
        if probe.rotation != 0 {
            details.push_str(&format!(", rotated {}°", probe.rotation));
        }
        let info = SourceInfo {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            kind: SourceKind::Video,
            width,
            height,
            fps: probe.fps,
            duration_ms: probe.duration_ms,
            frame_count: probe.frame_count,
            details,
        };
        let mut src = VideoSource {
            path: path.to_path_buf(),
            info,
            probe,
            decoder: None,
            base_ms: 0.0,
            base_index: 0,
            decoded: 0,
            last_error: Arc::new(Mutex::new(None)),
            ended: false,
            skip_until_ms: None,
            lookahead: None,
        };
        src.start(0.0, 0)?;
        Ok(src)
    }

    fn frame_bytes(&self) -> usize {
        self.info.width as usize * self.info.height as usize * 3
    }

    fn start(&mut self, seek_ms: f64, base_index: u64) -> Result<()> {
        self.decoder = None; // kills the previous process
        let mut cmd = FfmpegCommand::new();
        cmd.arg("-nostdin").hide_banner();
        // Start two frames before the target so the frame on screen at the target time is
        // decoded whatever the rounding; `next_frame` drops the frames before it.
        let lead_ms = self.probe.fps.map(|f| 2000.0 / f).unwrap_or(100.0) + 5.0;
        let start_ms = (seek_ms - lead_ms).max(0.0);
        if start_ms > 0.0 {
            cmd.args(["-ss", &format!("{:.6}", start_ms / 1000.0)]);
        }
        cmd.input(file_url(&self.path))
            .args(["-map", "0:v:0", "-an", "-sn", "-dn"])
            .args(["-vf", "showinfo"])
            .fps_mode("passthrough")
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
            .output("pipe:1");
        let mut child = cmd.spawn().map_err(|e| spawn_error("ffmpeg", e))?;
        let stdout = child
            .take_stdout()
            .ok_or_else(|| Error::Other("ffmpeg stdout unavailable".into()))?;
        let stderr = child
            .take_stderr()
            .ok_or_else(|| Error::Other("ffmpeg stderr unavailable".into()))?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let last_error = self.last_error.clone();
        let stderr_thread = std::thread::Builder::new()
            .name("ffmpeg-stderr".into())
            .spawn(move || {
                // Bytes, not UTF-8 lines: a metadata tag in another encoding must not end the
                // reading (ffmpeg would then block on a full stderr pipe).
                let mut reader = BufReader::new(stderr);
                let mut raw = Vec::new();
                let mut time_base = None;
                loop {
                    raw.clear();
                    match reader.read_until(b'\n', &mut raw) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let line = String::from_utf8_lossy(&raw);
                    let line = line.trim_end();
                    if let Some(tb) = showinfo_time_base(line) {
                        time_base = Some(tb);
                    } else if let Some(pts) = showinfo_pts(line, time_base) {
                        if tx.send(pts).is_err() {
                            break;
                        }
                    } else if line.contains("[error]") || line.contains("[fatal]") {
                        let msg = line.rsplit("] ").next().unwrap_or(line).trim().to_string();
                        if let Ok(mut slot) = last_error.lock() {
                            *slot = Some(msg);
                        }
                    }
                }
            })
            .map_err(|e| Error::io("cannot start ffmpeg reader thread", e))?;
        self.decoder = Some(Decoder {
            child,
            stdout,
            pts: rx,
            pts_ahead: Default::default(),
            stderr_thread: Some(stderr_thread),
        });
        self.base_ms = start_ms;
        self.base_index = base_index;
        self.decoded = 0;
        self.ended = false;
        self.skip_until_ms = if start_ms > 0.0 { Some(seek_ms) } else { None };
        self.lookahead = None;
        Ok(())
    }

    fn index_for_ms(&self, ms: f64) -> u64 {
        self.probe
            .fps
            .map(|f| (ms * f / 1000.0).round().max(0.0) as u64)
            .unwrap_or(0)
    }

    fn read_one(&mut self) -> Option<Result<Frame>> {
        let bytes = self.frame_bytes();
        let (width, height) = (self.info.width, self.info.height);
        let decoder = self.decoder.as_mut()?;
        let mut buf = vec![0u8; bytes];
        if let Err(e) = decoder.stdout.read_exact(&mut buf) {
            self.ended = true;
            let status = decoder.child.wait().ok();
            let last = self.last_error.lock().ok().and_then(|m| m.clone());
            return self.end_of_output(e, status, last).map(Err);
        }
        // showinfo's line for a frame is written before the frame reaches the pipe.
        let n = self.decoded;
        let rel_s = decoder.pts_for(n);
        self.decoded += 1;
        let pts_ms = match (rel_s, self.probe.fps) {
            (Some(s), _) => self.base_ms + s * 1000.0,
            (None, Some(f)) => self.base_ms + n as f64 * 1000.0 / f,
            (None, None) => self.base_ms,
        };
        let index = if self.base_ms > 0.0 {
            self.index_for_ms(pts_ms)
        } else {
            self.base_index + n
        };
        Some(Ok(Frame::new(index, pts_ms, width, height, buf)))
    }
}

impl VideoSource {
    /// ffmpeg's output ended (`e` from the read). A clean end of the file is `None`; ffmpeg
    /// failing, being killed, or stopping well short of the probed length with an error is a
    /// failure, so a dying decoder is never mistaken for the end of the clip.
    fn end_of_output(
        &self,
        e: std::io::Error,
        status: Option<std::process::ExitStatus>,
        last_error: Option<String>,
    ) -> Option<Error> {
        let clean_exit = status.is_some_and(|s| s.success());
        let at = format!("after {} frame(s)", self.decoded);
        if !clean_exit {
            let why = match (last_error, status) {
                (Some(msg), _) => msg,
                (None, Some(s)) => format!("ffmpeg ended with {s}"),
                (None, None) => "ffmpeg vanished".into(),
            };
            let what = if self.decoded == 0 {
                format!("ffmpeg could not decode it ({why})")
            } else {
                format!(
                    "decoding stopped {at} ({why}); the file may be damaged, or ffmpeg was stopped"
                )
            };
            return Some(Error::input(&self.path, what));
        }
        if e.kind() != std::io::ErrorKind::UnexpectedEof {
            return Some(Error::input(
                &self.path,
                format!("cannot read decoded frames ({e})"),
            ));
        }
        let expected = self.probe.frame_count.filter(|_| self.base_ms == 0.0);
        if let (Some(expected), Some(msg)) = (expected, last_error) {
            if self.decoded + 2 < expected && self.decoded * 10 < expected * 9 {
                return Some(Error::input(
                    &self.path,
                    format!("only {} of {expected} frames could be decoded ({msg}); the file is damaged or truncated", self.decoded),
                ));
            }
        }
        None
    }
}

impl Decoder {
    /// The presentation time of output frame `n` (seconds from the seek point), waiting
    /// briefly for its showinfo line.
    fn pts_for(&mut self, n: u64) -> Option<f64> {
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        loop {
            if let Some(t) = self.pts_ahead.remove(&n) {
                return Some(t);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.pts.recv_timeout(left) {
                Ok((k, t)) if k >= n => {
                    self.pts_ahead.insert(k, t);
                }
                Ok(_) => {} // a frame already delivered without its time
                Err(_) => return None,
            }
        }
    }
}

/// (Public for the fuzz target `ffmpeg_output`, like [`showinfo_pts`].)
///
/// The input time base from showinfo's `config in time_base: 1/15360` header line.
pub fn showinfo_time_base(line: &str) -> Option<(i64, i64)> {
    if !line.contains("showinfo") {
        return None;
    }
    let at = line.find("config in time_base:")? + "config in time_base:".len();
    let tb = line[at..].split([',', ' ']).find(|s| !s.is_empty())?;
    let (num, den) = tb.split_once('/')?;
    let (num, den): (i64, i64) = (num.parse().ok()?, den.parse().ok()?);
    (num > 0 && den > 0).then_some((num, den))
}

/// `(n, seconds)` from a showinfo frame line: the integer `pts` times the time base when it is
/// known (exact), else `pts_time` (printed with 6 significant digits only: 10 ms steps after
/// 1000 s).
pub fn showinfo_pts(line: &str, time_base: Option<(i64, i64)>) -> Option<(u64, f64)> {
    if !line.contains("showinfo") {
        return None;
    }
    let after = |key: &str| -> Option<&str> {
        let at = line.find(key)? + key.len();
        line[at..].split_whitespace().next()
    };
    let n = after(" n:")?.parse().ok()?;
    let exact = time_base.and_then(|(num, den)| {
        let pts: i64 = after(" pts:")?.parse().ok()?;
        Some(pts as f64 * num as f64 / den as f64)
    });
    let secs = match exact {
        Some(s) => s,
        None => after("pts_time:")?.parse().ok()?,
    };
    secs.is_finite().then_some((n, secs))
}

impl FrameSource for VideoSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self) -> Option<Result<Frame>> {
        if let Some(f) = self.lookahead.take() {
            return Some(Ok(f));
        }
        if self.ended {
            return None;
        }
        let Some(target) = self.skip_until_ms else {
            return self.read_one();
        };
        // After a seek: the frame on screen at `target` is the last one starting at or before
        // it (1 ms absorbs timestamp rounding).
        let mut on_screen: Option<Frame> = None;
        loop {
            match self.read_one() {
                Some(Ok(f)) if f.pts_ms <= target + 1.0 => on_screen = Some(f),
                Some(Ok(f)) => {
                    self.skip_until_ms = None;
                    return Some(Ok(match on_screen {
                        Some(prev) => {
                            self.lookahead = Some(f);
                            prev
                        }
                        None => f,
                    }));
                }
                Some(Err(e)) => return Some(Err(e)),
                None => {
                    self.skip_until_ms = None;
                    return on_screen.map(Ok);
                }
            }
        }
    }

    fn seek(&mut self, target: SeekTarget) -> Result<()> {
        let ms = match target {
            SeekTarget::TimeMs(t) => t.max(0.0),
            SeekTarget::Frame(i) => match self.probe.fps {
                Some(f) => i as f64 * 1000.0 / f,
                None => {
                    return Err(Error::Source(format!(
                        "{}: frame rate unknown, seek by time instead",
                        self.info.name
                    )))
                }
            },
        };
        let index = self.index_for_ms(ms);
        self.start(ms, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_showinfo_lines() {
        let l =
            "[Parsed_showinfo_0 @ 0x55d] [info] n:   3 pts:   3072 pts_time:0.2     duration:512";
        assert_eq!(showinfo_pts(l, None), Some((3, 0.2)));
        let header =
            "[Parsed_showinfo_0 @ 0x55d] [info] config in time_base: 1/15360, frame_rate: 30/1";
        assert_eq!(showinfo_pts(header, None), None);
        assert_eq!(showinfo_time_base(header), Some((1, 15360)));
        assert_eq!(showinfo_time_base(l), None);
        // pts_time has 6 significant digits; pts × time base is exact.
        let late = "[Parsed_showinfo_0 @ 0x55d] n:37499 pts:19199488 pts_time:1249.97 duration:512";
        let (n, t) = showinfo_pts(late, Some((1, 15360))).unwrap();
        assert_eq!(n, 37499);
        assert!((t - 19199488.0 / 15360.0).abs() < 1e-9, "{t}");
        assert_eq!(showinfo_pts(late, None), Some((37499, 1249.97)));
        assert_eq!(
            parse_rate("30000/1001").map(|r| (r * 100.0).round()),
            Some(2997.0)
        );
        assert_eq!(parse_rate("0/0"), None);
    }

    #[test]
    fn parses_ffprobe_json() {
        let p = Path::new("clip.mp4");
        let json = br#"{"programs":[],"streams":[{"codec_name":"h264","width":1280,"height":720,
            "r_frame_rate":"30/1","avg_frame_rate":"30/1","duration":"5.000000","nb_frames":"150",
            "side_data_list":[{"rotation":-90}]}],"format":{"duration":"5.020000"}}"#;
        let probe = parse_probe(p, json).unwrap();
        assert_eq!((probe.coded_width, probe.coded_height), (1280, 720));
        assert_eq!(probe.rotation, -90);
        assert_eq!(probe.display_size(), (720, 1280));
        assert_eq!(probe.fps, Some(30.0));
        assert_eq!(probe.frame_count, Some(150));
        assert_eq!(probe.duration_ms, Some(5000.0));
        // No frame count: from duration x rate. No stream duration: the container's.
        let json = br#"{"streams":[{"codec_name":"vp9","width":64,"height":48,
            "avg_frame_rate":"0/0","r_frame_rate":"25/1"}],"format":{"duration":"2.0"}}"#;
        let probe = parse_probe(p, json).unwrap();
        assert_eq!((probe.fps, probe.frame_count), (Some(25.0), Some(50)));
        // Extremes a hostile file can put there: no overflow, no infinite rate.
        let json = br#"{"streams":[{"width":8,"height":8,"avg_frame_rate":"1e308/1e-300",
            "tags":{"rotate":"-2147483648"}}]}"#;
        let probe = parse_probe(p, json).unwrap();
        assert_eq!(probe.fps, None);
        assert_eq!(probe.rotation, 128);
        for bad in [
            &b"not json"[..],
            br#"{"streams":[]}"#,
            br#"{"streams":[{"width":0,"height":10}]}"#,
            br#"{"streams":[{"width":4294967296,"height":10}]}"#,
            br#"{"streams":[{"width":-5,"height":10}]}"#,
        ] {
            let e = parse_probe(p, bad).unwrap_err().to_string();
            assert!(e.contains("clip.mp4"), "{e}");
        }
    }

    proptest::proptest! {
        /// Whatever ffprobe or ffmpeg print (a damaged or hostile file controls much of it),
        /// the parsers give a value or nothing, never a panic, and never a time that is not a
        /// number.
        #[test]
        fn ffmpeg_output_parsers_never_panic(
            text in "\\PC{0,200}",
            n in proptest::prelude::any::<u64>(),
            pts in proptest::prelude::any::<i64>(),
            num in proptest::prelude::any::<i64>(),
            den in proptest::prelude::any::<i64>(),
            width in proptest::prelude::any::<i64>(),
            rate in "[0-9./e+-]{0,12}",
            duration in "[0-9.e+-]{0,12}",
        ) {
            let _ = parse_probe(Path::new("x.mp4"), text.as_bytes());
            // Well-formed JSON with hostile values: the probe's own checks, not the JSON
            // parser, must hold them.
            let json = serde_json::json!({"streams": [{
                "width": width, "height": 7, "avg_frame_rate": rate, "duration": duration,
                "nb_frames": text, "tags": {"rotate": pts.to_string()},
            }]})
            .to_string();
            let probed = parse_probe(Path::new("x.mp4"), json.as_bytes());
            // Only a width outside 1..=u32::MAX is refused.
            proptest::prop_assert_eq!(probed.is_ok(), width > 0 && width <= u32::MAX as i64);
            if let Ok(p) = probed {
                proptest::prop_assert!(p.coded_width > 0 && p.coded_height == 7);
                proptest::prop_assert!(p.fps.is_none_or(|f| f.is_finite() && f > 0.0));
                let _ = p.display_size();
            }
            let header = format!("[Parsed_showinfo_0 @ 0x1] config in time_base: {num}/{den}, {text}");
            let tb = showinfo_time_base(&header);
            proptest::prop_assert!(tb.is_none_or(|(a, b)| a > 0 && b > 0));
            let line = format!("[Parsed_showinfo_0 @ 0x1] n:{n} pts:{pts} pts_time:{text} {text}");
            for tb in [tb, None, Some((1, 1)), Some((i64::MAX, 1))] {
                if let Some((k, t)) = showinfo_pts(&line, tb) {
                    proptest::prop_assert_eq!(k, n);
                    proptest::prop_assert!(t.is_finite());
                }
                let _ = showinfo_pts(&text, tb);
            }
            let _ = showinfo_time_base(&text);
            let _ = parse_rate(&text);
        }
    }

    #[test]
    fn rotation_swaps_display_size() {
        let p = Probe {
            coded_width: 640,
            coded_height: 360,
            rotation: -90,
            ..Default::default()
        };
        assert_eq!(p.display_size(), (360, 640));
    }
}
