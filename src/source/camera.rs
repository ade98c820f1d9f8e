//! Webcams through `nokhwa`. Capture runs on its own named thread and hands over only the
//! newest frame (a one-slot channel that the capture thread empties before refilling), so a slow
//! consumer never sees stale frames and lag cannot build up; replaced frames are counted.
//! An unplugged camera ends the stream with an error instead of hanging.

use super::{FrameSource, SourceInfo, SourceKind};
use crate::{Error, Frame, Result};
use crossbeam_channel::{Receiver, TrySendError};
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
}

/// How long dropping a source waits for a capture thread stuck in the driver before leaving
/// it to exit on its own (its stop flag is set, so it ends at its next frame).
const STOP_WAIT: Duration = Duration::from_secs(2);

impl CameraSource {
    /// Open camera `index`, preferring MJPEG at 1280×720 (or the closest the camera offers,
    /// falling back to other formats such as YUYV).
    pub fn open(index: u32) -> Result<CameraSource> {
        let (open_tx, open_rx) = crossbeam_channel::bounded::<Result<(String, CameraFormat)>>(1);
        let (tx, rx) = crossbeam_channel::bounded::<Result<Frame>>(1);
        let drain = rx.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (stop_t, dropped_t) = (stop.clone(), dropped.clone());
        let (finished_tx, finished) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name(format!("camera-{index}"))
            .spawn(move || {
                let _finished = finished_tx; // dropped when this thread returns
                let wanted = CameraFormat::new(Resolution::new(1280, 720), FrameFormat::MJPEG, 30);
                let request = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
                let mut camera = match nokhwa::Camera::new(CameraIndex::Index(index), request).and_then(|mut c| c.open_stream().map(|_| c)) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = open_tx.send(Err(Error::Camera(format!(
                            "cannot open camera {index} ({e}); check it is plugged in and not used by another program (list cameras with `centerscope sources`)"
                        ))));
                        return;
                    }
                };
                let _ = open_tx.send(Ok((camera.info().human_name(), camera.camera_format())));
                let start = Instant::now();
                let mut n = 0u64;
                while !stop_t.load(Ordering::Relaxed) {
                    let item = camera
                        .frame()
                        .and_then(|buf| buf.decode_image::<RgbFormat>())
                        .map(|img| {
                            let f = Frame::from_image(n, start.elapsed().as_secs_f64() * 1000.0, img);
                            n += 1;
                            f
                        })
                        .map_err(|e| Error::Camera(format!("camera {index} stopped delivering frames ({e}); was it unplugged?")));
                    let failed = item.is_err();
                    // Newest wins: replace an unconsumed frame rather than queueing behind it.
                    if let Err(TrySendError::Full(item)) = tx.try_send(item) {
                        if drain.try_recv().is_ok() {
                            dropped_t.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = tx.try_send(item);
                    }
                    if failed {
                        break;
                    }
                }
                let _ = camera.stop_stream();
            })
            .map_err(|e| Error::io("cannot start camera thread", e))?;
        let (name, format) = match open_rx.recv_timeout(Duration::from_secs(10)) {
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
                    "camera {index} did not answer within 10 s; check it is not used by another program"
                )));
            }
        };
        let info = SourceInfo {
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
        };
        Ok(CameraSource {
            info,
            frames: rx,
            stop,
            dropped,
            thread: Some(thread),
            finished,
            ended: false,
        })
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
        // A camera that delivers nothing for 5 s is treated as gone rather than waited on.
        match self.frames.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(f)) => Some(Ok(f)),
            Ok(Err(e)) => {
                self.ended = true;
                Some(Err(e))
            }
            Err(_) => {
                self.ended = true;
                Some(Err(Error::Camera(format!(
                    "{} delivered no frame for 5 s; was it unplugged?",
                    self.info.name
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
            self.finished.recv_timeout(STOP_WAIT),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        );
        if let (true, Some(t)) = (returned, self.thread.take()) {
            let _ = t.join();
        }
    }
}
