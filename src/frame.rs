//! A decoded picture as it travels through the pipeline.

use std::sync::Arc;

/// One decoded, upright RGB24 picture with its position in the stream.
#[derive(Clone, Debug)]
pub struct Frame {
    /// 0-based index of the frame in its source (decode order = presentation order).
    pub index: u64,
    /// Presentation time in milliseconds from the start of the source.
    pub pts_ms: f64,
    pub width: u32,
    pub height: u32,
    /// Tightly packed RGB24, `width * height * 3` bytes.
    pub rgb: Arc<Vec<u8>>,
}

impl Frame {
    pub fn new(index: u64, pts_ms: f64, width: u32, height: u32, rgb: Vec<u8>) -> Self {
        debug_assert_eq!(rgb.len(), width as usize * height as usize * 3);
        Frame {
            index,
            pts_ms,
            width,
            height,
            rgb: Arc::new(rgb),
        }
    }

    pub fn from_image(index: u64, pts_ms: f64, image: image::RgbImage) -> Self {
        let (width, height) = image.dimensions();
        Frame::new(index, pts_ms, width, height, image.into_raw())
    }

    /// The picture as an `image` buffer, without a copy when nothing else shares it (an
    /// export's frame after detection).
    pub fn into_image(self) -> image::RgbImage {
        let (w, h) = (self.width, self.height);
        let rgb = Arc::try_unwrap(self.rgb).unwrap_or_else(|shared| shared.as_ref().clone());
        image::RgbImage::from_raw(w, h, rgb).unwrap_or_else(|| image::RgbImage::new(w, h))
    }

    /// A copy of the picture as an `image` buffer (for drawing and saving).
    pub fn to_image(&self) -> image::RgbImage {
        image::RgbImage::from_raw(self.width, self.height, self.rgb.as_ref().clone())
            .unwrap_or_else(|| image::RgbImage::new(self.width, self.height))
    }
}
