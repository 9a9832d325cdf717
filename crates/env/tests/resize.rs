//! The area resize against OpenCV's `INTER_AREA`: checksums recorded from
//! `benchmarks/area_resize_reference.py` (cv2 5.0.0 and 4.14.0, same output), on the same
//! formula images built here; the small cases by hand (and checked with `cv2.resize`).

use dimua_env::AreaResize;

fn formula(h: usize, w: usize, c: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(h * w * c);
    for y in 0..h {
        for x in 0..w {
            for k in 0..c {
                out.push(((y * 31 + x * 17 + k * 101 + ((y * x) % 7) * 13) % 256) as u8);
            }
        }
    }
    out
}

fn blocks(h: usize, w: usize, c: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(h * w * c);
    for y in 0..h {
        for x in 0..w {
            for k in 0..c {
                out.push(if (y / 3 + x / 5 + k) % 2 == 0 { 0 } else { 255 });
            }
        }
    }
    out
}

fn lcg(h: usize, w: usize, c: usize) -> Vec<u8> {
    let mut s: u64 = 12345;
    (0..h * w * c)
        .map(|_| {
            s = (s * 1_103_515_245 + 12345) % (1 << 31);
            ((s >> 16) & 0xFF) as u8
        })
        .collect()
}

fn checksums(a: &[u8]) -> (u64, u64, Vec<u8>) {
    let sum = a.iter().map(|&v| v as u64).sum();
    let weighted = a
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as u64 % 65521 + 1) * v as u64)
        .sum();
    (sum, weighted, a[..8].to_vec())
}

type Image = fn(usize, usize, usize) -> Vec<u8>;
/// (image, h, w, c, out h, out w, sum, weighted sum, first 8 bytes) from cv2.
type Case = (Image, usize, usize, usize, usize, usize, u64, u64, [u8; 8]);

/// Resizes each case's image and compares the checksums with cv2's.
fn check_against_opencv(cases: &[Case]) {
    for &(image, h, w, c, oh, ow, sum, weighted, first) in cases {
        let input = image(h, w, c);
        let mut resize = AreaResize::new((h, w), (oh, ow), c).unwrap();
        let mut out = vec![0u8; oh * ow * c];
        resize.apply(&input, &mut out);
        let got = checksums(&out);
        assert_eq!(
            got,
            (sum, weighted, first.to_vec()),
            "{h}x{w}x{c} -> {oh}x{ow}"
        );
        // The tables are reusable: a second call gives the same bytes.
        let mut again = vec![0u8; out.len()];
        resize.apply(&input, &mut again);
        assert_eq!(again, out);
    }
}

#[test]
fn area_resize_matches_opencv_inter_area() {
    let cases: [Case; 6] = [
        (
            formula,
            210,
            160,
            1,
            84,
            84,
            899668,
            3174336061,
            [38, 90, 126, 158, 159, 147, 106, 122],
        ),
        (
            blocks,
            210,
            160,
            1,
            84,
            84,
            899808,
            3174972528,
            [0, 0, 96, 255, 255, 64, 0, 32],
        ),
        (
            lcg,
            210,
            160,
            1,
            84,
            84,
            901061,
            3177060510,
            [156, 136, 127, 95, 136, 135, 92, 106],
        ),
        (
            formula,
            210,
            160,
            3,
            84,
            84,
            2699054,
            28566893947,
            [38, 139, 140, 90, 169, 138, 126, 164],
        ),
        (
            lcg,
            250,
            160,
            1,
            84,
            84,
            900168,
            3171726160,
            [166, 127, 122, 103, 133, 127, 88, 117],
        ),
        (
            lcg,
            210,
            160,
            1,
            64,
            48,
            392299,
            602356754,
            [146, 127, 120, 102, 133, 143, 115, 87],
        ),
    ];
    check_against_opencv(&cases);
}

/// Bug: sizes that divide the screen exactly (105x80 = half size, 70x80, 42x32, ...) went
/// through the general formula, but OpenCV takes its integer-factor path there: 2x2 blocks
/// of 1 or 3 channels as `(sum + 2) >> 2` (exact halves round up), other factors as
/// `sum * (1/area)` rounded to nearest even. Outputs differed by 1 on ties (found by
/// `benchmarks/sb3_crosscheck.py --reference gymnasium-rgb --size 105x80`).
#[test]
fn area_resize_integer_factors_match_opencv_fast_path() {
    let cases: [Case; 6] = [
        (
            blocks,
            210,
            160,
            1,
            105,
            80,
            1072960,
            4506968480,
            [0, 0, 128, 255, 255, 0, 0, 128],
        ),
        (
            lcg,
            210,
            160,
            1,
            105,
            80,
            1073742,
            4507090556,
            [140, 156, 140, 70, 154, 124, 87, 104],
        ),
        (
            lcg,
            210,
            160,
            3,
            105,
            80,
            3214536,
            40480897280,
            [169, 100, 148, 123, 131, 91, 69, 74],
        ),
        (
            lcg,
            210,
            160,
            1,
            70,
            80,
            715081,
            2001158109,
            [166, 126, 128, 90, 139, 117, 85, 139],
        ),
        (
            lcg,
            210,
            160,
            3,
            105,
            160,
            6422847,
            161762319499,
            [131, 63, 123, 208, 137, 172, 38, 112],
        ),
        (
            formula,
            210,
            160,
            1,
            42,
            32,
            171339,
            115225008,
            [123, 138, 103, 129, 148, 120, 143, 144],
        ),
    ];
    check_against_opencv(&cases);
}

#[test]
fn area_resize_of_a_flat_image_is_flat_and_halving_averages_pairs() {
    let mut r = AreaResize::new((210, 160), (84, 84), 1).unwrap();
    let mut out = vec![0u8; 84 * 84];
    r.apply(&vec![77u8; 210 * 160], &mut out);
    assert!(out.iter().all(|&v| v == 77));
    // 4x2 -> 2x1 by hand: each output is the mean of a 2x2 block.
    let mut r = AreaResize::new((4, 2), (2, 1), 1).unwrap();
    let mut out = [0u8; 2];
    r.apply(&[10, 20, 30, 41, 0, 1, 2, 2], &mut out);
    // (10+20+30+41)/4 = 25.25 -> 25; (0+1+2+2)/4 = 1.25 -> 1.
    assert_eq!(out, [25, 1]);
    let mut out = [0u8; 2];
    r.apply(&[0, 1, 1, 0, 1, 2, 2, 1], &mut out);
    // 2x2 blocks: (sum + 2) >> 2, so 0.5 -> 1 and 1.5 -> 2 (cv2.resize gives [1, 2]).
    assert_eq!(out, [1, 2]);
    // 1x4 -> 1x2 (a 1x2 block): sum * 0.5 rounded to even, 0.5 -> 0 (cv2: [0, 0]).
    let mut r = AreaResize::new((1, 4), (1, 2), 1).unwrap();
    let mut out = [9u8; 2];
    r.apply(&[0, 1, 1, 0], &mut out);
    assert_eq!(out, [0, 0]);
    // 6x1 -> 2x1 (3x1 blocks): 1/3 -> 0, 4/3 -> 1 (cv2: [0, 1]).
    let mut r = AreaResize::new((6, 1), (2, 1), 1).unwrap();
    let mut out = [9u8; 2];
    r.apply(&[0, 0, 1, 1, 1, 2], &mut out);
    assert_eq!(out, [0, 1]);
}

#[test]
fn area_resize_refuses_to_enlarge() {
    let err = AreaResize::new((84, 84), (210, 160), 1).unwrap_err();
    assert!(err.to_string().contains("only shrinks"), "{err}");
    assert!(AreaResize::new((210, 160), (0, 84), 1).is_err());
}
