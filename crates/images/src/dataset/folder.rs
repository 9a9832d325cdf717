//! A folder of images with one sub-folder per class: `PATH/train/<class>/*` and
//! `PATH/test/<class>/*` (PNG, JPEG or BMP, decoded with `image` to RGB). Classes are the
//! sorted sub-folder names of `train`; every `test` class must be one of them.

use std::path::{Path, PathBuf};

use super::{DatasetConfig, DatasetFormat, ImageData, ImageSet};
use crate::error::{io_at, ImagesError, Result};

/// `format = "folder"`.
pub struct FolderFormat;

impl DatasetFormat for FolderFormat {
    fn name(&self) -> &'static str {
        "folder"
    }

    fn describe(&self) -> &'static str {
        "a folder with train/<class>/*.png and test/<class>/*.png (PNG, JPEG or BMP)"
    }

    fn load(&self, config: &DatasetConfig) -> Result<ImageData> {
        let root = &config.path;
        for split in ["train", "test"] {
            if !root.join(split).is_dir() {
                return Err(ImagesError::Format {
                    path: root.join(split),
                    reason: "is missing: an image folder needs train/<class>/ and test/<class>/ \
                             sub-folders"
                        .into(),
                });
            }
        }
        let classes = subdirs(&root.join("train"))?;
        if classes.is_empty() {
            return Err(ImagesError::Format {
                path: root.join("train"),
                reason: "has no class sub-folders".into(),
            });
        }
        let train = read_split(&root.join("train"), &classes, None)?;
        let size = train.size();
        let test = read_split(&root.join("test"), &classes, Some(size))?;
        for c in subdirs(&root.join("test"))? {
            if !classes.contains(&c) {
                return Err(ImagesError::Format {
                    path: root.join("test").join(&c),
                    reason: format!("class {c:?} has no train folder"),
                });
            }
        }
        Ok(ImageData {
            source: root.display().to_string(),
            train,
            test,
            classes,
        })
    }
}

/// Sorted names of the sub-directories of `dir`.
fn subdirs(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io_at("read directory", dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Reads every image of every class folder under `dir` (files sorted by name), checking that
/// all have one size (`expect`, or the first image's).
fn read_split(dir: &Path, classes: &[String], expect: Option<(usize, usize)>) -> Result<ImageSet> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let mut size = expect;
    for (c, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&class_dir)
            .map_err(io_at("read directory", &class_dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let img = image::open(&f)
                .map_err(|e| ImagesError::Format {
                    path: f.clone(),
                    reason: format!("cannot be decoded as an image ({e}); remove it"),
                })?
                .to_rgb8();
            let this = (img.height() as usize, img.width() as usize);
            match size {
                None => size = Some(this),
                Some(s) if s != this => {
                    return Err(ImagesError::Format {
                        path: f,
                        reason: format!(
                            "is {}x{} (HxW) but the others are {}x{}: resize the folder's images \
                             to one size",
                            this.0, this.1, s.0, s.1
                        ),
                    })
                }
                Some(_) => {}
            }
            pixels.extend_from_slice(img.as_raw());
            labels.push(c as u8);
        }
    }
    let (h, w) = size.unwrap_or((0, 0));
    if labels.is_empty() {
        return Err(ImagesError::Format {
            path: dir.to_path_buf(),
            reason: "holds no images".into(),
        });
    }
    ImageSet::from_bytes(&pixels, h, w, labels)
}
