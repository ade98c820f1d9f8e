//! The per-model manifest: everything the app needs to know about an ONNX file that the file
//! itself does not say (how to feed it, how to decode it, what the classes are called, where it
//! came from). Built-in models ship one beside each `.onnx` in `models/`; a user model needs one
//! too (`model.onnx` + `model.json`).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the network's raw outputs turn into detections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// CenterFace: heatmap + log-scale + offset + 5 landmarks (NCHW), threshold + NMS.
    Centerface,
    /// CenterNet whose box head gives distances left/top/right/bottom in input pixels
    /// (the TF.js MobileNetV3 COCO model), heatmap already sigmoid.
    CenternetLtrb,
    /// Classic CenterNet (xingyizhou/CenterNet): `hm` (logits), `wh`, `reg` heads, NCHW.
    CenternetClassic,
    /// MoveNet MultiPose: decoded in-graph to `[1, 6, 56]` poses.
    MovenetMultipose,
}

/// What a network output is for the decoder (the keys of a manifest's `"outputs"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputRole {
    Heatmap,
    Scale,
    Offset,
    Landmarks,
    Wh,
    Poses,
}

impl std::fmt::Display for OutputRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OutputRole::Heatmap => "heatmap",
            OutputRole::Scale => "scale",
            OutputRole::Offset => "offset",
            OutputRole::Landmarks => "landmarks",
            OutputRole::Wh => "wh",
            OutputRole::Poses => "poses",
        })
    }
}

impl Family {
    /// Output roles the decoder needs, in the order the runtime keeps them.
    pub fn roles(self) -> &'static [OutputRole] {
        use OutputRole::*;
        match self {
            Family::Centerface => &[Heatmap, Scale, Offset, Landmarks],
            Family::CenternetLtrb => &[Heatmap, Wh],
            Family::CenternetClassic => &[Heatmap, Wh, Offset],
            Family::MovenetMultipose => &[Poses],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
    Nhwc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    F32,
    I32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    Rgb,
    Bgr,
}

/// How a frame of any size is fitted into the network input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizePolicy {
    /// Resize to the input size, ignoring aspect ratio (boxes are mapped back per axis).
    Stretch,
    /// Keep aspect ratio, place top-left, pad the rest with zeros.
    Letterbox,
    /// Pad bottom/right to a square, then resize.
    PadSquare,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub name: String,
    pub layout: Layout,
    pub dtype: InputType,
    #[serde(default = "default_channels")]
    pub channels: Channels,
    pub resize: ResizePolicy,
    /// Default `[height, width]`.
    pub size: [usize; 2],
    /// When > 0, any size that is a multiple of this is accepted.
    #[serde(default)]
    pub size_multiple: usize,
    #[serde(default = "default_mean")]
    pub mean: [f32; 3],
    #[serde(default = "default_std")]
    pub std: [f32; 3],
}

fn default_channels() -> Channels {
    Channels::Rgb
}
fn default_mean() -> [f32; 3] {
    [0.0; 3]
}
fn default_std() -> [f32; 3] {
    [1.0; 3]
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Defaults {
    pub score_threshold: f32,
    #[serde(default = "default_nms")]
    pub nms_iou: f32,
    #[serde(default = "default_top_k")]
    pub top_k: usize,
}

fn default_nms() -> f32 {
    0.5
}
fn default_top_k() -> usize {
    100
}

/// Decoder options that only some families use.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DecodeSpec {
    /// Whether the heatmap still needs a sigmoid (classic CenterNet exports logits).
    #[serde(default)]
    pub heatmap_sigmoid: Option<bool>,
    /// Output stride of the heads (CenterNet: 4).
    #[serde(default)]
    pub stride: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub task: String,
    pub family: Family,
    pub file: String,
    pub input: InputSpec,
    /// Decoder role → ONNX output name.
    pub outputs: BTreeMap<OutputRole, String>,
    pub labels: Vec<String>,
    #[serde(default)]
    pub keypoints: Vec<String>,
    #[serde(default)]
    pub skeleton: Vec<[usize; 2]>,
    pub defaults: Defaults,
    #[serde(default)]
    pub decode: DecodeSpec,
    #[serde(default)]
    pub params: Option<u64>,
    #[serde(default)]
    pub macs: Option<u64>,
    #[serde(default)]
    pub origin: String,
    #[serde(default)]
    pub license: String,
    #[serde(default)]
    pub sha256: Option<String>,
}

impl Manifest {
    /// Parse and check a manifest; `source` names it in error messages.
    pub fn parse(text: &str, source: &str) -> Result<Manifest> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| {
            Error::Other(format!(
                "{source}: not a valid model manifest ({e}); see models/README.md for the format"
            ))
        })?;
        manifest.validate(source)?;
        Ok(manifest)
    }

    fn validate(&self, source: &str) -> Result<()> {
        let bad = |m: String| Err(Error::Other(format!("{source}: {m}")));
        if self.id.trim().is_empty() {
            return bad("manifest has an empty \"id\"".into());
        }
        for role in self.family.roles() {
            if !self.outputs.contains_key(role) {
                let needs: Vec<String> =
                    self.family.roles().iter().map(|r| r.to_string()).collect();
                return bad(format!(
                    "family {:?} needs output role \"{role}\" in \"outputs\" (needs {})",
                    self.family,
                    needs.join(", ")
                ));
            }
        }
        if self.labels.is_empty() {
            return bad("\"labels\" is empty; list at least one class name".into());
        }
        let [h, w] = self.input.size;
        if h == 0 || w == 0 || h > 4096 || w > 4096 {
            return bad(format!("input size {h}x{w} is out of range 1..4096"));
        }
        if self.input.size_multiple > 0
            && (h % self.input.size_multiple != 0 || w % self.input.size_multiple != 0)
        {
            return bad(format!(
                "input size {h}x{w} is not a multiple of {}",
                self.input.size_multiple
            ));
        }
        if self.input.std.contains(&0.0) {
            return bad("input \"std\" contains 0".into());
        }
        let d = &self.defaults;
        if !(0.0..=1.0).contains(&d.score_threshold)
            || !(0.0..=1.0).contains(&d.nms_iou)
            || d.top_k == 0
        {
            return bad(
                "defaults out of range: score_threshold and nms_iou in 0..1, top_k > 0".into(),
            );
        }
        for [a, b] in &self.skeleton {
            if *a >= self.keypoints.len() || *b >= self.keypoints.len() {
                return bad(format!(
                    "skeleton edge [{a}, {b}] names a keypoint that does not exist"
                ));
            }
        }
        Ok(())
    }

    /// Whether the model accepts input sizes other than its default.
    pub fn flexible_size(&self) -> bool {
        self.input.size_multiple > 0
    }

    /// The network input `[height, width]` to use for a `width`×`height` source: the default
    /// size, or for models that accept any multiple of N, a size with the default's long side
    /// and the source's aspect ratio (so 16:9 video is not padded or squashed into 4:3).
    pub fn input_size_for(&self, width: u32, height: u32) -> [usize; 2] {
        let [dh, dw] = self.input.size;
        let m = self.input.size_multiple;
        if m == 0 || width == 0 || height == 0 {
            return [dh, dw];
        }
        let long = dh.max(dw) as f64;
        let (w, h) = (width as f64, height as f64);
        let scale = long / w.max(h);
        let round = |v: f64| (((v / m as f64).round() as usize).max(1)) * m;
        [round(h * scale), round(w * scale)]
    }

    /// Like [`Manifest::input_size_for`] but with a chosen long side.
    pub fn input_size_for_long_side(&self, width: u32, height: u32, long: usize) -> [usize; 2] {
        let m = self.input.size_multiple.max(1);
        let scale = long as f64 / width.max(height).max(1) as f64;
        let round = |v: f64| (((v / m as f64).round() as usize).max(1)) * m;
        [round(height as f64 * scale), round(width as f64 * scale)]
    }

    /// Check a user-requested input size against the model's policy.
    pub fn check_size(&self, size: [usize; 2]) -> Result<()> {
        let [h, w] = size;
        let m = self.input.size_multiple;
        if h == 0 || w == 0 || h > 4096 || w > 4096 {
            return Err(Error::InvalidArgument(format!(
                "input size {w}x{h} is out of range (1..4096 per side)"
            )));
        }
        if m == 0 && size != self.input.size {
            let [dh, dw] = self.input.size;
            return Err(Error::InvalidArgument(format!(
                "model {} only accepts input size {dw}x{dh}; drop --size or use {dw}x{dh}",
                self.id
            )));
        }
        if m > 0 && (h % m != 0 || w % m != 0) {
            return Err(Error::InvalidArgument(format!(
                "model {} needs an input size that is a multiple of {m} (got {w}x{h})",
                self.id
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest::parse(
            r#"{"id":"m","name":"M","family":"centerface","file":"m.onnx",
            "input":{"name":"x","layout":"nchw","dtype":"f32","resize":"stretch","size":[480,640],"size_multiple":32},
            "outputs":{"heatmap":"a","scale":"b","offset":"c","landmarks":"d"},
            "labels":["face"],"defaults":{"score_threshold":0.5}}"#,
            "test",
        )
        .expect("valid manifest")
    }

    #[test]
    fn size_policy_keeps_aspect_for_flexible_models() {
        let m = sample();
        assert_eq!(m.input_size_for(1280, 720), [352, 640]);
        assert_eq!(m.input_size_for(640, 480), [480, 640]);
        assert_eq!(m.input_size_for(720, 1280), [640, 352]);
        assert!(m.check_size([480, 640]).is_ok());
        assert!(m.check_size([481, 640]).is_err());
    }

    #[test]
    fn missing_role_is_rejected() {
        let err = Manifest::parse(
            r#"{"id":"m","name":"M","family":"centernet-classic","file":"m.onnx",
            "input":{"name":"x","layout":"nchw","dtype":"f32","resize":"letterbox","size":[512,512]},
            "outputs":{"heatmap":"hm","wh":"wh"},"labels":["a"],"defaults":{"score_threshold":0.3}}"#,
            "t.json",
        )
        .unwrap_err();
        assert!(err.to_string().contains("offset"), "{err}");
    }
}
