//! Video export (anonymised or annotated): frames go to the system ffmpeg with their own
//! timestamps (a Matroska stream on its stdin, see [`super::mkv`]), so every frame keeps its
//! time, variable frame rate included. The input file is ffmpeg's second input: its audio,
//! subtitles, chapters and metadata are carried over (stream copy where the container takes the
//! codec, re-encoded where it does not). Written as `name.partial.ext` beside the target and
//! renamed when complete.
//!
//! The pipe is fed by its own thread and ffmpeg encodes in its own process, so encoding
//! overlaps with detection and drawing instead of adding to them.

use super::atomic::PartialPath;
use super::mkv;
use crate::source::video::{file_url, spawn_error};
use crate::{Error, Result};
use crossbeam_channel::{bounded, Sender};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

/// Extensions written as video.
pub const VIDEO_EXTENSIONS: [&str; 6] = ["mp4", "m4v", "mkv", "webm", "mov", "avi"];

/// Frames waiting for the encoder (each is one decoded picture in memory).
const FEED_QUEUE_FRAMES: usize = 4;

/// How a video export is encoded and what it keeps from its input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EncodeSettings {
    /// ffmpeg video encoder; default libx264 (libvpx-vp9 for .webm).
    pub codec: Option<String>,
    /// Constant rate factor (quality: lower is better, bigger); default 23 (35 for VP9).
    pub crf: Option<u8>,
    /// Encoder preset (x264/x265); default "veryfast".
    pub preset: Option<String>,
    /// Copy audio, subtitles, chapters and metadata from this file.
    pub keep_streams_from: Option<PathBuf>,
    /// Drop metadata (titles, GPS location, dates) and chapters instead of copying them.
    pub strip_metadata: bool,
    /// The frames start this far into the input (its other streams are cut to match).
    pub start_ms: f64,
    /// Only part of the input is written: cut the other streams at the video's end.
    pub partial: bool,
    /// The input's nominal frame rate: the last frame's duration (and players' frame rate).
    pub frame_rate: Option<f64>,
}

/// A stream of the input that is not its main video.
#[derive(Clone, Debug, PartialEq)]
pub struct OtherStream {
    pub kind: StreamKind,
    pub codec: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    Audio,
    Subtitle,
    Other,
}

/// The container written for a file name's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container {
    Mp4,
    Mov,
    Mkv,
    Webm,
    Avi,
}

impl Container {
    fn for_path(path: &Path) -> Container {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "mkv" => Container::Mkv,
            "webm" => Container::Webm,
            "mov" => Container::Mov,
            "avi" => Container::Avi,
            _ => Container::Mp4,
        }
    }

    /// The muxer is named, not guessed from the (partial) file name.
    fn muxer(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::Mkv => "matroska",
            Container::Webm => "webm",
            Container::Avi => "avi",
        }
    }

    /// What an audio stream becomes: `copy` when the container takes the codec as it is.
    fn audio_codec(self, codec: &str) -> &'static str {
        let copy = match self {
            Container::Mkv => true,
            Container::Webm => matches!(codec, "opus" | "vorbis"),
            Container::Mp4 => matches!(codec, "aac" | "mp3" | "ac3" | "eac3" | "opus" | "alac"),
            Container::Mov => {
                matches!(codec, "aac" | "mp3" | "ac3" | "eac3" | "alac")
                    || codec.starts_with("pcm_")
            }
            Container::Avi => matches!(codec, "mp3" | "ac3" | "pcm_s16le"),
        };
        match (copy, self) {
            (true, _) => "copy",
            (false, Container::Webm) => "libopus",
            (false, Container::Avi) => "libmp3lame",
            (false, _) => "aac",
        }
    }

    /// What a subtitle stream becomes, or `None` when the container cannot hold it.
    fn subtitle_codec(self, codec: &str) -> Option<&'static str> {
        let text = matches!(
            codec,
            "subrip" | "srt" | "ass" | "ssa" | "mov_text" | "webvtt" | "text"
        );
        match self {
            Container::Mkv if codec == "mov_text" => Some("srt"),
            Container::Mkv => Some("copy"),
            Container::Mp4 | Container::Mov if text => Some("mov_text"),
            Container::Webm if text => Some("webvtt"),
            _ => None,
        }
    }
}

/// The audio and subtitle streams of `path` (ffprobe).
pub fn probe_other_streams(path: &Path) -> Result<Vec<OtherStream>> {
    let out = Command::new(ffmpeg_sidecar::ffprobe::ffprobe_path())
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
        ])
        .args(["-of", "json"])
        .arg(file_url(path))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error("ffprobe", e))?;
    if !out.status.success() {
        return Err(Error::input(path, "ffprobe cannot read its streams"));
    }
    parse_streams(&out.stdout).ok_or_else(|| Error::input(path, "unexpected ffprobe output"))
}

/// The non-video streams in ffprobe's JSON (`-show_entries stream=codec_type,codec_name`).
pub fn parse_streams(json: &[u8]) -> Option<Vec<OtherStream>> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let streams = v["streams"].as_array()?;
    Some(
        streams
            .iter()
            .filter_map(|s| {
                let kind = match s["codec_type"].as_str()? {
                    "audio" => StreamKind::Audio,
                    "subtitle" => StreamKind::Subtitle,
                    "video" => return None,
                    _ => StreamKind::Other,
                };
                Some(OtherStream {
                    kind,
                    codec: s["codec_name"].as_str().unwrap_or("").to_string(),
                })
            })
            .collect(),
    )
}

/// ffmpeg arguments (after the inputs) that map and convert the second input's streams into
/// `container`; plus a warning for each stream that cannot be kept.
fn stream_args(
    container: Container,
    streams: &[OtherStream],
    strip_metadata: bool,
) -> (Vec<String>, Vec<String>) {
    let mut args = Vec::new();
    let mut warnings = Vec::new();
    let (mut audio, mut subs) = (0, 0);
    let (mut a_in, mut s_in) = (0, 0);
    for s in streams {
        match s.kind {
            StreamKind::Audio => {
                args.extend(["-map".into(), format!("1:a:{a_in}")]);
                args.extend([
                    format!("-c:a:{audio}"),
                    container.audio_codec(&s.codec).into(),
                ]);
                a_in += 1;
                audio += 1;
            }
            StreamKind::Subtitle => {
                match container.subtitle_codec(&s.codec) {
                    Some(c) => {
                        args.extend(["-map".into(), format!("1:s:{s_in}")]);
                        args.extend([format!("-c:s:{subs}"), c.into()]);
                        subs += 1;
                    }
                    None => warnings.push(format!(
                        "{} subtitles cannot be stored in {}; not copied (use .mkv to keep them)",
                        s.codec,
                        container.muxer()
                    )),
                }
                s_in += 1;
            }
            StreamKind::Other => {}
        }
    }
    if strip_metadata {
        args.extend(["-map_metadata", "-1", "-map_chapters", "-1"].map(String::from));
    } else {
        args.extend(["-map_metadata", "1", "-map_chapters", "1"].map(String::from));
    }
    (args, warnings)
}

/// An encoder process and the thread feeding it.
struct Running {
    child: Child,
    feed: Option<Sender<(Vec<u8>, u64)>>,
    feeder: Option<JoinHandle<std::io::Result<()>>>,
    /// The last lines ffmpeg wrote on stderr.
    stderr: Option<JoinHandle<Vec<String>>>,
    size: (u32, u32),
    last_pts_us: Option<u64>,
}

/// Writes a video file through ffmpeg; see the module documentation.
pub struct VideoWriter {
    path: PathBuf,
    out: PartialPath,
    settings: EncodeSettings,
    running: Option<Running>,
    /// Streams of the input that could not be kept (shown once by the caller).
    pub warnings: Vec<String>,
}

impl VideoWriter {
    /// The encoder starts with the first frame (which fixes the size).
    pub fn new(path: &Path, settings: EncodeSettings) -> VideoWriter {
        VideoWriter {
            path: path.to_path_buf(),
            out: PartialPath::new(path),
            settings,
            running: None,
            warnings: Vec::new(),
        }
    }

    /// The file being written while the export runs.
    pub fn partial_path(&self) -> &Path {
        self.out.partial()
    }

    fn start(&mut self, width: u32, height: u32) -> Result<Running> {
        let container = Container::for_path(&self.path);
        let s = &self.settings;
        let mut cmd = Command::new(ffmpeg_sidecar::paths::ffmpeg_path());
        cmd.args([
            "-nostdin", "-v", "error", "-y", "-f", "matroska", "-i", "pipe:0",
        ]);
        let mut stream_args_v = Vec::new();
        if let Some(input) = &s.keep_streams_from {
            let streams = probe_other_streams(input)?;
            if s.start_ms > 0.0 {
                cmd.args(["-ss", &format!("{:.6}", s.start_ms / 1000.0)]);
            }
            cmd.arg("-i").arg(file_url(input));
            let (args, warnings) = stream_args(container, &streams, s.strip_metadata);
            stream_args_v = args;
            self.warnings.extend(warnings);
        } else if s.strip_metadata {
            stream_args_v.extend(["-map_metadata", "-1"].map(String::from));
        }
        cmd.args(["-map", "0:v:0"]);
        cmd.args(&stream_args_v);
        if s.partial {
            cmd.arg("-shortest");
        }
        // Every frame keeps its own timestamp (no frame is dropped or repeated).
        cmd.args(["-fps_mode", "passthrough", "-enc_time_base", "-1"]);
        // yuv420p needs even sides.
        cmd.args([
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-pix_fmt",
            "yuv420p",
        ]);
        let codec = s.codec.clone().unwrap_or_else(|| {
            if container == Container::Webm {
                "libvpx-vp9".into()
            } else {
                "libx264".into()
            }
        });
        let vp9 = codec.contains("vpx");
        cmd.args(["-c:v", &codec]);
        let crf = s.crf.unwrap_or(if vp9 { 35 } else { 23 });
        cmd.args(["-crf", &crf.to_string()]);
        if vp9 {
            cmd.args([
                "-b:v",
                "0",
                "-row-mt",
                "1",
                "-deadline",
                "good",
                "-cpu-used",
                "5",
            ]);
        } else if codec.contains("264") || codec.contains("265") {
            cmd.args(["-preset", s.preset.as_deref().unwrap_or("veryfast")]);
        }
        if matches!(container, Container::Mp4 | Container::Mov) {
            cmd.args(["-movflags", "+faststart"]);
        }
        cmd.args(["-f", container.muxer()]);
        cmd.arg(file_url(self.out.partial()));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error("ffmpeg", e))?;
        let stderr = child.stderr.take().map(|err| {
            std::thread::Builder::new()
                .name("encoder-log".into())
                .spawn(move || {
                    let mut lines: Vec<String> = Vec::new();
                    for line in BufReader::new(err).lines().map_while(|l| l.ok()) {
                        if lines.len() == 20 {
                            lines.remove(0);
                        }
                        lines.push(line);
                    }
                    lines
                })
        });
        let stderr = stderr
            .transpose()
            .map_err(|e| Error::io("cannot start a thread", e))?;
        let Some(mut stdin) = child.stdin.take() else {
            return Err(Error::Other("ffmpeg stdin is not a pipe".into()));
        };
        let (tx, rx) = bounded::<(Vec<u8>, u64)>(FEED_QUEUE_FRAMES);
        let frame_ns = self
            .settings
            .frame_rate
            .filter(|r| r.is_finite() && *r > 0.0 && *r < 1000.0)
            .map(|r| (1e9 / r).round() as u64);
        let header = mkv::header(width, height, frame_ns);
        let feeder = std::thread::Builder::new()
            .name("encoder-feed".into())
            .spawn(move || {
                stdin.write_all(&header)?;
                for (rgb, pts_us) in rx {
                    mkv::write_frame(&mut stdin, pts_us, &rgb)?;
                }
                stdin.flush()
            })
            .map_err(|e| Error::io("cannot start a thread", e))?;
        Ok(Running {
            child,
            feed: Some(tx),
            feeder: Some(feeder),
            stderr,
            size: (width, height),
            last_pts_us: None,
        })
    }

    /// Queue one frame shown at `pts_ms` (time in the input; the output starts at
    /// [`EncodeSettings::start_ms`]).
    pub fn push(&mut self, img: image::RgbImage, pts_ms: f64) -> Result<()> {
        if self.running.is_none() {
            let r = self.start(img.width(), img.height())?;
            self.running = Some(r);
        }
        let Some(r) = self.running.as_mut() else {
            return Ok(());
        };
        if (img.width(), img.height()) != r.size {
            return Err(Error::Other(format!(
                "{}: frame size changed mid-stream; cannot encode",
                self.path.display()
            )));
        }
        let rel_ms = (pts_ms - self.settings.start_ms).max(0.0);
        let mut pts_us = (rel_ms * 1000.0).round() as u64;
        // Timestamps must increase; a repeated one would be dropped by the encoder.
        if let Some(last) = r.last_pts_us {
            pts_us = pts_us.max(last + 1);
        }
        r.last_pts_us = Some(pts_us);
        let sent = r
            .feed
            .as_ref()
            .is_some_and(|tx| tx.send((img.into_raw(), pts_us)).is_ok());
        if !sent {
            // The feeding thread stopped: ffmpeg exited. Its own words say why.
            return Err(self.close().err().unwrap_or_else(|| {
                Error::Other(format!("{}: the encoder stopped", self.path.display()))
            }));
        }
        Ok(())
    }

    /// Finish encoding and move the file into place.
    pub fn finish(mut self) -> Result<()> {
        self.close()?;
        PartialPath::new(&self.path).commit().map(|_| ())
    }

    /// Finish encoding but leave the file under its partial name (the run failed); returns
    /// that name when there is a file.
    pub fn abandon(mut self) -> Option<PathBuf> {
        let started = self.running.is_some();
        let _ = self.close();
        (started && self.out.partial().exists()).then(|| self.out.partial().to_path_buf())
    }

    /// Stop without keeping anything (cancelled): the partial file is removed.
    pub fn discard(mut self) {
        let _ = self.close();
        let _ = std::fs::remove_file(self.out.partial());
    }

    fn close(&mut self) -> Result<()> {
        let Some(mut r) = self.running.take() else {
            return Err(Error::Other(format!(
                "{}: no frame to encode",
                self.path.display()
            )));
        };
        drop(r.feed.take());
        let fed = r.feeder.take().map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(std::io::ErrorKind::Other.into()))
        });
        let status = r.child.wait().map_err(|e| Error::io("ffmpeg", e))?;
        let log = r
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let why = log
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| "unknown error".into());
        if !status.success() {
            return Err(Error::Other(format!(
                "{}: ffmpeg could not encode ({why})",
                self.path.display()
            )));
        }
        if let Some(Err(e)) = fed {
            return Err(Error::io(
                format!("cannot write {}", self.path.display()),
                e,
            ));
        }
        Ok(())
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        // Never leave an encoder process or thread behind.
        if self.running.is_some() {
            let _ = self.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(kind: StreamKind, codec: &str) -> OtherStream {
        OtherStream {
            kind,
            codec: codec.into(),
        }
    }

    #[test]
    fn audio_is_copied_where_the_container_takes_it() {
        assert_eq!(Container::Mp4.audio_codec("aac"), "copy");
        assert_eq!(Container::Mp4.audio_codec("pcm_s16le"), "aac");
        assert_eq!(Container::Webm.audio_codec("aac"), "libopus");
        assert_eq!(Container::Mkv.audio_codec("pcm_s16le"), "copy");
    }

    #[test]
    fn streams_are_mapped_in_order_and_bitmap_subtitles_are_reported() {
        let streams = [
            stream(StreamKind::Audio, "aac"),
            stream(StreamKind::Subtitle, "hdmv_pgs_subtitle"),
            stream(StreamKind::Audio, "flac"),
            stream(StreamKind::Subtitle, "subrip"),
        ];
        let (args, warnings) = stream_args(Container::Mp4, &streams, false);
        let joined = args.join(" ");
        assert!(
            joined.starts_with(
                "-map 1:a:0 -c:a:0 copy -map 1:a:1 -c:a:1 aac -map 1:s:1 -c:s:0 mov_text"
            ),
            "{joined}"
        );
        assert!(
            joined.ends_with("-map_metadata 1 -map_chapters 1"),
            "{joined}"
        );
        assert_eq!(warnings.len(), 1);
        let (args, _) = stream_args(Container::Mkv, &streams, true);
        assert!(args
            .join(" ")
            .ends_with("-map_metadata -1 -map_chapters -1"));
    }

    #[test]
    fn parses_ffprobe_streams() {
        let json = br#"{"streams":[{"codec_type":"video","codec_name":"h264"},{"codec_type":"audio","codec_name":"aac"},{"codec_type":"data"}]}"#;
        assert_eq!(
            parse_streams(json),
            Some(vec![
                stream(StreamKind::Audio, "aac"),
                stream(StreamKind::Other, "")
            ])
        );
        assert_eq!(parse_streams(b"not json"), None);
    }
}
