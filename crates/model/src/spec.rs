//! Architecture description of the encoder (frame shape, heads, units) and the geometry it
//! implies (local map size, flattened trunk size), plus `--device` parsing.

use serde::{Deserialize, Serialize};
use tch::Device;

use crate::error::ModelError;

/// Depth (channels) of the local feature map handed to the losses (conv3's output).
pub const LOCAL_DEPTH: usize = 128;
/// Channels of the last conv layer (conv4), whose flattened output feeds the atlas.
pub const TRUNK_CHANNELS: usize = 64;

/// The (kernel, stride) of conv1..conv4 (PROTOCOL.md section 3, no padding).
/// The conv trunk's (kernel, stride) per layer, first to last (the pixel decoder mirrors it).
pub(crate) const CONVS: [(usize, usize); 4] = [(8, 4), (4, 2), (4, 2), (3, 1)];

/// Shape of one stored frame, `H x W x C`, u8 (210 x 160 x 1 grayscale by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameShape {
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// Channels (1 grayscale, 3 color).
    pub channels: usize,
}

impl FrameShape {
    /// The AtariARI default: 210 x 160 grayscale.
    pub const ATARI_GRAY: FrameShape = FrameShape {
        height: 210,
        width: 160,
        channels: 1,
    };
    /// 210 x 160 RGB (`--color`).
    pub const ATARI_COLOR: FrameShape = FrameShape {
        height: 210,
        width: 160,
        channels: 3,
    };

    /// Bytes of one frame (`H * W * C`).
    pub fn bytes(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// `[H, W, C]` as i64, for tensor shapes.
    pub fn dims(&self) -> [i64; 3] {
        [self.height as i64, self.width as i64, self.channels as i64]
    }
}

impl std::fmt::Display for FrameShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.height, self.width, self.channels)
    }
}

/// The architecture of an encoder: input frame shape and atlas size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderSpec {
    /// Input frame shape (u8, `H x W x C`).
    pub frame: FrameShape,
    /// Number of atlas heads (charts) `n`.
    pub heads: usize,
    /// Units per head `d` (the dimension of the encoder's inference output).
    pub units: usize,
}

/// Sizes derived from an [`EncoderSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Local map (conv3 output) height; 11 at 210 x 160.
    pub local_height: usize,
    /// Local map width; 8 at 210 x 160.
    pub local_width: usize,
    /// conv4 output height; 9 at 210 x 160.
    pub trunk_height: usize,
    /// conv4 output width; 6 at 210 x 160.
    pub trunk_width: usize,
}

impl Geometry {
    /// Number of local-map locations (88 at 210 x 160).
    pub fn locations(&self) -> usize {
        self.local_height * self.local_width
    }

    /// Flattened conv4 output size (3456 at 210 x 160).
    pub fn flat_dim(&self) -> usize {
        TRUNK_CHANNELS * self.trunk_height * self.trunk_width
    }
}

fn conv_out(size: usize, kernel: usize, stride: usize) -> Option<usize> {
    size.checked_sub(kernel).map(|s| s / stride + 1)
}

/// Smallest height/width the trunk accepts (conv4 needs a 3 x 3 input).
pub const MIN_FRAME_SIDE: usize = 76;

impl EncoderSpec {
    /// Builds and validates a spec.
    pub fn new(frame: FrameShape, heads: usize, units: usize) -> Result<Self, ModelError> {
        let spec = EncoderSpec {
            frame,
            heads,
            units,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks for zero heads/units/channels and frames too small for the trunk.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.heads == 0 {
            return Err(ModelError::ZeroHeads);
        }
        if self.units == 0 {
            return Err(ModelError::ZeroUnits);
        }
        if self.frame.channels == 0 {
            return Err(ModelError::ZeroChannels);
        }
        self.geometry().map(|_| ())
    }

    /// The local-map and trunk sizes for this frame shape.
    pub fn geometry(&self) -> Result<Geometry, ModelError> {
        let too_small = || ModelError::FrameTooSmall {
            height: self.frame.height,
            width: self.frame.width,
            min: MIN_FRAME_SIDE,
        };
        let mut h = self.frame.height;
        let mut w = self.frame.width;
        let mut sizes = [(0, 0); 4];
        for (i, &(k, s)) in CONVS.iter().enumerate() {
            h = conv_out(h, k, s).ok_or_else(too_small)?;
            w = conv_out(w, k, s).ok_or_else(too_small)?;
            sizes[i] = (h, w);
        }
        Ok(Geometry {
            local_height: sizes[2].0,
            local_width: sizes[2].1,
            trunk_height: sizes[3].0,
            trunk_width: sizes[3].1,
        })
    }

    /// Dimension of the inference output (one head's coordinates): `units`.
    pub fn feature_dim(&self) -> usize {
        self.units
    }
}

/// Parses `--device`: `auto` (CUDA 0 when libtorch sees a GPU, else CPU), `cpu`, `cuda`
/// (= `cuda:0`) or `cuda:<index>`. Asking for CUDA without a GPU is an error, not a
/// silent fallback.
pub fn parse_device(name: &str) -> Result<Device, ModelError> {
    let norm = name.trim().to_ascii_lowercase();
    let cuda = |index: usize| {
        let available = if tch::Cuda::is_available() {
            tch::Cuda::device_count() as usize
        } else {
            0
        };
        if index < available {
            Ok(Device::Cuda(index))
        } else {
            Err(ModelError::CudaUnavailable {
                requested: name.trim().to_string(),
                available,
            })
        }
    };
    match norm.as_str() {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu" => cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(index)) => cuda(index),
            _ => Err(ModelError::UnknownDevice {
                name: name.to_string(),
            }),
        },
    }
}

/// A short name for a device (`cpu`, `cuda:0`), the inverse of [`parse_device`].
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".to_string(),
        Device::Vulkan => "vulkan".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atari_geometry_matches_protocol() {
        let spec = EncoderSpec::new(FrameShape::ATARI_GRAY, 1, 256).unwrap();
        let g = spec.geometry().unwrap();
        assert_eq!((g.local_height, g.local_width), (11, 8));
        assert_eq!(g.locations(), 88);
        assert_eq!((g.trunk_height, g.trunk_width), (9, 6));
        assert_eq!(g.flat_dim(), 3456);
    }

    #[test]
    fn tiny_frames_are_rejected() {
        let f = FrameShape {
            height: 75,
            width: 160,
            channels: 1,
        };
        assert!(matches!(
            EncoderSpec::new(f, 1, 8),
            Err(ModelError::FrameTooSmall { .. })
        ));
        let f = FrameShape {
            height: MIN_FRAME_SIDE,
            width: MIN_FRAME_SIDE,
            channels: 1,
        };
        EncoderSpec::new(f, 1, 8).unwrap();
    }

    #[test]
    fn device_strings() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert_eq!(parse_device("CPU").unwrap(), Device::Cpu);
        assert!(matches!(
            parse_device("tpu"),
            Err(ModelError::UnknownDevice { .. })
        ));
        assert!(matches!(
            parse_device("cuda:x"),
            Err(ModelError::UnknownDevice { .. })
        ));
        if !tch::Cuda::is_available() {
            assert!(matches!(
                parse_device("cuda"),
                Err(ModelError::CudaUnavailable { .. })
            ));
            assert_eq!(parse_device("auto").unwrap(), Device::Cpu);
        }
        assert!(matches!(
            parse_device("cuda:99"),
            Err(ModelError::CudaUnavailable { .. })
        ));
    }
}
