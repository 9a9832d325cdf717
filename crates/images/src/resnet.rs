//! ResNet-18 and ResNet-50 in their CIFAR form (He et al. 2016 blocks; SimCLR's CIFAR-10 stem:
//! a 3x3 stride-1 first convolution and no max-pool), batch norm, global average pooling.
//! tch's `vision::resnet` has the ImageNet stem (7x7 stride 2 + max-pool), which throws away
//! most of a 32x32 image, so the blocks are written here. `width` scales every stage (64 is
//! the standard network; tests use 8 or 16).

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::error::{config_error, Result};

/// Which backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResNetKind {
    /// Basic blocks `[2, 2, 2, 2]`, features `8 * width` (512).
    Resnet18,
    /// Bottleneck blocks `[3, 4, 6, 3]`, expansion 4, features `32 * width` (2048).
    Resnet50,
}

impl ResNetKind {
    /// Parses `resnet18` / `resnet50`.
    pub fn parse(name: &str) -> Result<Self> {
        match name
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_'], "")
            .as_str()
        {
            "resnet18" => Ok(ResNetKind::Resnet18),
            "resnet50" => Ok(ResNetKind::Resnet50),
            other => Err(config_error(
                "model.backbone",
                format!("is {other:?}: use \"resnet18\" or \"resnet50\""),
            )),
        }
    }

    /// Feature size for stage width `width`.
    pub fn features(self, width: i64) -> i64 {
        match self {
            ResNetKind::Resnet18 => 8 * width,
            ResNetKind::Resnet50 => 32 * width,
        }
    }
}

fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64) -> nn::Conv2D {
    let config = nn::ConvConfig {
        stride,
        padding: k / 2,
        bias: false,
        // He (fan-out) init, as torchvision's ResNet.
        ws_init: nn::Init::Kaiming {
            dist: nn::init::NormalOrUniform::Normal,
            fan: nn::init::FanInOut::FanOut,
            non_linearity: nn::init::NonLinearity::ReLU,
        },
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, k, config)
}

fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
}

/// A residual block (basic or bottleneck) with its projection shortcut when shapes change.
#[derive(Debug)]
struct Block {
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
    shortcut: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Block {
    fn basic(p: &nn::Path, cin: i64, cout: i64, stride: i64) -> Block {
        let convs = vec![
            (conv(p / "conv1", cin, cout, 3, stride), bn(p / "bn1", cout)),
            (conv(p / "conv2", cout, cout, 3, 1), bn(p / "bn2", cout)),
        ];
        let shortcut = (stride != 1 || cin != cout).then(|| {
            (
                conv(p / "shortcut_conv", cin, cout, 1, stride),
                bn(p / "shortcut_bn", cout),
            )
        });
        Block { convs, shortcut }
    }

    fn bottleneck(p: &nn::Path, cin: i64, mid: i64, stride: i64) -> Block {
        let cout = 4 * mid;
        let convs = vec![
            (conv(p / "conv1", cin, mid, 1, 1), bn(p / "bn1", mid)),
            (conv(p / "conv2", mid, mid, 3, stride), bn(p / "bn2", mid)),
            (conv(p / "conv3", mid, cout, 1, 1), bn(p / "bn3", cout)),
        ];
        let shortcut = (stride != 1 || cin != cout).then(|| {
            (
                conv(p / "shortcut_conv", cin, cout, 1, stride),
                bn(p / "shortcut_bn", cout),
            )
        });
        Block { convs, shortcut }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y = x.shallow_clone();
        let last = self.convs.len() - 1;
        for (i, (c, b)) in self.convs.iter().enumerate() {
            y = b.forward_t(&c.forward_t(&y, train), train);
            if i != last {
                y = y.relu();
            }
        }
        let skip = match &self.shortcut {
            Some((c, b)) => b.forward_t(&c.forward_t(x, train), train),
            None => x.shallow_clone(),
        };
        (y + skip).relu()
    }
}

/// A CIFAR ResNet: `[B, 3, S, S]` float -> `[B, features]`.
#[derive(Debug)]
pub struct ResNet {
    stem: (nn::Conv2D, nn::BatchNorm),
    blocks: Vec<Block>,
    features: i64,
}

impl ResNet {
    /// Creates the variables under `p`.
    pub fn new(p: &nn::Path, kind: ResNetKind, width: i64) -> ResNet {
        let stem = (
            conv(p / "stem_conv", 3, width, 3, 1),
            bn(p / "stem_bn", width),
        );
        let (layers, bottleneck): ([usize; 4], bool) = match kind {
            ResNetKind::Resnet18 => ([2, 2, 2, 2], false),
            ResNetKind::Resnet50 => ([3, 4, 6, 3], true),
        };
        let mut blocks = Vec::new();
        let mut cin = width;
        for (stage, &n) in layers.iter().enumerate() {
            let mid = width << stage;
            for i in 0..n {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let bp = p / format!("layer{}_{}", stage + 1, i);
                if bottleneck {
                    blocks.push(Block::bottleneck(&bp, cin, mid, stride));
                    cin = 4 * mid;
                } else {
                    blocks.push(Block::basic(&bp, cin, mid, stride));
                    cin = mid;
                }
            }
        }
        ResNet {
            stem,
            blocks,
            features: kind.features(width),
        }
    }

    /// Output features per image.
    pub fn features(&self) -> i64 {
        self.features
    }

    /// `x: [B, 3, S, S]` float -> `[B, features]`; `train` uses batch statistics (and
    /// updates the running ones).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y = self
            .stem
            .1
            .forward_t(&self.stem.0.forward_t(x, train), train)
            .relu();
        for b in &self.blocks {
            y = b.forward(&y, train);
        }
        y.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}
