//! dimua's own AtariARI datasets (`dimua collect --out DIR`) as an image set: the frames of
//! the train and val episodes are the train images, the test episodes' frames the test
//! images, and the value of one RAM label (`[dataset] label`) is the class (classes: the
//! label's distinct values, ascending). Grayscale frames are repeated to three channels.

use dimua_collect::Dataset;

use super::{DatasetConfig, DatasetFormat, ImageData, ImageSet};
use crate::error::{config_error, ImagesError, Result};

/// `format = "atari"`.
pub struct AtariFormat;

impl DatasetFormat for AtariFormat {
    fn name(&self) -> &'static str {
        "atari"
    }

    fn describe(&self) -> &'static str {
        "a dataset written by `dimua collect --out DIR`, with `label` naming the class label"
    }

    fn load(&self, config: &DatasetConfig) -> Result<ImageData> {
        let label = config.label.as_deref().ok_or_else(|| {
            config_error(
                "dataset.label",
                "is missing: name the RAM label whose value is the class (e.g. label = \
                 \"player_x\"; `dimua games` lists each game's labels)",
            )
        })?;
        let data = Dataset::open(&config.path).map_err(|e| ImagesError::Format {
            path: config.path.clone(),
            reason: format!("is not a readable dimua dataset: {e}"),
        })?;
        let names: Vec<&str> = data
            .manifest
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        let column = names.iter().position(|n| *n == label).ok_or_else(|| {
            config_error(
                "dataset.label",
                format!(
                    "is {label:?}, not a label of this dataset ({}): use one of {}",
                    data.manifest.game,
                    names.join(", ")
                ),
            )
        })?;
        let [h, w, c] = data.manifest.frame_shape;
        let k = names.len();
        let mut values: Vec<u8> = (0..data.len())
            .map(|i| data.labels[i * k + column])
            .collect();
        let mut distinct = values.clone();
        distinct.sort_unstable();
        distinct.dedup();
        for v in &mut values {
            *v = distinct.binary_search(v).unwrap_or(0) as u8;
        }
        let mut split_sets = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
        for i in 0..data.len() {
            let set = &mut split_sets[usize::from(data.split[i] == 2)];
            let frame = data.frame(i);
            if c == 3 {
                set.0.extend_from_slice(frame);
            } else {
                for &p in frame {
                    set.0.extend_from_slice(&[p, p, p]);
                }
            }
            set.1.push(values[i]);
        }
        let [train, test] = split_sets;
        Ok(ImageData {
            source: format!(
                "{} ({}, label {label})",
                config.path.display(),
                data.manifest.game
            ),
            train: ImageSet::from_bytes(&train.0, h, w, train.1)?,
            test: ImageSet::from_bytes(&test.0, h, w, test.1)?,
            classes: distinct.iter().map(|v| v.to_string()).collect(),
        })
    }
}
