//! The image experiment on data the tests write themselves: the CIFAR-10 binary and image
//! folder readers, each augmentation (shapes, ranges, hand-computed pixels, determinism per
//! seed), the UA loss terms against recorded PyTorch values, and whole runs (learning,
//! a complete run directory, resume after a stop, refusals that leave the disk unchanged).

use std::path::Path;

use dimua_images::augment::{
    adjust_hue, colour_jitter, crop_resize_flip, random_grayscale, to_float_nchw, AugmentConfig,
    Augmenter, ViewParams,
};
use dimua_images::dataset::{DatasetConfig, CIFAR_RECORD_BYTES};
use dimua_images::losses::nt_xent;
use dimua_images::run::{EvalResult, Progress, RUN_FILES};
use dimua_images::{expand_sweep, run_image, ImageRunConfig, ImagesError, RunOptions};
use dimua_model::losses::membership_loss;
use dimua_model::{training_output, GlobalTarget};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// One CIFAR record: label, then R, G, B planes; pixel (r, c) of plane p is
/// `(label * 7 + p * 50 + r * 3 + c) % 256`, so every value is known.
fn record(label: u8) -> Vec<u8> {
    let mut out = vec![label];
    for p in 0..3usize {
        for r in 0..32usize {
            for c in 0..32usize {
                out.push(((label as usize * 7 + p * 50 + r * 3 + c) % 256) as u8);
            }
        }
    }
    out
}

fn write_cifar(dir: &Path, batches: &[&[u8]], test: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    for (i, labels) in batches.iter().enumerate() {
        let bytes: Vec<u8> = labels.iter().flat_map(|&l| record(l)).collect();
        std::fs::write(dir.join(format!("data_batch_{}.bin", i + 1)), bytes).unwrap();
    }
    let bytes: Vec<u8> = test.iter().flat_map(|&l| record(l)).collect();
    std::fs::write(dir.join("test_batch.bin"), bytes).unwrap();
}

fn dataset(format: &str, path: &Path) -> DatasetConfig {
    DatasetConfig {
        format: format.into(),
        path: path.to_path_buf(),
        label: None,
        image_size: None,
        val_fraction: 0.1,
        max_train: None,
    }
}

#[test]
fn the_cifar_reader_reads_every_batch_pixel_and_label() {
    let tmp = tempfile::tempdir().unwrap();
    write_cifar(tmp.path(), &[&[3, 1, 4], &[1, 5]], &[9, 2]);
    let data = dataset("cifar10", tmp.path()).load().unwrap();
    assert_eq!(data.train.labels, vec![3, 1, 4, 1, 5]);
    assert_eq!(data.test.labels, vec![9, 2]);
    assert_eq!(data.train.images.size(), vec![5, 32, 32, 3]);
    assert_eq!(
        data.classes,
        (0..10).map(|c| c.to_string()).collect::<Vec<_>>()
    );
    // Image 2 (label 4), row 5, column 7: planes R, G, B = (28 + 15 + 7) + p * 50.
    for p in 0..3 {
        let v = data.train.images.int64_value(&[2, 5, 7, p]);
        assert_eq!(v, (4 * 7 + p * 50 + 5 * 3 + 7) % 256);
    }
    // Class names come from batches.meta.txt when it has ten lines.
    let names: String = (0..10).map(|c| format!("class{c}\n")).collect();
    std::fs::write(tmp.path().join("batches.meta.txt"), names).unwrap();
    let data = dataset("cifar10", tmp.path()).load().unwrap();
    assert_eq!(data.classes[9], "class9");
}

#[test]
fn the_cifar_reader_names_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    // Truncated batch.
    write_cifar(tmp.path(), &[&[1, 2]], &[3]);
    let batch = tmp.path().join("data_batch_1.bin");
    let bytes = std::fs::read(&batch).unwrap();
    std::fs::write(&batch, &bytes[..CIFAR_RECORD_BYTES + 10]).unwrap();
    let err = dataset("cifar10", tmp.path())
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data_batch_1.bin") && err.contains("3073-byte"),
        "{err}"
    );
    // A class byte of 10.
    write_cifar(tmp.path(), &[&[1, 10]], &[3]);
    let err = dataset("cifar10", tmp.path())
        .load()
        .unwrap_err()
        .to_string();
    assert!(err.contains("record 1 has class 10"), "{err}");
    // No test batch.
    write_cifar(tmp.path(), &[&[1, 2]], &[3]);
    std::fs::remove_file(tmp.path().join("test_batch.bin")).unwrap();
    let err = dataset("cifar10", tmp.path())
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("test_batch.bin") && err.contains("missing"),
        "{err}"
    );
    // Not a directory; an unknown format.
    let err = dataset("cifar10", &tmp.path().join("nope"))
        .load()
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a directory"), "{err}");
    let err = dataset("cifar100", tmp.path())
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cifar100") && err.contains("\"folder\""),
        "{err}"
    );
}

fn png(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb))
        .save(path)
        .unwrap();
}

#[test]
fn the_folder_reader_reads_classes_in_name_order_and_refuses_mixed_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    png(&root.join("train/dog/b.png"), 6, 6, [0, 200, 0]);
    png(&root.join("train/dog/a.png"), 6, 6, [0, 100, 0]);
    png(&root.join("train/cat/z.png"), 6, 6, [255, 0, 0]);
    png(&root.join("test/dog/c.png"), 6, 6, [1, 2, 3]);
    png(&root.join("test/cat/d.png"), 6, 6, [4, 5, 6]);
    let data = dataset("folder", root).load().unwrap();
    assert_eq!(data.classes, vec!["cat", "dog"]);
    // Classes in name order, files in name order within a class.
    assert_eq!(data.train.labels, vec![0, 1, 1]);
    assert_eq!(data.train.images.int64_value(&[0, 3, 3, 0]), 255);
    assert_eq!(data.train.images.int64_value(&[1, 0, 0, 1]), 100);
    assert_eq!(data.train.images.int64_value(&[2, 5, 5, 1]), 200);
    assert_eq!(data.test.labels, vec![0, 1]);
    assert_eq!(data.test.images.int64_value(&[1, 2, 2, 2]), 3);
    // image_size resizes once at load (area interpolation of a constant image is exact).
    let mut cfg = dataset("folder", root);
    cfg.image_size = Some(3);
    let small = cfg.load().unwrap();
    assert_eq!(small.train.images.size(), vec![3, 3, 3, 3]);
    assert_eq!(small.train.images.int64_value(&[2, 1, 1, 1]), 200);
    // A test class without train images, then an image of another size.
    png(&root.join("test/emu/e.png"), 6, 6, [0, 0, 0]);
    let err = dataset("folder", root).load().unwrap_err().to_string();
    assert!(err.contains("emu"), "{err}");
    std::fs::remove_dir_all(root.join("test/emu")).unwrap();
    png(&root.join("train/dog/c.png"), 5, 6, [0, 0, 0]);
    let err = dataset("folder", root).load().unwrap_err().to_string();
    assert!(err.contains("c.png") && err.contains("one size"), "{err}");
}

fn identity(size: usize) -> ViewParams {
    ViewParams {
        crop: [0, 0, size, size],
        flip: false,
        jitter: false,
        factors: [1.0, 1.0, 1.0, 0.0],
        order: [0, 1, 2, 3],
        gray: false,
    }
}

/// `u8 [B, 8, 8, 3]` images with distinct, known values.
fn test_images(b: i64) -> Tensor {
    Tensor::arange(b * 8 * 8 * 3, (Kind::Int64, tch::Device::Cpu))
        .remainder(251)
        .to_kind(Kind::Uint8)
        .view([b, 8, 8, 3])
}

#[test]
fn crop_resize_and_flip_move_pixels_where_hand_computed() {
    let images = test_images(2);
    let x = to_float_nchw(&images).unwrap();
    // Identity: the whole image at its own size.
    let same = crop_resize_flip(&x, &[identity(8), identity(8)], 8).unwrap();
    assert!(same.allclose(&x, 1e-6, 1e-6, false));
    // Flip: column c comes from column 7 - c.
    let mut p = identity(8);
    p.flip = true;
    let flipped = crop_resize_flip(&x, &[p, p], 8).unwrap();
    assert!(flipped.allclose(&x.flip([3]), 1e-6, 1e-6, false));
    // A 4x4 box at (top 2, left 3) resized to 4x4 samples exactly those pixel centres.
    let mut p = identity(8);
    p.crop = [2, 3, 4, 4];
    let crop = crop_resize_flip(&x, &[p, p], 4).unwrap();
    let want = x.narrow(2, 2, 4).narrow(3, 3, 4);
    assert!(crop.allclose(&want, 1e-5, 1e-5, false));
    // Upscaling a 2x2 box at (0, 0) to 4x4: output pixel k sits at normalised coordinate
    // -1 + (2k + 1) / 4, i.e. 0.25 * that - 0.75 in the image, i.e. pixel (k + 0.5) / 2 - 0.5
    // (align_corners = false). Output (row 3, column 1) -> image (1.25, 0.25): bilinear
    // weights 0.75 / 0.25 on rows 1 / 2 and 0.75 / 0.25 on columns 0 / 1. (A crop-then-resize
    // would clamp row 1.25 to the box's last row; sampling the whole image lets the weights
    // reach the pixel just outside the box: the one difference from torchvision.)
    let mut p = identity(8);
    p.crop = [0, 0, 2, 2];
    let up = crop_resize_flip(&x, &[p, p], 4).unwrap();
    let a = |r: i64, c: i64| x.double_value(&[0, 0, r, c]);
    let want = 0.75 * (0.75 * a(1, 0) + 0.25 * a(1, 1)) + 0.25 * (0.75 * a(2, 0) + 0.25 * a(2, 1));
    let got = up.double_value(&[0, 0, 3, 1]);
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
}

#[test]
fn colour_ops_match_hand_computed_pixels() {
    // One image, 1x2 pixels: pure red and a gray (0.5, 0.5, 0.5) pixel.
    let x = Tensor::from_slice(&[1.0f32, 0.5, 0.0, 0.5, 0.0, 0.5]).view([1, 3, 1, 2]);
    // Hue + 1/3 turns red into green; gray has no hue and stays.
    let third = Tensor::from_slice(&[1.0f32 / 3.0]).view([1, 1, 1, 1]);
    let h = adjust_hue(&x, &third).unwrap();
    let want = Tensor::from_slice(&[0.0f32, 0.5, 1.0, 0.5, 0.0, 0.5]).view([1, 3, 1, 2]);
    assert!(h.allclose(&want, 1e-5, 1e-5, false), "{h}");
    // Hue 0 is the identity.
    let zero = Tensor::zeros([1, 1, 1, 1], (Kind::Float, tch::Device::Cpu));
    assert!(adjust_hue(&x, &zero)
        .unwrap()
        .allclose(&x, 1e-6, 1e-6, false));
    let p = |op: usize, f: f64| {
        let mut v = identity(1);
        v.jitter = true;
        v.order = [op, (op + 1) % 4, (op + 2) % 4, (op + 3) % 4];
        v.factors = [1.0, 1.0, 1.0, 0.0];
        v.factors[op] = f;
        v
    };
    // Brightness 0.5 halves every value.
    let b = colour_jitter(&x, &[p(0, 0.5)]).unwrap();
    assert!(b.allclose(&(&x * 0.5), 1e-6, 1e-6, false));
    // Contrast 0: every pixel becomes the image's mean luma,
    // (0.299 * 1 + 0.5 * (0.299 + 0.587 + 0.114)) / 2 = 0.3995.
    let c = colour_jitter(&x, &[p(1, 0.0)]).unwrap();
    assert!((c - 0.3995).abs().max().double_value(&[]) < 1e-6);
    // Saturation 0: each pixel becomes its own luma (red: 0.299).
    let s = colour_jitter(&x, &[p(2, 0.0)]).unwrap();
    assert!((s.double_value(&[0, 1, 0, 0]) - 0.299).abs() < 1e-6);
    // Grayscale: three equal channels, the luma.
    let mut g = identity(1);
    g.gray = true;
    let gray = random_grayscale(&x, &[g]).unwrap();
    assert!((gray.double_value(&[0, 2, 0, 0]) - 0.299).abs() < 1e-6);
    assert!((gray.double_value(&[0, 0, 0, 1]) - 0.5).abs() < 1e-6);
}

#[test]
fn augmented_views_have_the_right_shape_range_and_are_seeded() {
    let images = test_images(16);
    let aug = Augmenter::new(AugmentConfig::default(), 6).unwrap();
    let view = |seed| {
        aug.view(&images, &mut ChaCha8Rng::seed_from_u64(seed))
            .unwrap()
    };
    let a = view(7);
    assert_eq!(a.size(), vec![16, 3, 6, 6]);
    assert_eq!(a.kind(), Kind::Float);
    assert!(a.min().double_value(&[]) >= 0.0 && a.max().double_value(&[]) <= 1.0);
    assert!(a.equal(&view(7)), "same seed, same views");
    assert!(!a.equal(&view(8)), "another seed, other views");
    // The parameters follow the configured ranges: crop area in [0.08, 1] of the image, ratio
    // in [3/4, 4/3] (up to rounding), flips about half the time.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let params = aug.draw(4000, 32, 32, &mut rng);
    let flips = params.iter().filter(|p| p.flip).count() as f64 / 4000.0;
    assert!((flips - 0.5).abs() < 0.03, "{flips}");
    let jitter = params.iter().filter(|p| p.jitter).count() as f64 / 4000.0;
    assert!((jitter - 0.8).abs() < 0.03, "{jitter}");
    let gray = params.iter().filter(|p| p.gray).count() as f64 / 4000.0;
    assert!((gray - 0.2).abs() < 0.03, "{gray}");
    for p in &params {
        let [top, left, h, w] = p.crop;
        assert!(top + h <= 32 && left + w <= 32 && h > 0 && w > 0);
        let area = (h * w) as f64 / 1024.0;
        assert!((0.06..=1.0).contains(&area), "{area}");
        assert!(
            (0.4..=1.0 + 1e-9).contains(&p.factors[0].min(2.0 - p.factors[0]))
                || p.factors[0] >= 0.6
        );
        assert!(p.factors[3].abs() <= 0.1);
    }
    // Bad settings are named.
    let bad = AugmentConfig {
        crop_scale: [0.5, 0.2],
        ..AugmentConfig::default()
    };
    let err = Augmenter::new(bad, 6).unwrap_err().to_string();
    assert!(err.contains("augment.crop_scale"), "{err}");
}

/// Values printed by `python benchmarks/simclr_ua_reference.py` (PyTorch 2.13, float64) on
/// the inputs that script defines; recomputed here with dimua's own functions in fp32.
#[test]
fn ua_terms_match_pytorch() {
    let (b, n, d) = (3usize, 2usize, 3usize);
    let mut coords = vec![0f32; 2 * b * n * d];
    let mut logits = vec![0f32; 2 * b * n];
    for v in 0..2 {
        for bi in 0..b {
            for i in 0..n {
                for k in 0..d {
                    let x = 1 + v * 18 + bi * 6 + i * 3 + k;
                    coords[((v * b + bi) * n + i) * d + k] = (12.0 * (x as f64).sin()) as f32;
                }
                let x = 1 + v * 6 + bi * 2 + i;
                logits[(v * b + bi) * n + i] = (2.0 * (x as f64).cos()) as f32;
            }
        }
    }
    let coords = Tensor::from_slice(&coords).view([2, b as i64, n as i64, d as i64]);
    let q = Tensor::from_slice(&logits)
        .view([2, b as i64, n as i64])
        .softmax(-1, Kind::Float);
    let clamped = coords.clamp(-10.0, 10.0);
    assert!((clamped.sum(Kind::Double).double_value(&[]) - 7.0212512868).abs() < 1e-4);
    let dilated =
        |v: i64| training_output(&clamped.get(v), Some(&q.get(v)), GlobalTarget::Dilated).unwrap();
    let l = nt_xent(&dilated(0), &dilated(1), 0.5)
        .unwrap()
        .double_value(&[]);
    assert!((l - 2.0023973236).abs() < 1e-5, "{l}");
    let lq = membership_loss(&q.get(0), &q.get(1))
        .unwrap()
        .double_value(&[]);
    assert!((lq - -0.1659724439).abs() < 1e-6, "{lq}");
    let weighted =
        |v: i64| training_output(&coords.get(v), Some(&q.get(v)), GlobalTarget::Weighted).unwrap();
    let l = nt_xent(&weighted(0), &weighted(1), 0.5)
        .unwrap()
        .double_value(&[]);
    assert!((l - 1.2951666822).abs() < 1e-5, "{l}");
}

/// A generated CIFAR-format set where the class is the colour of a 16x16 blob placed anywhere
/// on a dark noisy background: an invariant SimCLR's crops keep (colour jitter is off in the
/// test configs), learnable, not trivially constant.
fn blob_dataset(dir: &Path, train: usize, test: usize) {
    use rand::Rng;
    const COLOURS: [[u8; 3]; 4] = [[220, 40, 40], [40, 220, 40], [40, 40, 220], [220, 220, 40]];
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut make = |n: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            let label = i % 4;
            let (r0, c0) = (rng.gen_range(0..16), rng.gen_range(0..16));
            out.push(label as u8);
            for &cv in &COLOURS[label] {
                for r in 0..32 {
                    for c in 0..32 {
                        let inside = (r0..r0 + 16).contains(&r) && (c0..c0 + 16).contains(&c);
                        let noise: u8 = rng.gen_range(0..30);
                        out.push(if inside {
                            cv.saturating_add(noise)
                        } else {
                            noise
                        });
                    }
                }
            }
        }
        out
    };
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("data_batch_1.bin"), make(train)).unwrap();
    std::fs::write(dir.join("test_batch.bin"), make(test)).unwrap();
}

fn tiny_config(method: &str, heads: usize, data: &Path) -> ImageRunConfig {
    let text = format!(
        r#"
method = "{method}"
seed = 3
device = "cpu"
[dataset]
format = "cifar10"
path = "{}"
image_size = 16
[model]
width = 8
heads = {heads}
units = 16
[train]
epochs = 3
batch_size = 32
lr = 1e-3
[augment]
jitter_probability = 0.0
grayscale = 0.0
[eval]
batch_size = 32
epochs = 30
lr = 1e-2
"#,
        data.display()
    );
    ImageRunConfig::from_toml(&text, "test").unwrap()
}

/// `--resume`.
const RESUME: RunOptions = RunOptions {
    force: false,
    resume: true,
};

/// `--force`.
const FORCE: RunOptions = RunOptions {
    force: true,
    resume: false,
};

fn read_eval(dir: &Path) -> EvalResult {
    serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap()
}

fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn each_method_trains_lowers_its_loss_and_writes_a_complete_run() {
    tch::set_num_threads(2);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("blobs");
    blob_dataset(&data, 256, 64);
    for (method, heads) in [("simclr", 1), ("msimclr", 2), ("simclr-ua", 2)] {
        let out = tmp.path().join(method);
        let r = run_image(
            &tiny_config(method, heads, &data),
            &out,
            RunOptions::default(),
            &mut |_| true,
        )
        .unwrap();
        let m = metrics(&out);
        assert_eq!(m.len(), 3);
        let first = m[0]["contrastive"].as_f64().unwrap();
        let last = m[2]["contrastive"].as_f64().unwrap();
        assert!(last < first, "{method}: NT-Xent {first} -> {last}");
        if heads > 1 {
            assert!(m[0]["entropy"].as_f64().unwrap() > 0.0);
        }
        if method == "msimclr" {
            assert!(m[0]["mmd"].as_f64().unwrap() != 0.0);
        }
        if method == "simclr-ua" {
            assert!(m[0]["membership"].as_f64().unwrap() < 0.0);
        }
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                "config.toml",
                "encoder.safetensors",
                "eval.json",
                "metrics.jsonl",
                "random_init.json"
            ]
        );
        let saved = read_eval(&out);
        assert_eq!(
            (saved.trained.accuracy, saved.steps),
            (r.trained.accuracy, r.steps)
        );
        assert_eq!(r.steps, 3 * (256 / 32));
        // 10% of each class held out for the linear evaluation's validation.
        assert_eq!(r.images, [256, 232, 24, 64]);
        // Four colour classes (chance 0.25): the trained encoder's features separate them
        // (measured 0.78-0.81 for the three methods; whether training beats the random init
        // needs more than 3 tiny epochs: RESULTS.md, the digits runs).
        assert!(r.trained.accuracy > 0.6, "{method}: {:?}", r.trained);
        assert!(r.random_init.is_some());
        assert!(names.iter().all(|n| RUN_FILES.contains(&n.as_str())));
    }
}

#[test]
fn a_stopped_run_resumes_to_the_same_bytes_as_an_uninterrupted_one() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("blobs");
    blob_dataset(&data, 128, 32);
    let config = tiny_config("simclr-ua", 2, &data);
    let whole = tmp.path().join("whole");
    run_image(&config, &whole, RunOptions::default(), &mut |_| true).unwrap();
    let cut = tmp.path().join("cut");
    let err = run_image(
        &config,
        &cut,
        RunOptions::default(),
        &mut |p| !matches!(p, Progress::Epoch(m) if m.epoch == 0),
    )
    .unwrap_err();
    assert!(matches!(err, ImagesError::Stopped), "{err}");
    assert!(
        !cut.join("eval.json").exists(),
        "a stopped run must not look complete"
    );
    assert!(cut.join("checkpoint.json").exists());
    // Starting it afresh without --force is refused; resuming finishes it.
    let err = run_image(&config, &cut, RunOptions::default(), &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
    let resumed = run_image(&config, &cut, RESUME, &mut |_| true).unwrap();
    assert_eq!(resumed.trained.accuracy, read_eval(&whole).trained.accuracy);
    for f in ["encoder.safetensors", "metrics.jsonl", "eval.json"] {
        let (a, b) = (
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(cut.join(f)).unwrap(),
        );
        if f == "metrics.jsonl" {
            // Epoch wall times differ; everything else is the same.
            let strip = |t: &[u8]| {
                String::from_utf8_lossy(t)
                    .lines()
                    .map(|l| {
                        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                        v["seconds"] = 0.into();
                        v.to_string()
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(strip(&a), strip(&b));
        } else {
            assert!(a == b, "{f} differs after resume");
        }
    }
    assert!(!cut.join("checkpoint.json").exists());
    // A finished run has nothing to resume, and stays as it is.
    let before = std::fs::read(cut.join("eval.json")).unwrap();
    let err = run_image(&config, &cut, RESUME, &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("nothing to resume"), "{err}");
    assert_eq!(std::fs::read(cut.join("eval.json")).unwrap(), before);
    // Resuming a stopped run with another config is refused.
    let cut2 = tmp.path().join("cut2");
    let _ = run_image(&config, &cut2, RunOptions::default(), &mut |p| {
        !matches!(p, Progress::Epoch(_))
    });
    let mut other = config.clone();
    other.train.epochs = 4;
    let err = run_image(&other, &cut2, RESUME, &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("differs"), "{err}");
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("blobs");
    blob_dataset(&data, 64, 16);
    // A directory holding someone else's file is never touched, even with --force.
    let out = tmp.path().join("theirs");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    let config = tiny_config("simclr", 1, &data);
    let err = run_image(&config, &out, FORCE, &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), b"mine");
    // --force replaces only an image run's own files: a hidden file of the user's (here
    // `.env`) makes it refuse too, and stays.
    let hidden = tmp.path().join("hidden");
    std::fs::create_dir_all(&hidden).unwrap();
    std::fs::write(hidden.join(".env"), b"SECRET=1").unwrap();
    std::fs::write(hidden.join("eval.json"), b"{}").unwrap();
    let err = run_image(&config, &hidden, FORCE, &mut |_| true).unwrap_err();
    assert!(err.to_string().contains(".env"), "{err}");
    assert_eq!(std::fs::read(hidden.join(".env")).unwrap(), b"SECRET=1");
    // Too few images per class for the linear evaluation's validation split: said up front.
    let mut few = config.clone();
    few.dataset.max_train = Some(4);
    few.train.batch_size = 2;
    few.eval.batch_size = 1;
    let err = run_image(
        &few,
        &tmp.path().join("few"),
        RunOptions::default(),
        &mut |_| true,
    )
    .unwrap_err();
    assert!(err.to_string().contains("dataset.val_fraction"), "{err}");
    assert!(!tmp.path().join("few").exists());
    // A batch larger than the data, and a missing dataset: nothing is created.
    let mut big = config.clone();
    big.train.batch_size = 1000;
    let fresh = tmp.path().join("fresh");
    let err = run_image(&big, &fresh, RunOptions::default(), &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("train.batch_size"), "{err}");
    let mut missing = config.clone();
    missing.dataset.path = tmp.path().join("nowhere");
    let err = run_image(&missing, &fresh, RunOptions::default(), &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("nowhere"), "{err}");
    assert!(!fresh.exists());
    // Config errors name the key and the fix.
    let err = ImageRunConfig::from_toml(
        "method = \"simclr-ua\"\n[dataset]\nformat = \"folder\"\npath = \"x\"\n",
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("model.heads") && err.contains("2 or more"),
        "{err}"
    );
    let err = ImageRunConfig::from_toml(
        "method = \"byol\"\n[dataset]\nformat = \"folder\"\npath = \"x\"\n",
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("byol") && err.contains("simclr-ua"), "{err}");
}

#[test]
fn the_shipped_table_sweeps_expand_to_the_papers_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/images");
    let count = |name: &str| {
        let text = std::fs::read_to_string(root.join(name)).unwrap();
        expand_sweep(&text, name).unwrap()
    };
    let t2 = count("table2.toml");
    // SimCLR x 3 units x 3 seeds + (MSimCLR, SimCLR-UA) x 3 heads x 3 units x 3 seeds.
    assert_eq!(t2.len(), 9 + 54);
    assert!(t2
        .iter()
        .all(|r| r.config.model.backbone == "resnet50" && r.config.train.epochs == 1000));
    assert!(t2.iter().any(|r| r.name == "simclr-ua-8x512__s2"));
    let t5 = count("table5.toml");
    assert_eq!(t5.len(), 8);
    assert!(t5
        .iter()
        .any(|r| r.name == "simclr-ua-4x512__clamp-true__fc1-false__fc2-true__s1"));
    let t6 = count("table6.toml");
    assert_eq!(t6.len(), 8);
    assert!(t6
        .iter()
        .all(|r| r.config.model.backbone == "resnet18" && r.config.train.epochs == 100));
    assert_eq!(count("quick-digits-sweep.toml").len(), 9);
    // Grid values become safe folder names: no path separators, no `..`.
    let runs = expand_sweep(
        "[base]\nmethod = \"simclr\"\n[base.dataset]\nformat = \"folder\"\npath = \"x\"\n\
         [[grid]]\n\"dataset.path\" = [\"data/a b\", \"../../etc\"]\n",
        "paths",
    )
    .unwrap();
    for r in &runs {
        assert!(
            !r.name.contains('/') && !r.name.contains("..") && !r.name.contains(' '),
            "{}",
            r.name
        );
    }
    assert_ne!(runs[0].name, runs[1].name);
    // Two grids producing the same run are refused.
    let err = expand_sweep(
        "[base]\nmethod = \"simclr\"\n[base.dataset]\nformat = \"folder\"\npath = \"x\"\n\
         [[grid]]\nseed = [1]\n[[grid]]\nseed = [1, 2]\n",
        "dup",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("simclr-1x512__s1"), "{err}");
}

#[test]
fn the_cifar_resnets_have_their_stages_and_feature_sizes() {
    use dimua_images::resnet::{ResNet, ResNetKind};
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let r18 = ResNet::new(&(vs.root() / "r18"), ResNetKind::Resnet18, 8);
    let r50 = ResNet::new(&(vs.root() / "r50"), ResNetKind::Resnet50, 8);
    let x = Tensor::rand([2, 3, 16, 16], (Kind::Float, tch::Device::Cpu));
    assert_eq!(r18.forward(&x, true).size(), vec![2, 64]);
    assert_eq!(r50.forward(&x, false).size(), vec![2, 256]);
    assert_eq!(ResNetKind::Resnet18.features(64), 512);
    assert_eq!(ResNetKind::Resnet50.features(64), 2048);
    // Parameter counts of the standard (width 64) CIFAR networks, without the classifier:
    // torchvision's resnet18 / resnet50 (11,689,512 / 25,557,032) minus their fc layer
    // (513,000 / 2,049,000) minus the stem difference 7x7x3x64 - 3x3x3x64 = 7,680, i.e.
    // 11,168,832 and 23,500,352 (batch-norm running statistics are not parameters).
    let count = |kind| {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _net = ResNet::new(&vs.root(), kind, 64);
        vs.trainable_variables()
            .iter()
            .map(|t| t.numel())
            .sum::<usize>()
    };
    assert_eq!(count(ResNetKind::Resnet18), 11_168_832);
    assert_eq!(count(ResNetKind::Resnet50), 23_500_352);
    assert!(ResNetKind::parse("ResNet-50").is_ok());
    assert!(ResNetKind::parse("vgg")
        .unwrap_err()
        .to_string()
        .contains("resnet18"));
}
