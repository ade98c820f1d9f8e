//! Which vector instructions the kernels may use, decided once at run time.
//!
//! Every kernel is one generic body (`#[inline(always)]`, fixed-size arrays the compiler turns
//! into vector registers) instantiated once per [`Isa`] inside a `#[target_feature]` function,
//! so a single binary runs the AVX-512 code on CPUs that have it, AVX2+FMA on older x86-64,
//! and the portable instantiation elsewhere (on aarch64 the portable code is NEON with fused
//! multiply-add, both being part of the baseline there). Tests run every instantiation this
//! CPU supports against a naive reference.

use std::sync::OnceLock;

/// An instruction-set level the kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Baseline code of the target (SSE2 on x86-64, NEON on aarch64).
    Portable,
    /// x86-64 AVX2 with FMA3 (256-bit vectors).
    Avx2Fma,
    /// x86-64 AVX-512F (512-bit vectors).
    Avx512,
}

impl Isa {
    /// Whether this CPU can run code compiled for `self`.
    pub fn supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every level this CPU supports, slowest first.
    pub fn all_supported() -> Vec<Isa> {
        [Isa::Portable, Isa::Avx2Fma, Isa::Avx512]
            .into_iter()
            .filter(|i| i.supported())
            .collect()
    }

    /// The fastest level this CPU supports, unless `CENTERSCOPE_ISA` (`portable`, `avx2`,
    /// `avx512`) asks for a lower one.
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            let best = *Isa::all_supported().last().unwrap_or(&Isa::Portable);
            let wanted = match crate::env::isa().as_deref() {
                Some("portable") => Isa::Portable,
                Some("avx2") => Isa::Avx2Fma,
                _ => best,
            };
            if wanted.supported() {
                wanted
            } else {
                best
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2Fma => "avx2+fma",
            Isa::Avx512 => "avx512",
        }
    }
}

/// `a * b + c`, fused when the instantiation has hardware FMA (on x86-64 without FMA,
/// `mul_add` would be a slow library call).
#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Whether the portable instantiation has hardware FMA (aarch64 always does).
pub const PORTABLE_FMA: bool = cfg!(target_arch = "aarch64");
