//! Getting training batches from the frame store onto the device.
//!
//! [`BatchSource`] keeps the train and val [`EpisodeView`]s of a [`FrameStore`] up to date
//! (collection may still be running), samples what a method's [`BatchKind`] asks for
//! (`(x_t, x_{t+1})` pairs, windows of `k` consecutive frames, single frames with or without
//! their labels), and assembles it as one u8 tensor `[k B, H, W, C]` on the training device,
//! position-major (for pairs: earlier frames first):
//!
//! * CPU: the frames are copied once, straight from the store into a reused u8 tensor.
//! * CUDA: a device-side u8 mirror of the store (one row per slot) receives each newly
//!   completed episode's frames once; a batch is an `index_select` on the device, so only
//!   the `2B` slot indices cross the bus per step.

use std::sync::Arc;

use dimua_buffer::{EpisodeFilter, EpisodeView, FrameStore, Split};
use dimua_model::{BatchKind, FrameShape};
use rand::Rng;
use tch::{Device, Kind, Tensor};

use crate::error::{TorchCtx, TrainError};

/// Device-side copy of the frames of the episodes the trainer uses.
#[derive(Debug)]
struct DeviceMirror {
    frames: Tensor,
    /// Next entry of the store's episode table to look at (publication order).
    next_entry: usize,
}

/// Train/val views of a store plus batch assembly on the training device.
#[derive(Debug)]
pub struct BatchSource {
    store: Arc<FrameStore>,
    shape: FrameShape,
    device: Device,
    train: EpisodeView,
    val: EpisodeView,
    mirror: Option<DeviceMirror>,
    staging: Option<Tensor>,
    min_len: usize,
    /// The views were sorted canonically after the store closed.
    sorted_after_close: bool,
}

impl BatchSource {
    /// Views of `store`'s train and val episodes with at least `min_len` frames, for
    /// batches on `device`. With a closed store the views are sorted canonically so that
    /// sampling is reproducible.
    pub fn new(
        store: Arc<FrameStore>,
        shape: FrameShape,
        min_len: usize,
        device: Device,
    ) -> Result<Self, TrainError> {
        Self::with_mirror(store, shape, min_len, device, device != Device::Cpu)
    }

    /// Like [`BatchSource::new`], choosing whether batches come from a device-side mirror of
    /// the store (the default off the CPU) or straight from host memory.
    pub fn with_mirror(
        store: Arc<FrameStore>,
        shape: FrameShape,
        min_len: usize,
        device: Device,
        mirror: bool,
    ) -> Result<Self, TrainError> {
        if store.spec().frame_bytes != shape.bytes() {
            return Err(TrainError::FrameShapeMismatch {
                shape: shape.to_string(),
                shape_bytes: shape.bytes(),
                store_bytes: store.spec().frame_bytes,
            });
        }
        let train = EpisodeView::new(
            &store,
            EpisodeFilter::split(Split::Train).with_min_len(min_len),
        );
        let val = EpisodeView::new(
            &store,
            EpisodeFilter::split(Split::Val).with_min_len(min_len),
        );
        let mirror = if mirror {
            let [h, w, c] = shape.dims();
            let frames = Tensor::f_empty([store.capacity() as i64, h, w, c], (Kind::Uint8, device))
                .ctx("allocating the device copy of the frame store (capacity x frame bytes)")?;
            Some(DeviceMirror {
                frames,
                next_entry: 0,
            })
        } else {
            None
        };
        let mut src = BatchSource {
            store,
            shape,
            device,
            train,
            val,
            mirror,
            staging: None,
            min_len,
            sorted_after_close: false,
        };
        src.refresh()?;
        Ok(src)
    }

    /// Picks up newly completed episodes (and uploads them to the device mirror). Returns
    /// true if any arrived. Once the store is closed, sorts the views canonically.
    pub fn refresh(&mut self) -> Result<bool, TrainError> {
        let closed = self.store.is_closed();
        let added = self.train.refresh(&self.store) + self.val.refresh(&self.store);
        // Once closed, sort (again) whenever episodes arrived, and at least once even if the
        // last episodes had already been read while the store was open.
        if closed && (added > 0 || !self.sorted_after_close) {
            self.train.sort_canonical();
            self.val.sort_canonical();
            self.sorted_after_close = true;
        }
        self.upload_new()?;
        Ok(added > 0)
    }

    fn upload_new(&mut self) -> Result<(), TrainError> {
        let Some(mirror) = &mut self.mirror else {
            return Ok(());
        };
        // Walk the store's episode table (the views' order may change when they are
        // sorted); the mirror is indexed by slot, so the order of uploads does not matter.
        // The walk goes at least as far as the views' refresh did.
        let mut slots: Vec<u32> = Vec::new();
        while let Some(ep) = self.store.episode_at(mirror.next_entry) {
            mirror.next_entry += 1;
            if matches!(ep.split, Split::Train | Split::Val) && ep.len() >= self.min_len {
                slots.extend_from_slice(&ep.slots);
            }
        }
        if slots.is_empty() {
            return Ok(());
        }
        let ctx = "uploading frames to the device";
        let [h, w, c] = self.shape.dims();
        let mut host = Vec::with_capacity(slots.len() * self.shape.bytes());
        self.store.gather_frames(&slots, &mut host);
        let src = Tensor::f_from_slice(&host)
            .and_then(|t| t.f_view([slots.len() as i64, h, w, c]))
            .and_then(|t| t.f_to_device(self.device))
            .ctx(ctx)?;
        let idx: Vec<i64> = slots.iter().map(|&s| s as i64).collect();
        let idx = Tensor::f_from_slice(&idx)
            .and_then(|t| t.f_to_device(self.device))
            .ctx(ctx)?;
        let _ = mirror.frames.f_index_copy_(0, &idx, &src).ctx(ctx)?;
        Ok(())
    }

    /// The train view.
    pub fn train(&self) -> &EpisodeView {
        &self.train
    }

    /// The val view.
    pub fn val(&self) -> &EpisodeView {
        &self.val
    }

    /// The store.
    pub fn store(&self) -> &Arc<FrameStore> {
        &self.store
    }

    /// `n` samples of `kind` from `split`'s view as slots, position-major (pairs: the `n`
    /// earlier frames, then the `n` later ones); `None` if the view has no episode long
    /// enough.
    pub fn sample(
        &self,
        split: Split,
        kind: BatchKind,
        n: usize,
        rng: &mut impl Rng,
    ) -> Option<Vec<u32>> {
        let view = match split {
            Split::Val => &self.val,
            _ => &self.train,
        };
        match kind {
            BatchKind::Pairs => view.sample_pairs(n, rng).map(|pairs| {
                let later = pairs.iter().map(|p| p.1);
                pairs.iter().map(|p| p.0).chain(later).collect()
            }),
            BatchKind::Sequences { len } => view.sample_windows(n, len, rng),
            BatchKind::Frames | BatchKind::LabelledFrames => view.sample_frames(n, rng),
        }
    }

    /// How many distinct samples of `kind` the split's view holds (pairs, windows or frames).
    pub fn available(&self, split: Split, kind: BatchKind) -> usize {
        let view = match split {
            Split::Val => &self.val,
            _ => &self.train,
        };
        match kind {
            BatchKind::Pairs => view.len_pairs(),
            k => view.len_windows(k.frames_per_sample()),
        }
    }

    /// The RAM label bytes of `slots` as `u8 [n, label_bytes]` on the training device.
    pub fn labels(&self, slots: &[u32]) -> Result<Tensor, TrainError> {
        let lb = self.store.spec().label_bytes;
        let mut host = Vec::with_capacity(slots.len() * lb);
        self.store.gather_labels(slots, &mut host);
        Tensor::f_from_slice(&host)
            .and_then(|t| t.f_view([slots.len() as i64, lb as i64]))
            .and_then(|t| t.f_to_device(self.device))
            .ctx("gathering labels")
    }

    /// The frames of `slots`, in that order, as one u8 tensor `[n, H, W, C]` on the device.
    pub fn gather(&mut self, slots: &[u32]) -> Result<Tensor, TrainError> {
        let rows = slots.len();
        let order = slots.iter().copied();
        match &self.mirror {
            Some(m) => {
                let idx: Vec<i64> = order.map(|s| s as i64).collect();
                let ctx = "gathering a batch on the device";
                let idx = Tensor::f_from_slice(&idx)
                    .and_then(|t| t.f_to_device(self.device))
                    .ctx(ctx)?;
                m.frames.f_index_select(0, &idx).ctx(ctx)
            }
            None => {
                let [h, w, c] = self.shape.dims();
                let dims = [rows as i64, h, w, c];
                let reuse = matches!(&self.staging, Some(t) if t.size() == dims);
                if !reuse {
                    self.staging = Some(
                        Tensor::f_empty(dims, (Kind::Uint8, Device::Cpu))
                            .ctx("allocating a batch")?,
                    );
                }
                let staging =
                    self.staging
                        .as_ref()
                        .map(Tensor::shallow_clone)
                        .ok_or(TrainError::Config {
                            field: "batch",
                            reason: "staging tensor missing".into(),
                        })?;
                let fb = self.shape.bytes();
                // SAFETY: `staging` is a contiguous u8 CPU tensor of exactly `rows` frames that
                // only this source writes; the previous batch's uses of it (the float
                // conversion inside the model) are finished before the next gather, since
                // training is sequential. Slots come from the views, i.e. published episodes.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(staging.data_ptr() as *mut u8, rows * fb)
                };
                for (chunk, slot) in dst.chunks_exact_mut(fb).zip(order) {
                    chunk.copy_from_slice(self.store.frame(slot));
                }
                Ok(staging)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dimua_buffer::{SplitRule, StoreSpec};
    use rand::SeedableRng;

    /// The device-mirror path (exercised here on the CPU) and the host path give the same
    /// batches, also for episodes that arrive after the source was created.
    #[test]
    fn mirror_and_host_gather_agree() {
        let shape = FrameShape {
            height: 3,
            width: 2,
            channels: 2,
        };
        let store = FrameStore::new(StoreSpec {
            capacity_frames: 64,
            frame_bytes: shape.bytes(),
            label_bytes: 0,
            split: SplitRule {
                train: 1,
                val: 1,
                test: 0,
            },
            seed: 0,
        })
        .unwrap();
        let mut w0 = store.writer(0);
        let mut w1 = store.writer(1);
        let mut n = 0u8;
        let mut push = |w: &mut dimua_buffer::EpisodeWriter, len: usize| {
            for _ in 0..len {
                w.push(&[n; 12], &[]).unwrap();
                n = n.wrapping_add(1);
            }
        };
        // Interleaved writers: episodes' slots are not contiguous.
        push(&mut w0, 3);
        push(&mut w1, 4);
        push(&mut w0, 3);
        w0.end_episode();
        w1.end_episode();
        let mut host =
            BatchSource::with_mirror(store.clone(), shape, 2, Device::Cpu, false).unwrap();
        let mut mirror =
            BatchSource::with_mirror(store.clone(), shape, 2, Device::Cpu, true).unwrap();
        push(&mut w1, 5);
        w1.end_episode();
        push(&mut w0, 6);
        w0.end_episode();
        store.close();
        host.refresh().unwrap();
        mirror.refresh().unwrap();
        for split in [Split::Train, Split::Val] {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let slots = host.sample(split, BatchKind::Pairs, 16, &mut rng).unwrap();
            let a = host.gather(&slots).unwrap();
            let b = mirror.gather(&slots).unwrap();
            let pairs: Vec<(u32, u32)> = (0..16).map(|i| (slots[i], slots[16 + i])).collect();
            assert_eq!(a.size(), vec![32, 3, 2, 2]);
            assert!(a.equal(&b));
            // Row i is the earlier frame of pair i, row B + i the later one.
            for (i, (x, y)) in pairs.iter().enumerate() {
                assert_eq!(
                    a.get(i as i64).int64_value(&[0, 0, 0]),
                    store.frame(*x)[0] as i64
                );
                assert_eq!(
                    a.get((16 + i) as i64).int64_value(&[0, 0, 0]),
                    store.frame(*y)[0] as i64
                );
            }
        }
    }
}
