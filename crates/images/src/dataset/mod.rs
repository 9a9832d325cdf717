//! One dataset interface for the image experiment: [`ImageData`] (train and test images as
//! one `u8 [N, H, W, 3]` tensor each, decoded once, with class indices), the `[dataset]`
//! config ([`DatasetConfig`]) and the registry of formats ([`DatasetFormat`]): one file per
//! format (`cifar.rs`, `folder.rs`, `atari.rs`) plus one line in [`FORMATS`].

mod atari;
mod cifar;
mod folder;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{config_error, ImagesError, Result, TorchContext};

pub use atari::AtariFormat;
pub use cifar::{Cifar10Format, CIFAR_RECORD_BYTES};
pub use folder::FolderFormat;

/// Every registered dataset format, in the order `dimua` lists them.
pub const FORMATS: &[&dyn DatasetFormat] = &[&Cifar10Format, &FolderFormat, &AtariFormat];

/// A readable image dataset format.
pub trait DatasetFormat: Send + Sync {
    /// The `format = "..."` name.
    fn name(&self) -> &'static str;
    /// One line for `--help` and error messages: what `path` must point at.
    fn describe(&self) -> &'static str;
    /// Reads train and test images (every image `[H, W, 3]` `u8`, one size per dataset).
    fn load(&self, config: &DatasetConfig) -> Result<ImageData>;
}

/// The `[dataset]` table of an image config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// One of [`FORMATS`]: `cifar10`, `folder` or `atari`.
    pub format: String,
    /// Where the data is (see each format's [`DatasetFormat::describe`]).
    pub path: PathBuf,
    /// `atari` only: the RAM label whose value is the class (e.g. `player_x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Side of the square images the model sees: the dataset's images (all of one size) are
    /// resized once at load (area interpolation when shrinking, bilinear when growing).
    /// `None`: as stored (must be square).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<usize>,
    /// Fraction of the train images held out (per class, seeded) as the validation split of
    /// the linear evaluation (its early stopping). The encoder pretrains on all train images.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    /// Keep at most this many train images (the first ones, in file order); `None`: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train: Option<usize>,
}

fn default_val_fraction() -> f64 {
    0.1
}

impl DatasetConfig {
    /// The registered format named by `format`, or an error listing the known ones.
    pub fn format(&self) -> Result<&'static dyn DatasetFormat> {
        FORMATS
            .iter()
            .copied()
            .find(|f| f.name() == self.format)
            .ok_or_else(|| {
                config_error(
                    "dataset.format",
                    format!(
                        "is {:?}: use one of {}",
                        self.format,
                        FORMATS
                            .iter()
                            .map(|f| format!("\"{}\" ({})", f.name(), f.describe()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    /// Checks the values that need no disk access.
    pub fn validate(&self) -> Result<()> {
        self.format()?;
        if !(self.val_fraction > 0.0 && self.val_fraction < 0.5) {
            return Err(config_error(
                "dataset.val_fraction",
                format!(
                    "is {}: use a value in (0, 0.5), e.g. 0.1",
                    self.val_fraction
                ),
            ));
        }
        if self.image_size == Some(0) || self.image_size.is_some_and(|s| s > 512) {
            return Err(config_error("dataset.image_size", "must be in 1..=512"));
        }
        if self.max_train == Some(0) {
            return Err(config_error(
                "dataset.max_train",
                "must be > 0 (or left out)",
            ));
        }
        if self.label.is_some() && self.format != "atari" {
            return Err(config_error(
                "dataset.label",
                "is only for format = \"atari\": remove it",
            ));
        }
        Ok(())
    }

    /// Reads the dataset, applies `max_train` and `image_size`.
    pub fn load(&self) -> Result<ImageData> {
        self.validate()?;
        let mut data = self.format()?.load(self)?;
        if let Some(max) = self.max_train {
            data.train = data.train.head(max)?;
        }
        if let Some(size) = self.image_size {
            data.train = data.train.resized(size)?;
            data.test = data.test.resized(size)?;
        }
        data.check()?;
        Ok(data)
    }
}

/// Images of one split and their classes.
#[derive(Debug)]
pub struct ImageSet {
    /// `u8 [N, H, W, 3]` on the CPU.
    pub images: Tensor,
    /// Class index of each image (`< classes.len()` of the dataset).
    pub labels: Vec<u8>,
}

impl ImageSet {
    /// Builds a set from `N` images of `h x w x 3` bytes each, in order.
    pub fn from_bytes(bytes: &[u8], h: usize, w: usize, labels: Vec<u8>) -> Result<Self> {
        let n = labels.len();
        if bytes.len() != n * h * w * 3 {
            return Err(ImagesError::Format {
                path: PathBuf::from("<images>"),
                reason: format!("{} bytes for {n} images of {h}x{w}x3", bytes.len()),
            });
        }
        let images = Tensor::from_slice(bytes).view([n as i64, h as i64, w as i64, 3]);
        Ok(ImageSet { images, labels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `(H, W)`.
    pub fn size(&self) -> (usize, usize) {
        let s = self.images.size();
        (s[1] as usize, s[2] as usize)
    }

    /// The first `n` images (all if fewer).
    pub fn head(&self, n: usize) -> Result<ImageSet> {
        let n = n.min(self.len());
        Ok(ImageSet {
            images: self.images.f_narrow(0, 0, n as i64).ctx("taking images")?,
            labels: self.labels[..n].to_vec(),
        })
    }

    /// The images at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Result<ImageSet> {
        let idx = Tensor::from_slice(&rows.iter().map(|&r| r as i64).collect::<Vec<_>>());
        Ok(ImageSet {
            images: self
                .images
                .f_index_select(0, &idx)
                .ctx("selecting images")?,
            labels: rows.iter().map(|&r| self.labels[r]).collect(),
        })
    }

    /// Every image resized to `size x size` (area interpolation when shrinking, as OpenCV's
    /// `INTER_AREA` for integer factors; bilinear when growing), rounded back to `u8`.
    pub fn resized(&self, size: usize) -> Result<ImageSet> {
        let (h, w) = self.size();
        if (h, w) == (size, size) || self.is_empty() {
            return Ok(ImageSet {
                images: self.images.shallow_clone(),
                labels: self.labels.clone(),
            });
        }
        let ctx = "resizing images";
        let x = self
            .images
            .f_permute([0, 3, 1, 2])
            .and_then(|x| x.f_to_kind(Kind::Float))
            .ctx(ctx)?;
        let s = size as i64;
        let y = if size <= h.min(w) {
            x.f_adaptive_avg_pool2d([s, s]).ctx(ctx)?
        } else {
            x.f_upsample_bilinear2d([s, s], false, None, None)
                .ctx(ctx)?
        };
        let images = y
            .f_round()
            .and_then(|y| y.f_clamp(0.0, 255.0))
            .and_then(|y| y.f_to_kind(Kind::Uint8))
            .and_then(|y| y.f_permute([0, 2, 3, 1]))
            .and_then(|y| y.f_contiguous())
            .ctx(ctx)?;
        Ok(ImageSet {
            images,
            labels: self.labels.clone(),
        })
    }
}

/// A dataset: train and test images of one size, and the class names.
#[derive(Debug)]
pub struct ImageData {
    /// Where it was read from, for messages.
    pub source: String,
    /// Train images (pretraining uses all of them; the linear evaluation holds out
    /// `val_fraction` of them per class).
    pub train: ImageSet,
    /// Test images (only the linear evaluation's final score sees them).
    pub test: ImageSet,
    /// Class names; a label `c` is `classes[c]`.
    pub classes: Vec<String>,
}

impl ImageData {
    /// Checks sizes, channel counts and class indices.
    pub fn check(&self) -> Result<()> {
        let bad = |reason: String| ImagesError::Format {
            path: PathBuf::from(&self.source),
            reason,
        };
        if self.train.is_empty() || self.test.is_empty() {
            return Err(bad(format!(
                "needs train and test images (found {} train, {} test)",
                self.train.len(),
                self.test.len()
            )));
        }
        let (h, w) = self.train.size();
        if self.test.size() != (h, w) {
            return Err(bad(format!(
                "train images are {h}x{w} but test images {:?}: give both splits one size",
                self.test.size()
            )));
        }
        if h != w {
            return Err(bad(format!(
                "images are {h}x{w}, not square: set [dataset] image_size to resize them"
            )));
        }
        if self.classes.len() < 2 || self.classes.len() > 256 {
            return Err(bad(format!(
                "has {} classes: the linear evaluation needs 2 to 256",
                self.classes.len()
            )));
        }
        let c = self.classes.len();
        for set in [&self.train, &self.test] {
            if let Some(l) = set.labels.iter().find(|&&l| l as usize >= c) {
                return Err(bad(format!("label {l} but only {c} classes")));
            }
        }
        Ok(())
    }

    /// Side of the (square) images.
    pub fn image_size(&self) -> usize {
        self.train.size().0
    }

    /// Splits the train rows into (linear-eval train, linear-eval val): `fraction` of each
    /// class (at least one image of every class with two or more) goes to val, drawn by a
    /// ChaCha8 stream seeded with `seed`; both lists sorted.
    pub fn val_split(&self, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for class in 0..self.classes.len() {
            let mut rows: Vec<usize> = (0..self.train.len())
                .filter(|&r| self.train.labels[r] as usize == class)
                .collect();
            rows.shuffle(&mut rng);
            let k = if rows.len() >= 2 {
                ((rows.len() as f64 * fraction).round() as usize).clamp(1, rows.len() - 1)
            } else {
                0
            };
            val.extend_from_slice(&rows[..k]);
            train.extend_from_slice(&rows[k..]);
        }
        train.sort_unstable();
        val.sort_unstable();
        (train, val)
    }
}
