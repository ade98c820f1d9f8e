//! Webcams through `nokhwa`. Capture runs on its own named thread and hands over only the
//! newest frame (a one-slot channel that the capture thread empties before refilling), so a slow
//! consumer never sees stale frames and lag cannot build up; replaced frames are counted.
//! An unplugged camera ends the stream with an error instead of hanging, and a driver stuck in
//! a call (open or read) never holds up the program: the waits are bounded ([`Waits`]).
//!
//! The capture thread talks to the camera through [`CaptureDevice`] (nokhwa in the program), so
//! the stall handling is tested with a device that blocks the way a stuck driver does; no video
//! device exists on the build machines.

use super::{FrameSource, SourceInfo, SourceKind};
use crate::{Error, Frame, Result};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A camera the system reports.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraDevice {
    pub index: u32,
    pub name: String,
    pub description: String,
}

/// All cameras (empty when there are none).
pub fn list_cameras() -> Result<Vec<CameraDevice>> {
    let infos = nokhwa::query(ApiBackend::Auto)
        .map_err(|e| Error::Camera(format!("cannot list cameras ({e})")))?;
    Ok(infos
        .into_iter()
        .enumerate()
        .map(|(i, info)| CameraDevice {
            index: match info.index() {
                CameraIndex::Index(n) => *n,
                CameraIndex::String(_) => i as u32,
            },
            name: info.human_name(),
            description: info.description().to_string(),
        })
        .collect())
}

pub struct CameraSource {
    info: SourceInfo,
    frames: Receiver<Result<Frame>>,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Disconnected when the capture thread has returned.
    finished: Receiver<()>,
    ended: bool,
    waits: Waits,
}

/// How long a camera source waits on the driver.
#[derive(Clone, Copy, Debug)]
pub struct Waits {
    /// For the camera to open.
    pub open: Duration,
    /// For the next frame before the camera is reported as gone.
    pub frame: Duration,
    /// When the source is dropped, for a capture thread stuck in the driver before leaving it
    /// to exit on its own (its stop flag is set, so it ends when the driver returns).
    pub stop: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            open: Duration::from_secs(10),
            frame: Duration::from_secs(5),
            stop: Duration::from_secs(2),
        }
    }
}

/// What the capture thread needs from a camera: frames, in a format known once it is open.
pub trait CaptureDevice {
    /// The camera's name and the format it streams in.
    fn describe(&self) -> (String, CameraFormat);
    /// The next frame; blocks until the camera delivers one (or the driver gives up).
    fn frame(&mut self) -> std::result::Result<image::RgbImage, String>;
    /// Stop streaming (called once, when the capture thread ends).
    fn stop(&mut self);
}

/// A camera through nokhwa.
struct NokhwaDevice(nokhwa::Camera);

impl NokhwaDevice {
    /// Open camera `index`, preferring MJPEG at 1280×720 (or the closest the camera offers,
    /// falling back to other formats such as YUYV).
    fn open(index: u32) -> Result<Box<dyn CaptureDevice>> {
        let wanted = CameraFormat::new(Resolution::new(1280, 720), FrameFormat::MJPEG, 30);
        let request = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
        nokhwa::Camera::new(CameraIndex::Index(index), request)
            .and_then(|mut c| c.open_stream().map(|_| c))
            .map(|c| Box::new(NokhwaDevice(c)) as Box<dyn CaptureDevice>)
            .map_err(|e| {
                Error::Camera(format!(
                    "cannot open camera {index} ({e}); check it is plugged in and not used by another program (list cameras with `centerscope sources`)"
                ))
            })
    }
}

impl CaptureDevice for NokhwaDevice {
    fn describe(&self) -> (String, CameraFormat) {
        (self.0.info().human_name(), self.0.camera_format())
    }

    fn frame(&mut self) -> std::result::Result<image::RgbImage, String> {
        self.0
            .frame()
            .and_then(|buf| buf.decode_image::<RgbFormat>())
            .map_err(|e| e.to_string())
    }

    fn stop(&mut self) {
        let _ = self.0.stop_stream();
    }
}

/// Opens a device on the capture thread (cameras are not `Send` on every platform).
pub type DeviceOpener = Box<dyn FnOnce(u32) -> Result<Box<dyn CaptureDevice>> + Send>;

/// The synthetic camera of `CENTERSCOPE_DEBUG_CAMERA=stall-after:N` (see [`crate::env`]): a
/// moving gradient at 30 fps, then a driver that never returns.
struct StallingDevice {
    frames_before_stall: u64,
    delivered: u64,
    next_at: Instant,
}

impl CaptureDevice for StallingDevice {
    fn describe(&self) -> (String, CameraFormat) {
        let format = CameraFormat::new(Resolution::new(640, 480), FrameFormat::YUYV, 30);
        ("debug camera (stalls)".into(), format)
    }

    fn frame(&mut self) -> std::result::Result<image::RgbImage, String> {
        if self.delivered >= self.frames_before_stall {
            loop {
                std::thread::park(); // a driver that never returns
            }
        }
        std::thread::sleep(self.next_at.saturating_duration_since(Instant::now()));
        self.next_at += Duration::from_micros(33_333);
        let shift = (self.delivered % 32 * 8) as u32;
        self.delivered += 1;
        Ok(image::RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([((x + shift) % 256) as u8, (y % 256) as u8, 128])
        }))
    }

    fn stop(&mut self) {}
}

impl CameraSource {
    /// Open camera `index` through nokhwa, with the default [`Waits`].
    pub fn open(index: u32) -> Result<CameraSource> {
        if let Some(frames_before_stall) = crate::env::debug_camera_stall_after() {
            let opener: DeviceOpener = Box::new(move |_| {
                Ok(Box::new(StallingDevice {
                    frames_before_stall,
                    delivered: 0,
                    next_at: Instant::now(),
                }) as Box<dyn CaptureDevice>)
            });
            return Self::open_device(index, opener, Waits::default());
        }
        Self::open_device(index, Box::new(NokhwaDevice::open), Waits::default())
    }

    /// Open camera `index` with `opener` (run on the capture thread), waiting on the driver
    /// at most as long as `waits` says.
    pub fn open_device(index: u32, opener: DeviceOpener, waits: Waits) -> Result<CameraSource> {
        let (open_tx, open_rx) = crossbeam_channel::bounded::<Result<(String, CameraFormat)>>(1);
        let (tx, rx) = crossbeam_channel::bounded::<Result<Frame>>(1);
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (finished_tx, finished) = crossbeam_channel::bounded::<()>(0);
        let capture = Capture {
            index,
            opener,
            opened: open_tx,
            frames: tx,
            drain: rx.clone(),
            stop: stop.clone(),
            dropped: dropped.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("camera-{index}"))
            .spawn(move || {
                let _finished = finished_tx; // dropped when this thread returns
                capture.run();
            })
            .map_err(|e| Error::io("cannot start camera thread", e))?;
        let (name, format) = match open_rx.recv_timeout(waits.open) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                // The driver is stuck in open: tell the thread to stop as soon as it returns,
                // so no capture keeps streaming behind our back.
                stop.store(true, Ordering::Relaxed);
                return Err(Error::Camera(format!(
                    "camera {index} did not answer within {} s; check it is not used by another program",
                    waits.open.as_secs_f64()
                )));
            }
        };
        Ok(CameraSource {
            info: camera_info(name, &format),
            frames: rx,
            stop,
            dropped,
            thread: Some(thread),
            finished,
            ended: false,
            waits,
        })
    }
}

/// What the source reports about a camera streaming in `format`.
fn camera_info(name: String, format: &CameraFormat) -> SourceInfo {
    SourceInfo {
        name,
        kind: SourceKind::Camera,
        width: format.resolution().width(),
        height: format.resolution().height(),
        fps: Some(format.frame_rate() as f64),
        duration_ms: None,
        frame_count: None,
        details: format!(
            "{} {}x{} @ {} fps",
            format.format(),
            format.resolution().width(),
            format.resolution().height(),
            format.frame_rate()
        ),
    }
}

/// The capture thread's side of a [`CameraSource`]: it opens the camera, reports how that
/// went, then hands over frames (newest wins) until told to stop or the camera fails.
struct Capture {
    index: u32,
    opener: DeviceOpener,
    /// The camera's name and format once open, or why it could not be opened.
    opened: Sender<Result<(String, CameraFormat)>>,
    frames: Sender<Result<Frame>>,
    /// The consumer's end of `frames`, to take back a frame nobody took yet.
    drain: Receiver<Result<Frame>>,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

impl Capture {
    /// The body of the capture thread.
    fn run(self) {
        let Capture {
            index,
            opener,
            opened,
            frames,
            drain,
            stop,
            dropped,
        } = self;
        let mut device = match opener(index) {
            Ok(d) => d,
            Err(e) => {
                let _ = opened.send(Err(e));
                return;
            }
        };
        let _ = opened.send(Ok(device.describe()));
        let streaming = Streaming {
            index,
            frames,
            drain,
            stop,
            dropped,
        };
        streaming.stream(device.as_mut());
        device.stop();
    }
}

/// The capture thread once the camera is open.
struct Streaming {
    index: u32,
    frames: Sender<Result<Frame>>,
    drain: Receiver<Result<Frame>>,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

impl Streaming {
    /// Capture and hand over frames until stopped or the camera fails (the failure is handed
    /// over as the last item).
    fn stream(&self, device: &mut dyn CaptureDevice) {
        let index = self.index;
        let start = Instant::now();
        let mut n = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            let item = device
                .frame()
                .map(|img| {
                    let f = Frame::from_image(n, start.elapsed().as_secs_f64() * 1000.0, img);
                    n += 1;
                    f
                })
                .map_err(|e| {
                    Error::Camera(format!(
                        "camera {index} stopped delivering frames ({e}); was it unplugged?"
                    ))
                });
            if self.stop.load(Ordering::Relaxed) {
                break; // the source is gone: nobody takes this frame
            }
            let failed = item.is_err();
            self.hand_over(item);
            if failed {
                break;
            }
        }
    }

    /// Newest wins: replace an unconsumed frame rather than queueing behind it.
    fn hand_over(&self, item: Result<Frame>) {
        if let Err(TrySendError::Full(item)) = self.frames.try_send(item) {
            if self.drain.try_recv().is_ok() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            let _ = self.frames.try_send(item);
        }
    }
}

impl FrameSource for CameraSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// Frames the camera produced that nobody took before a newer one arrived.
    fn dropped_frames(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn next_frame(&mut self) -> Option<Result<Frame>> {
        if self.ended {
            return None;
        }
        // A camera that delivers nothing for a while is treated as gone rather than waited on.
        match self.frames.recv_timeout(self.waits.frame) {
            Ok(Ok(f)) => Some(Ok(f)),
            Ok(Err(e)) => {
                self.ended = true;
                Some(Err(e))
            }
            Err(_) => {
                self.ended = true;
                Some(Err(Error::Camera(format!(
                    "{} delivered no frame for {} s; was it unplugged?",
                    self.info.name,
                    self.waits.frame.as_secs_f64()
                ))))
            }
        }
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock a capture thread waiting to hand over a frame.
        while self.frames.try_recv().is_ok() {}
        // A capture thread blocked in the driver must not keep the program from exiting.
        let returned = matches!(
            self.finished.recv_timeout(self.waits.stop),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        );
        if let (true, Some(t)) = (returned, self.thread.take()) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A camera whose driver delivers `frames` pictures and then blocks in its read call until
    /// the test releases it, as a stuck driver does.
    struct StuckAfter {
        frames: usize,
        release: Receiver<()>,
        reads: Arc<AtomicUsize>,
        stopped: Arc<AtomicBool>,
    }

    impl CaptureDevice for StuckAfter {
        fn describe(&self) -> (String, CameraFormat) {
            let format = CameraFormat::new(Resolution::new(4, 2), FrameFormat::YUYV, 30);
            ("stuck test camera".into(), format)
        }
        fn frame(&mut self) -> std::result::Result<image::RgbImage, String> {
            let read = self.reads.fetch_add(1, Ordering::SeqCst);
            if read >= self.frames {
                let _ = self.release.recv(); // stuck until released (or the test ends)
            }
            Ok(image::RgbImage::new(4, 2))
        }
        fn stop(&mut self) {
            self.stopped.store(true, Ordering::SeqCst);
        }
    }

    struct Probe {
        reads: Arc<AtomicUsize>,
        stopped: Arc<AtomicBool>,
        release: Sender<()>,
    }

    fn stuck_after(frames: usize) -> (StuckAfter, Probe) {
        let (release_tx, release) = crossbeam_channel::unbounded();
        let reads = Arc::new(AtomicUsize::new(0));
        let stopped = Arc::new(AtomicBool::new(false));
        let device = StuckAfter {
            frames,
            release,
            reads: reads.clone(),
            stopped: stopped.clone(),
        };
        let probe = Probe {
            reads,
            stopped,
            release: release_tx,
        };
        (device, probe)
    }

    // Long enough that a loaded machine still delivers the first frames in time.
    const WAITS: Waits = Waits {
        open: Duration::from_secs(2),
        frame: Duration::from_secs(1),
        stop: Duration::from_millis(300),
    };

    fn wait_for(what: &str, cond: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_camera_that_stalls_mid_stream_ends_with_an_error_and_dropping_it_does_not_wait_for_the_driver(
    ) {
        let (device, probe) = stuck_after(2);
        let mut device = Some(device);
        let opener: DeviceOpener = Box::new(move |_| {
            Ok(Box::new(device.take().expect("opened once")) as Box<dyn CaptureDevice>)
        });
        let mut source = CameraSource::open_device(3, opener, WAITS).expect("opens");
        assert_eq!(source.info().name, "stuck test camera");
        let mut frames = 0;
        let error = loop {
            match source.next_frame() {
                Some(Ok(_)) => frames += 1,
                Some(Err(e)) => break e.to_string(),
                None => panic!("the stream ended without saying why"),
            }
        };
        assert!(
            (1..=2).contains(&frames),
            "{frames} frames before the stall"
        );
        assert!(
            error.contains("stuck test camera delivered no frame for 1 s"),
            "{error}"
        );
        assert!(source.next_frame().is_none(), "the stream is over");
        // The capture thread is blocked in the driver: dropping the source gives up on it after
        // `WAITS.stop` instead of waiting for the driver.
        let dropping = Instant::now();
        drop(source);
        assert!(dropping.elapsed() < Duration::from_secs(5));
        assert!(
            !probe.stopped.load(Ordering::SeqCst),
            "still stuck in the driver"
        );
        // When the driver returns, the thread stops streaming at once: no capture keeps running
        // behind the program's back.
        let reads = probe.reads.load(Ordering::SeqCst);
        probe.release.send(()).unwrap();
        wait_for("the capture thread to stop the camera", || {
            probe.stopped.load(Ordering::SeqCst)
        });
        assert_eq!(
            probe.reads.load(Ordering::SeqCst),
            reads,
            "no read after the stop"
        );
    }

    #[test]
    fn a_camera_whose_open_hangs_is_reported_and_never_streams_afterwards() {
        let (device, probe) = stuck_after(usize::MAX);
        let (open_release_tx, open_release) = crossbeam_channel::bounded::<()>(1);
        let opener: DeviceOpener = Box::new(move |_| {
            let _ = open_release.recv(); // the driver is stuck in open
            Ok(Box::new(device) as Box<dyn CaptureDevice>)
        });
        let started = Instant::now();
        let err = match CameraSource::open_device(7, opener, WAITS) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a camera stuck in open was reported as open"),
        };
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            err,
            "camera: camera 7 did not answer within 2 s; check it is not used by another program"
        );
        open_release_tx.send(()).unwrap();
        wait_for("the late-opened camera to be stopped", || {
            probe.stopped.load(Ordering::SeqCst)
        });
        assert_eq!(probe.reads.load(Ordering::SeqCst), 0, "it never streamed");
    }

    #[test]
    fn a_camera_that_cannot_be_opened_says_why() {
        let opener: DeviceOpener = Box::new(|i| {
            Err(Error::Camera(format!(
                "cannot open camera {i} (no such device)"
            )))
        });
        let err = CameraSource::open_device(2, opener, WAITS)
            .err()
            .expect("refused")
            .to_string();
        assert_eq!(err, "camera: cannot open camera 2 (no such device)");
    }
}
