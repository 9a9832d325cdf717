//! The embedded font: DejaVu Sans registered with plotters' pure-Rust (`ab_glyph`) text
//! renderer, so plots have legible text on machines without fontconfig or system fonts.

use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

/// The family name every text style in this crate uses.
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the font once per process; later calls return the first outcome.
pub(crate) fn ensure_registered() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let fonts: [(FontStyle, &str, &'static [u8]); 4] = [
            (FontStyle::Normal, "regular", dejavu::sans::regular()),
            (FontStyle::Bold, "bold", dejavu::sans::bold()),
            (FontStyle::Italic, "oblique", dejavu::sans::oblique()),
            (FontStyle::Oblique, "oblique", dejavu::sans::oblique()),
        ];
        for (style, name, bytes) in fonts {
            register_font(FAMILY, style, bytes)
                .map_err(|_| format!("the embedded DejaVu Sans ({name}) is not a valid font"))?;
        }
        Ok(())
    })
    .clone()
}
