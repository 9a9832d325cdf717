//! Screen colours: ALE 0.6's NTSC/PAL/SECAM palettes, OpenCV's integer RGB->gray formula,
//! and the max-of-two-frames conversions the env uses (table-driven, no allocation per frame).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::frame_simd::EvenTables;

/// Screen height in pixels of every AtariARI game (a few other games have more rows; ask
/// [`crate::Ale::height`]).
pub const SCREEN_HEIGHT: usize = 210;
/// Screen width in pixels (every game).
pub const SCREEN_WIDTH: usize = 160;
/// Pixels per screen of every AtariARI game.
pub const SCREEN_PIXELS: usize = SCREEN_HEIGHT * SCREEN_WIDTH;

/// OpenCV's `cvtColor(RGB2GRAY)` on `u8` (OpenCV 4.x and 5.x, which the reference code's
/// unpinned `opencv-python` installs): `(R*9798 + G*19235 + B*3735 + 16384) >> 15`, the
/// 15-bit fixed-point form of `0.299 R + 0.587 G + 0.114 B` rounded half up. (OpenCV 3's
/// 14-bit weights differ by one gray level on some colours, e.g. (0, 0, 250) -> 29 vs 28.)
#[inline]
pub fn rgb_to_gray(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 9798 + g as u32 * 19235 + b as u32 * 3735 + 16384) >> 15) as u8
}

/// How a grayscale observation is made from the two frames it pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gray {
    /// The pixel-wise RGB max of the two frames, then OpenCV's `RGB2GRAY` ([`rgb_to_gray`]):
    /// baselines' `MaxAndSkipEnv` + `WarpFrame`, as SB3, cleanrl and AtariARI use them.
    #[default]
    Opencv,
    /// ALE's own gray level of each frame (`getScreenGrayscale`: the odd palette entry after
    /// the colour), then the max: gymnasium's `AtariPreprocessing` and envpool.
    Ale,
}

impl Gray {
    /// Both, in the docs' order.
    pub const ALL: [Gray; 2] = [Gray::Opencv, Gray::Ale];

    /// The name configs and the CLI use.
    pub fn name(self) -> &'static str {
        match self {
            Gray::Opencv => "opencv",
            Gray::Ale => "ale",
        }
    }
}

impl std::str::FromStr for Gray {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Gray::ALL
            .into_iter()
            .find(|g| g.name() == wanted)
            .ok_or_else(|| format!("unknown gray conversion {s:?}: use opencv or ale"))
    }
}

/// One of ALE 0.6's "standard" palettes; ALE picks it from the ROM's display format when the
/// ROM is loaded (most games are NTSC; e.g. adventure is PAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Palette {
    /// `NTSCPalette`.
    Ntsc,
    /// `PALPalette`.
    Pal,
    /// `SECAMPalette`.
    Secam,
}

impl Palette {
    /// All three, in ALE's order.
    pub const ALL: [Palette; 3] = [Palette::Ntsc, Palette::Pal, Palette::Secam];

    fn table(self) -> &'static [u32; 256] {
        match self {
            Palette::Ntsc => &NTSC,
            Palette::Pal => &PAL,
            Palette::Secam => &SECAM,
        }
    }

    /// RGB of a palette index as ALE 0.6's `getScreenRGB` resolves it (`m_palette[index]`).
    #[inline]
    pub fn rgb(self, index: u8) -> [u8; 3] {
        let c = self.table()[index as usize];
        [(c >> 16) as u8, (c >> 8) as u8, c as u8]
    }

    /// ALE's gray level of a screen index (`getScreenGrayscale` reads the palette entry after
    /// the colour; screens hold even indices only).
    #[inline]
    pub fn ale_gray(self, index: u8) -> u8 {
        self.table()[(index | 1) as usize] as u8
    }

    /// [`Self::gray_max`] for every pair of indices, at `a << 8 | b`.
    fn gray_max_table(self, gray: Gray) -> &'static [u8; 1 << 16] {
        static TABLES: [[OnceLock<Box<[u8; 1 << 16]>>; 2]; 3] = [
            [OnceLock::new(), OnceLock::new()],
            [OnceLock::new(), OnceLock::new()],
            [OnceLock::new(), OnceLock::new()],
        ];
        TABLES[self as usize][gray as usize].get_or_init(|| {
            let mut t = Box::new([0u8; 1 << 16]);
            for a in 0..=255u8 {
                for b in 0..=255u8 {
                    t[(a as usize) << 8 | b as usize] = self.gray_max(gray, a, b);
                }
            }
            t
        })
    }

    /// The same for even indices only, at `(a >> 1) << 7 | b >> 1`: 16 KiB, so it stays in
    /// L1 cache. ALE screens only hold even indices (odd palette entries are ALE's own gray
    /// levels, read only by `getScreenGrayscale`).
    fn gray_max_table_even(self, gray: Gray) -> &'static [u8; 1 << 14] {
        static TABLES: [[OnceLock<Box<[u8; 1 << 14]>>; 2]; 3] = [
            [OnceLock::new(), OnceLock::new()],
            [OnceLock::new(), OnceLock::new()],
            [OnceLock::new(), OnceLock::new()],
        ];
        TABLES[self as usize][gray as usize].get_or_init(|| {
            let mut t = Box::new([0u8; 1 << 14]);
            for a in 0..128usize {
                for b in 0..128usize {
                    t[a << 7 | b] = self.gray_max(gray, (a << 1) as u8, (b << 1) as u8);
                }
            }
            t
        })
    }

    /// Per even index (at `index >> 1`): its R, G, B and ALE gray level, for the SIMD kernels.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn even_tables(self) -> &'static EvenTables {
        static TABLES: [OnceLock<EvenTables>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        TABLES[self as usize].get_or_init(|| {
            let mut t = EvenTables {
                rgb: [[0; 128]; 3],
                ale: [0; 128],
            };
            for i in 0..128usize {
                let index = (i << 1) as u8;
                let [r, g, b] = self.rgb(index);
                (t.rgb[0][i], t.rgb[1][i], t.rgb[2][i]) = (r, g, b);
                t.ale[i] = self.ale_gray(index);
            }
            t
        })
    }

    /// The gray pixel pooled from screen indices `a` and `b`: `gray(max(rgb(a), rgb(b)))`
    /// ([`Gray::Opencv`]) or `max(ale_gray(a), ale_gray(b))` ([`Gray::Ale`]).
    fn gray_max(self, gray: Gray, a: u8, b: u8) -> u8 {
        match gray {
            Gray::Opencv => {
                let (ca, cb) = (self.rgb(a), self.rgb(b));
                rgb_to_gray(ca[0].max(cb[0]), ca[1].max(cb[1]), ca[2].max(cb[2]))
            }
            Gray::Ale => self.ale_gray(a).max(self.ale_gray(b)),
        }
    }
}

/// Grayscale pooled from two palette-index screens: the gray of their pixel-wise RGB max
/// (baselines' `MaxAndSkipEnv` max followed by `cvtColor(RGB2GRAY)`, [`Gray::Opencv`]) or the
/// max of ALE's gray levels ([`Gray::Ale`]). Pass the same screen twice for a single frame.
/// Writes `min(out.len(), a.len(), b.len())` pixels.
pub fn max_gray(palette: Palette, gray: Gray, a: &[u8], b: &[u8], out: &mut [u8]) {
    let n = out.len().min(a.len()).min(b.len());
    let (a, b, out) = (&a[..n], &b[..n], &mut out[..n]);
    // Fast path for the (always, in practice) even indices; odd ones are detected with a
    // cheap vectorised OR and then handled exactly by the full table.
    let or = |s: &[u8]| s.iter().fold(0u8, |acc, &x| acc | x);
    let odd = (or(a) | or(b)) & 1;
    if odd == 0 {
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if crate::frame_simd::available() {
            let tables = palette.even_tables();
            // SAFETY: the CPU has the kernels' features (checked), and a, b, out have n bytes.
            done = unsafe {
                match gray {
                    Gray::Ale => crate::frame_simd::max_ale_gray(tables, a, b, out),
                    Gray::Opencv => crate::frame_simd::max_opencv_gray(tables, a, b, out),
                }
            };
        }
        let (a, b, out) = (&a[done..], &b[done..], &mut out[done..]);
        let t = palette.gray_max_table_even(gray);
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = t[((x as usize) >> 1) << 7 | (y as usize) >> 1];
        }
    } else {
        let t = palette.gray_max_table(gray);
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = t[(x as usize) << 8 | y as usize];
        }
    }
}

/// RGB (H x W x 3) of the pixel-wise max of two palette-index screens. Writes
/// `min(out.len() / 3, a.len(), b.len())` pixels.
pub fn max_rgb(palette: Palette, a: &[u8], b: &[u8], out: &mut [u8]) {
    let t = palette.table();
    for ((o, &x), &y) in out.chunks_exact_mut(3).zip(a).zip(b) {
        let (cx, cy) = (t[x as usize], t[y as usize]);
        o[0] = ((cx >> 16) as u8).max((cy >> 16) as u8);
        o[1] = ((cx >> 8) as u8).max((cy >> 8) as u8);
        o[2] = (cx as u8).max(cy as u8);
    }
}

// ALE 0.6 `src/common/Palettes.hpp`, `NTSCPalette`.
static NTSC: [u32; 256] = [
    0x000000, 0x000000, 0x4a4a4a, 0x4a4a4a, 0x6f6f6f, 0x6f6f6f, 0x8e8e8e, 0x8e8e8e, 0xaaaaaa,
    0xaaaaaa, 0xc0c0c0, 0xc0c0c0, 0xd6d6d6, 0xd6d6d6, 0xececec, 0xececec, 0x484800, 0x404040,
    0x69690f, 0x5f5f5f, 0x86861d, 0x7a7a7a, 0xa2a22a, 0x949494, 0xbbbb35, 0xacacac, 0xd2d240,
    0xc1c1c1, 0xe8e84a, 0xd6d6d6, 0xfcfc54, 0xe9e9e9, 0x7c2c00, 0x3f3f3f, 0x904811, 0x575757,
    0xa26221, 0x6e6e6e, 0xb47a30, 0x838383, 0xc3903d, 0x969696, 0xd2a44a, 0xa7a7a7, 0xdfb755,
    0xb8b8b8, 0xecc860, 0xc7c7c7, 0x901c00, 0x3b3b3b, 0xa33915, 0x555555, 0xb55328, 0x6b6b6b,
    0xc66c3a, 0x818181, 0xd5824a, 0x949494, 0xe39759, 0xa7a7a7, 0xf0aa67, 0xb7b7b7, 0xfcbc74,
    0xc7c7c7, 0x940000, 0x2c2c2c, 0xa71a1a, 0x444444, 0xb83232, 0x5a5a5a, 0xc84848, 0x6e6e6e,
    0xd65c5c, 0x808080, 0xe46f6f, 0x929292, 0xf08080, 0xa1a1a1, 0xfc9090, 0xb0b0b0, 0x840064,
    0x333333, 0x97197a, 0x4a4a4a, 0xa8308f, 0x5f5f5f, 0xb846a2, 0x737373, 0xc659b3, 0x848484,
    0xd46cc3, 0x959595, 0xe07cd2, 0xa4a4a4, 0xec8ce0, 0xb2b2b2, 0x500084, 0x272727, 0x68199a,
    0x3f3f3f, 0x7d30ad, 0x555555, 0x9246c0, 0x6b6b6b, 0xa459d0, 0x7d7d7d, 0xb56ce0, 0x8f8f8f,
    0xc57cee, 0x9f9f9f, 0xd48cfc, 0xaeaeae, 0x140090, 0x161616, 0x331aa3, 0x313131, 0x4e32b5,
    0x494949, 0x6848c6, 0x606060, 0x7f5cd5, 0x747474, 0x956fe3, 0x888888, 0xa980f0, 0x999999,
    0xbc90fc, 0xa9a9a9, 0x000094, 0x111111, 0x181aa7, 0x292929, 0x2d32b8, 0x404040, 0x4248c8,
    0x555555, 0x545cd6, 0x686868, 0x656fe4, 0x797979, 0x7580f0, 0x898989, 0x8490fc, 0x999999,
    0x001c88, 0x202020, 0x183b9d, 0x3c3c3c, 0x2d57b0, 0x555555, 0x4272c2, 0x6d6d6d, 0x548ad2,
    0x828282, 0x65a0e1, 0x969696, 0x75b5ef, 0xa8a8a8, 0x84c8fc, 0xbababa, 0x003064, 0x282828,
    0x185080, 0x454545, 0x2d6d98, 0x5f5f5f, 0x4288b0, 0x787878, 0x54a0c5, 0x8d8d8d, 0x65b7d9,
    0xa2a2a2, 0x75cceb, 0xb6b6b6, 0x84e0fc, 0xc8c8c8, 0x004030, 0x2b2b2b, 0x18624e, 0x4a4a4a,
    0x2d8169, 0x656565, 0x429e82, 0x7f7f7f, 0x54b899, 0x979797, 0x65d1ae, 0xadadad, 0x75e7c2,
    0xc1c1c1, 0x84fcd4, 0xd4d4d4, 0x004400, 0x282828, 0x1a661a, 0x474747, 0x328432, 0x626262,
    0x48a048, 0x7c7c7c, 0x5cba5c, 0x939393, 0x6fd26f, 0xa9a9a9, 0x80e880, 0xbdbdbd, 0x90fc90,
    0xcfcfcf, 0x143c00, 0x292929, 0x355f18, 0x4a4a4a, 0x527e2d, 0x686868, 0x6e9c42, 0x848484,
    0x87b754, 0x9d9d9d, 0x9ed065, 0xb5b5b5, 0xb4e775, 0xcbcbcb, 0xc8fc84, 0xdfdfdf, 0x303800,
    0x2f2f2f, 0x505916, 0x4f4f4f, 0x6d762b, 0x6b6b6b, 0x88923e, 0x858585, 0xa0ab4f, 0x9d9d9d,
    0xb7c25f, 0xb3b3b3, 0xccd86e, 0xc8c8c8, 0xe0ec7c, 0xdcdcdc, 0x482c00, 0x2f2f2f, 0x694d14,
    0x4f4f4f, 0x866a26, 0x6b6b6b, 0xa28638, 0x858585, 0xbb9f47, 0x9d9d9d, 0xd2b656, 0xb3b3b3,
    0xe8cc63, 0xc8c8c8, 0xfce070, 0xdcdcdc,
];

// ALE 0.6 `src/common/Palettes.hpp`, `PALPalette`.
static PAL: [u32; 256] = [
    0x000000, 0x000000, 0x2b2b2b, 0x2b2b2b, 0x525252, 0x525252, 0x767676, 0x767676, 0x979797,
    0x979797, 0xb6b6b6, 0xb6b6b6, 0xd2d2d2, 0xd2d2d2, 0xececec, 0xececec, 0x000000, 0x000000,
    0x2b2b2b, 0x2b2b2b, 0x525252, 0x525252, 0x767676, 0x767676, 0x979797, 0x979797, 0xb6b6b6,
    0xb6b6b6, 0xd2d2d2, 0xd2d2d2, 0xececec, 0xececec, 0x805800, 0x5a5a5a, 0x96711a, 0x727272,
    0xab8732, 0x888888, 0xbe9c48, 0x9d9d9d, 0xcfaf5c, 0xafafaf, 0xdfc06f, 0xc0c0c0, 0xeed180,
    0xd0d0d0, 0xfce090, 0xdfdfdf, 0x445c00, 0x4a4a4a, 0x5e791a, 0x666666, 0x769332, 0x7f7f7f,
    0x8cac48, 0x979797, 0xa0c25c, 0xacacac, 0xb3d76f, 0xc0c0c0, 0xc4ea80, 0xd3d3d3, 0xd4fc90,
    0xe4e4e4, 0x703400, 0x404040, 0x89511a, 0x5b5b5b, 0xa06b32, 0x747474, 0xb68448, 0x8c8c8c,
    0xc99a5c, 0xa1a1a1, 0xdcaf6f, 0xb5b5b5, 0xecc280, 0xc7c7c7, 0xfcd490, 0xd8d8d8, 0x006414,
    0x3d3d3d, 0x1a8035, 0x595959, 0x329852, 0x727272, 0x48b06e, 0x898989, 0x5cc587, 0x9f9f9f,
    0x6fd99e, 0xb3b3b3, 0x80ebb4, 0xc5c5c5, 0x90fcc8, 0xd6d6d6, 0x700014, 0x242424, 0x891a35,
    0x3e3e3e, 0xa03252, 0x575757, 0xb6486e, 0x6d6d6d, 0xc95c87, 0x818181, 0xdc6f9e, 0x959595,
    0xec80b4, 0xa6a6a6, 0xfc90c8, 0xb7b7b7, 0x005c5c, 0x404040, 0x1a7676, 0x5a5a5a, 0x328e8e,
    0x727272, 0x48a4a4, 0x888888, 0x5cb8b8, 0x9c9c9c, 0x6fcbcb, 0xafafaf, 0x80dcdc, 0xc0c0c0,
    0x90ecec, 0xd0d0d0, 0x70005c, 0x2c2c2c, 0x841a74, 0x444444, 0x963289, 0x5a5a5a, 0xa8489e,
    0x6e6e6e, 0xb75cb0, 0x818181, 0xc66fc1, 0x929292, 0xd380d1, 0xa2a2a2, 0xe090e0, 0xb1b1b1,
    0x003c70, 0x303030, 0x195a89, 0x4c4c4c, 0x2f75a0, 0x656565, 0x448eb6, 0x7c7c7c, 0x57a5c9,
    0x929292, 0x68badc, 0xa5a5a5, 0x79ceec, 0xb8b8b8, 0x88e0fc, 0xc9c9c9, 0x580070, 0x272727,
    0x6e1a89, 0x404040, 0x8332a0, 0x575757, 0x9648b6, 0x6c6c6c, 0xa75cc9, 0x7f7f7f, 0xb76fdc,
    0x919191, 0xc680ec, 0xa1a1a1, 0xd490fc, 0xb1b1b1, 0x002070, 0x202020, 0x193f89, 0x3c3c3c,
    0x2f5aa0, 0x555555, 0x4474b6, 0x6d6d6d, 0x578bc9, 0x838383, 0x68a1dc, 0x979797, 0x79b5ec,
    0xa9a9a9, 0x88c8fc, 0xbbbbbb, 0x340080, 0x1e1e1e, 0x4a1a96, 0x363636, 0x5f32ab, 0x4d4d4d,
    0x7248be, 0x626262, 0x835ccf, 0x757575, 0x936fdf, 0x878787, 0xa280ee, 0x979797, 0xb090fc,
    0xa6a6a6, 0x000088, 0x101010, 0x1a1a9d, 0x292929, 0x3232b0, 0x404040, 0x4848c2, 0x565656,
    0x5c5cd2, 0x696969, 0x6f6fe1, 0x7c7c7c, 0x8080ef, 0x8d8d8d, 0x9090fc, 0x9c9c9c, 0x000000,
    0x000000, 0x2b2b2b, 0x2b2b2b, 0x525252, 0x525252, 0x767676, 0x767676, 0x979797, 0x979797,
    0xb6b6b6, 0xb6b6b6, 0xd2d2d2, 0xd2d2d2, 0xececec, 0xececec, 0x000000, 0x000000, 0x2b2b2b,
    0x2b2b2b, 0x525252, 0x525252, 0x767676, 0x767676, 0x979797, 0x979797, 0xb6b6b6, 0xb6b6b6,
    0xd2d2d2, 0xd2d2d2, 0xececec, 0xececec,
];

// ALE 0.6 `src/common/Palettes.hpp`, `SECAMPalette`.
static SECAM: [u32; 256] = [
    0x000000, 0x000000, 0x2121ff, 0x3a3a3a, 0xf03c79, 0x797979, 0xff50ff, 0x989898, 0x7fff00,
    0xbcbcbc, 0x7fffff, 0xd9d9d9, 0xffff3f, 0xe9e9e9, 0xffffff, 0xffffff, 0x000000, 0x000000,
    0x2121ff, 0x3a3a3a, 0xf03c79, 0x797979, 0xff50ff, 0x989898, 0x7fff00, 0xbcbcbc, 0x7fffff,
    0xd9d9d9, 0xffff3f, 0xe9e9e9, 0xffffff, 0xffffff, 0x000000, 0x000000, 0x2121ff, 0x3a3a3a,
    0xf03c79, 0x797979, 0xff50ff, 0x989898, 0x7fff00, 0xbcbcbc, 0x7fffff, 0xd9d9d9, 0xffff3f,
    0xe9e9e9, 0xffffff, 0xffffff, 0x000000, 0x000000, 0x2121ff, 0x3a3a3a, 0xf03c79, 0x797979,
    0xff50ff, 0x989898, 0x7fff00, 0xbcbcbc, 0x7fffff, 0xd9d9d9, 0xffff3f, 0xe9e9e9, 0xffffff,
    0xffffff, 0x000000, 0x000000, 0x2121ff, 0x3a3a3a, 0xf03c79, 0x797979, 0xff50ff, 0x989898,
    0x7fff00, 0xbcbcbc, 0x7fffff, 0xd9d9d9, 0xffff3f, 0xe9e9e9, 0xffffff, 0xffffff, 0x000000,
    0x000000, 0x2121ff, 0x3a3a3a, 0xf03c79, 0x797979, 0xff50ff, 0x989898, 0x7fff00, 0xbcbcbc,
    0x7fffff, 0xd9d9d9, 0xffff3f, 0xe9e9e9, 0xffffff, 0xffffff, 0x000000, 0x000000, 0x2121ff,
    0x3a3a3a, 0xf03c79, 0x797979, 0xff50ff, 0x989898, 0x7fff00, 0xbcbcbc, 0x7fffff, 0xd9d9d9,
    0xffff3f, 0xe9e9e9, 0xffffff, 0xffffff, 0x000000, 0x000000, 0x2121ff, 0x3a3a3a, 0xf03c79,
    0x797979, 0xff50ff, 0x989898, 0x7fff00, 0xbcbcbc, 0x7fffff, 0xd9d9d9, 0xffff3f, 0xe9e9e9,
    0xffffff, 0xffffff, 0x000000, 0x000000, 0x2121ff, 0x3a3a3a, 0xf03c79, 0x797979, 0xff50ff,
    0x989898, 0x7fff00, 0xbcbcbc, 0x7fffff, 0xd9d9d9, 0xffff3f, 0xe9e9e9, 0xffffff, 0xffffff,
    0x000000, 0x000000, 0x2121ff, 0x3a3a3a, 0xf03c79, 0x797979, 0xff50ff, 0x989898, 0x7fff00,
    0xbcbcbc, 0x7fffff, 0xd9d9d9, 0xffff3f, 0xe9e9e9, 0xffffff, 0xffffff, 0x000000, 0x000000,
    0x2121ff, 0x3a3a3a, 0xf03c79, 0x797979, 0xff50ff, 0x989898, 0x7fff00, 0xbcbcbc, 0x7fffff,
    0xd9d9d9, 0xffff3f, 0xe9e9e9, 0xffffff, 0xffffff, 0x000000, 0x000000, 0x2121ff, 0x3a3a3a,
    0xf03c79, 0x797979, 0xff50ff, 0x989898, 0x7fff00, 0xbcbcbc, 0x7fffff, 0xd9d9d9, 0xffff3f,
    0xe9e9e9, 0xffffff, 0xffffff, 0x000000, 0x000000, 0x2121ff, 0x3a3a3a, 0xf03c79, 0x797979,
    0xff50ff, 0x989898, 0x7fff00, 0xbcbcbc, 0x7fffff, 0xd9d9d9, 0xffff3f, 0xe9e9e9, 0xffffff,
    0xffffff, 0x000000, 0x000000, 0x2121ff, 0x3a3a3a, 0xf03c79, 0x797979, 0xff50ff, 0x989898,
    0x7fff00, 0xbcbcbc, 0x7fffff, 0xd9d9d9, 0xffff3f, 0xe9e9e9, 0xffffff, 0xffffff, 0x000000,
    0x000000, 0x2121ff, 0x3a3a3a, 0xf03c79, 0x797979, 0xff50ff, 0x989898, 0x7fff00, 0xbcbcbc,
    0x7fffff, 0xd9d9d9, 0xffff3f, 0xe9e9e9, 0xffffff, 0xffffff, 0x000000, 0x000000, 0x2121ff,
    0x3a3a3a, 0xf03c79, 0x797979, 0xff50ff, 0x989898, 0x7fff00, 0xbcbcbc, 0x7fffff, 0xd9d9d9,
    0xffff3f, 0xe9e9e9, 0xffffff, 0xffffff,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_matches_opencv_by_hand() {
        // (R*9798 + G*19235 + B*3735 + 16384) >> 15, worked by hand (9798+19235+3735 = 32768):
        assert_eq!(rgb_to_gray(0, 0, 0), 0); // 16384 >> 15 = 0
        assert_eq!(rgb_to_gray(255, 255, 255), 255); // (255*32768 + 16384) >> 15 = 255
        assert_eq!(rgb_to_gray(255, 0, 0), 76); // 2498490 + 16384 = 2514874 -> 76.7 -> 76
        assert_eq!(rgb_to_gray(0, 255, 0), 150); // 4904925 + 16384 = 4921309 -> 150.2 -> 150
        assert_eq!(rgb_to_gray(0, 0, 255), 29); // 952425 + 16384 = 968809 -> 29.6 -> 29
                                                // NTSC index 0x22 = 0x904811 = (144, 72, 17):
                                                // 1410912 + 1384920 + 63495 + 16384 = 2875711 -> 87.8 -> 87
        assert_eq!(rgb_to_gray(144, 72, 17), 87);
        // (74, 74, 74): 74*32768 + 16384 = 2441216 -> 74.5 -> 74
        assert_eq!(rgb_to_gray(74, 74, 74), 74);
        // Where OpenCV 3's 14-bit weights round the other way (cv2 5.0 gives 28 and 21):
        // 250*3735 + 16384 = 950134 -> 28.996 -> 28 (14-bit: 475192 / 16384 -> 29.003 -> 29)
        assert_eq!(rgb_to_gray(0, 0, 250), 28);
        // 9798 + 186*3735 + 16384 = 720892 -> 21.9999 -> 21 (14-bit: 22)
        assert_eq!(rgb_to_gray(1, 0, 186), 21);
    }

    #[test]
    fn max_is_per_channel_before_gray() {
        // NTSC index 0x40 = 0x940000 (red), 0x80 = 0x000094 (blue): max = (148, 0, 148).
        let p = Palette::Ntsc;
        assert_eq!(p.rgb(0x40), [148, 0, 0]);
        assert_eq!(p.rgb(0x80), [0, 0, 148]);
        let out = &mut [0u8; 1];
        max_gray(p, Gray::Opencv, &[0x40], &[0x80], out);
        assert_eq!(out[0], rgb_to_gray(148, 0, 148));
        assert_ne!(out[0], rgb_to_gray(148, 0, 0).max(rgb_to_gray(0, 0, 148)));
        let rgb = &mut [0u8; 3];
        max_rgb(p, &[0x40], &[0x80], rgb);
        assert_eq!(rgb, &[148, 0, 148]);
        max_gray(p, Gray::Opencv, &[0x40], &[0x40], out);
        assert_eq!(out[0], rgb_to_gray(148, 0, 0));
    }

    #[test]
    fn ale_gray_is_the_odd_palette_entry_and_pools_after_conversion() {
        // ALE 0.12.1's getScreenGrayscale on Pong (ale-py, read on 2026-12-01): index 34
        // (0x904811) -> 87, 56 -> 148, 200 -> 147, 14 -> 236, 0 -> 0; NTSC[35] = 0x575757.
        let p = Palette::Ntsc;
        for (index, gray) in [(34u8, 87u8), (56, 148), (200, 147), (14, 236), (0, 0)] {
            assert_eq!(p.ale_gray(index), gray, "index {index}");
        }
        // Max after conversion: red 0x40 and blue 0x80 give the larger of their two grays.
        let out = &mut [0u8; 1];
        max_gray(p, Gray::Ale, &[0x40], &[0x80], out);
        assert_eq!(out[0], p.ale_gray(0x40).max(p.ale_gray(0x80)));
        assert_eq!("ALE".parse::<Gray>(), Ok(Gray::Ale));
        assert!("luma"
            .parse::<Gray>()
            .unwrap_err()
            .contains("opencv or ale"));
    }

    #[test]
    fn even_fast_path_equals_full_table() {
        for (p, g) in Palette::ALL
            .into_iter()
            .flat_map(|p| Gray::ALL.map(|g| (p, g)))
        {
            let a: Vec<u8> = (0..=255u8).flat_map(|x| [x; 256]).collect();
            let b: Vec<u8> = (0..=255u8).cycle().take(1 << 16).collect();
            let (mut full, mut even) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
            max_gray(p, g, &a, &b, &mut full); // contains odd indices: full table
            let ae: Vec<u8> = a.iter().map(|x| x & !1).collect();
            let be: Vec<u8> = b.iter().map(|x| x & !1).collect();
            max_gray(p, g, &ae, &be, &mut even);
            for i in 0..1 << 16 {
                assert_eq!(full[i], p.gray_max(g, a[i], b[i]));
                assert_eq!(even[i], p.gray_max(g, ae[i], be[i]));
            }
        }
    }

    #[test]
    fn simd_and_table_paths_agree_on_every_even_pair_and_odd_lengths() {
        // On CPUs with AVX-512 VBMI `max_gray` runs the SIMD kernels on whole 64-pixel
        // blocks and the table on the rest; elsewhere the table does everything. Either way
        // every pixel must be `gray_max` of its pair (all 128 x 128 even pairs, shuffled so
        // that each 64-byte block mixes many, and lengths that leave a tail).
        eprintln!("SIMD kernels available: {}", crate::frame_simd::available());
        let mut pairs: Vec<(u8, u8)> = (0..128u16)
            .flat_map(|x| (0..128u16).map(move |y| ((x << 1) as u8, (y << 1) as u8)))
            .collect();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for i in (1..pairs.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            pairs.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let a: Vec<u8> = pairs.iter().map(|p| p.0).collect();
        let b: Vec<u8> = pairs.iter().map(|p| p.1).collect();
        for (p, g) in Palette::ALL
            .into_iter()
            .flat_map(|p| Gray::ALL.map(|g| (p, g)))
        {
            for len in [a.len(), 16_000, 130, 63, 1] {
                let mut out = vec![0u8; len];
                max_gray(p, g, &a[..len], &b[..len], &mut out);
                for i in 0..len {
                    assert_eq!(
                        out[i],
                        p.gray_max(g, a[i], b[i]),
                        "{p:?} {g:?} len {len} px {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn index_zero_is_black_in_every_palette() {
        // The env's frame slots start as zeros, i.e. black, like baselines' np.zeros buffer.
        for p in Palette::ALL {
            assert_eq!(p.rgb(0), [0, 0, 0]);
        }
    }
}
