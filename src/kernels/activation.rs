//! Activations fused into the convolution kernels, with the exact operation order of the
//! graphs they replace (so fused and unfused results are bit-identical).

/// What runs on a convolution's output before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Activation {
    #[default]
    Identity,
    /// `max(x, 0)`
    Relu,
    /// `min(max(x, 0), 6)` (MobileNetV2)
    Relu6,
    /// `(x * scale) * min(max(x + 3, 0), 6)` (MobileNetV3's hard-swish; `scale` is 1/6 as
    /// stored in the model, which may be rounded).
    HardSwish { scale: f32 },
}

impl Activation {
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::HardSwish { scale } => (x * scale) * (x + 3.0).clamp(0.0, 6.0),
        }
    }

    /// Apply in place to a row (the `match` is outside the loop so each arm vectorises).
    #[inline(always)]
    pub fn apply_slice(self, xs: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
            Activation::Relu6 => xs.iter_mut().for_each(|x| *x = x.clamp(0.0, 6.0)),
            Activation::HardSwish { scale } => xs
                .iter_mut()
                .for_each(|x| *x = (*x * scale) * (*x + 3.0).clamp(0.0, 6.0)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "",
            Activation::Relu => "+ReLU",
            Activation::Relu6 => "+ReLU6",
            Activation::HardSwish { .. } => "+HardSwish",
        }
    }
}
