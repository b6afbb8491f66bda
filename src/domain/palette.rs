//! The colours users are drawn in. Every colour is readable as text on white (WCAG AA, contrast
//! at least 4.5:1) and far enough from the others to tell reviewers apart.

pub const PALETTE: &[&str] = &[
    "#C62828", // red
    "#1565C0", // blue
    "#2E7D32", // green
    "#6A1B9A", // purple
    "#9A4A00", // burnt orange
    "#00695C", // teal
    "#B0006D", // magenta
    "#4E342E", // brown
    "#283593", // indigo
    "#AA00FF", // violet
    "#0000EE", // ultramarine
    "#8D6E63", // taupe
];

pub fn is_palette_color(color: &str) -> bool {
    PALETTE.iter().any(|c| c.eq_ignore_ascii_case(color))
}

/// The colour for the `n`-th user: round robin, so people created together differ.
pub fn color_for_index(n: u64) -> &'static str {
    PALETTE[(n % PALETTE.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgb(hex: &str) -> [f64; 3] {
        let v = u32::from_str_radix(&hex[1..], 16).unwrap();
        [(v >> 16) as f64, ((v >> 8) & 0xff) as f64, (v & 0xff) as f64]
    }

    fn luminance(c: [f64; 3]) -> f64 {
        let lin = |x: f64| {
            let s = x / 255.0;
            if s <= 0.03928 { s / 12.92 } else { ((s + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
    }

    #[test]
    fn every_colour_is_readable_on_white() {
        for c in PALETTE {
            let contrast = 1.05 / (luminance(rgb(c)) + 0.05);
            assert!(contrast >= 4.5, "{c} has contrast {contrast:.2}");
        }
    }

    #[test]
    fn colours_are_distinct_from_each_other() {
        assert!(PALETTE.len() >= 12);
        for (i, a) in PALETTE.iter().enumerate() {
            for b in &PALETTE[i + 1..] {
                let (x, y) = (rgb(a), rgb(b));
                let d = ((x[0] - y[0]).powi(2) + (x[1] - y[1]).powi(2) + (x[2] - y[2]).powi(2)).sqrt();
                assert!(d > 60.0, "{a} and {b} are too close ({d:.0})");
            }
        }
    }
}
