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

/// The colours a document's legend draws its authors in, in order: each keeps their own colour
/// unless someone earlier in the legend has it, and then gets the first palette colour no one
/// in the legend uses. Past twelve authors, further colours are made readable on white and
/// distinct by hue, so no two people on one document ever share a colour.
pub fn legend_colors<'a>(own: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    // First everyone whose own colour no one earlier has keeps it; then the others get colours
    // no one in the legend uses.
    let mut picks: Vec<Option<String>> = Vec::new();
    for color in own {
        let color = color.to_ascii_uppercase();
        let taken = picks.iter().flatten().any(|c| *c == color);
        picks.push((!taken).then_some(color));
    }
    let mut taken: Vec<String> = picks.iter().flatten().cloned().collect();
    let mut candidates = PALETTE.iter().map(|c| c.to_string()).chain((0u32..).map(extra_color));
    picks
        .into_iter()
        .map(|pick| {
            pick.unwrap_or_else(|| {
                // Hues repeat only after thousands of colours; a legend never gets that long.
                let c = candidates.by_ref().find(|c| !taken.contains(c)).unwrap_or_default();
                taken.push(c.clone());
                c
            })
        })
        .collect()
}

/// The `n`-th colour beyond the palette: hues a golden angle apart, darkened until the text
/// contrast on white is at least 4.5:1.
fn extra_color(n: u32) -> String {
    let hue = (n as f64 * 137.508 + 20.0) % 360.0;
    let mut lightness = 0.42;
    loop {
        let rgb = hsl_to_rgb(hue, 0.9, lightness);
        if contrast_on_white(rgb) >= 4.5 || lightness <= 0.05 {
            return format!("#{:02X}{:02X}{:02X}", rgb[0] as u8, rgb[1] as u8, rgb[2] as u8);
        }
        lightness -= 0.02;
    }
}

fn hsl_to_rgb(h: f64, s: f64, l: f64) -> [f64; 3] {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = l - c / 2.0;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [((r + m) * 255.0).round(), ((g + m) * 255.0).round(), ((b + m) * 255.0).round()]
}

fn luminance(c: [f64; 3]) -> f64 {
    let lin = |x: f64| {
        let s = x / 255.0;
        if s <= 0.03928 { s / 12.92 } else { ((s + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}

fn contrast_on_white(c: [f64; 3]) -> f64 {
    1.05 / (luminance(c) + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgb(hex: &str) -> [f64; 3] {
        let v = u32::from_str_radix(&hex[1..], 16).unwrap();
        [(v >> 16) as f64, ((v >> 8) & 0xff) as f64, (v & 0xff) as f64]
    }

    #[test]
    fn a_legend_never_repeats_a_colour_and_stays_readable() {
        let own = ["#C62828", "#c62828", "#1565C0", "#C62828"];
        let legend = legend_colors(own);
        // Whoever has their colour alone keeps it; the later of two sharing one gives way.
        assert_eq!(legend, ["#C62828", "#2E7D32", "#1565C0", "#6A1B9A"]);
        let crowd: Vec<&str> = std::iter::repeat_n("#C62828", 40).collect();
        let legend = legend_colors(crowd);
        for (i, c) in legend.iter().enumerate() {
            assert!(!legend[..i].contains(c), "{c} repeats");
            assert!(contrast_on_white(rgb(c)) >= 4.5, "{c} is not readable");
        }
    }

    #[test]
    fn every_colour_is_readable_on_white() {
        for c in PALETTE {
            let contrast = contrast_on_white(rgb(c));
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
