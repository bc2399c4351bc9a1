//! Line charts as SVG text, for `bench/*.svg`. A few dozen lines of SVG
//! are all the results need, so no plotting crate (and its font stack) is
//! pulled into the build for them.

use std::fmt::Write as _;

/// One named line of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

const W: f64 = 640.0;
const H: f64 = 360.0;
/// Margins: left (y labels), right, top (title), bottom (x labels).
const L: f64 = 70.0;
const R: f64 = 150.0;
const T: f64 = 40.0;
const B: f64 = 50.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten.
fn nice(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * p)
}

fn label(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A chart of `series` from zero to a rounded maximum on both axes.
pub fn lines(title: &str, x_name: &str, y_name: &str, series: &[Series]) -> String {
    let finite = |v: f64| v.is_finite();
    let all = series.iter().flat_map(|s| s.points.iter());
    let xmax = nice(
        all.clone()
            .map(|p| p.0)
            .filter(|v| finite(*v))
            .fold(0.0, f64::max),
    );
    let ymax = nice(all.map(|p| p.1).filter(|v| finite(*v)).fold(0.0, f64::max));
    let (pw, ph) = (W - L - R, H - T - B);
    let x = |v: f64| L + v / xmax * pw;
    let y = |v: f64| T + ph - v / ymax * ph;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="14" text-anchor="middle">{}</text>"#,
        L + pw / 2.0,
        escape(title)
    );
    for i in 0..=5 {
        let f = f64::from(i) / 5.0;
        let (gx, gy) = (x(f * xmax), y(f * ymax));
        let _ = writeln!(
            s,
            r##"<line x1="{L}" y1="{gy}" x2="{}" y2="{gy}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            L + pw,
            L - 6.0,
            gy + 4.0,
            label(f * ymax)
        );
        let _ = writeln!(
            s,
            r##"<line x1="{gx}" y1="{T}" x2="{gx}" y2="{}" stroke="#eee"/><text x="{gx}" y="{}" text-anchor="middle">{}</text>"##,
            T + ph,
            T + ph + 16.0,
            label(f * xmax)
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        L + pw / 2.0,
        H - 12.0,
        escape(x_name)
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        T + ph / 2.0,
        escape(y_name)
    );
    for (k, line) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let mut pts: Vec<(f64, f64)> = line
            .points
            .iter()
            .copied()
            .filter(|(a, b)| finite(*a) && finite(*b))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let path: Vec<String> = pts
            .iter()
            .map(|&(a, b)| format!("{:.1},{:.1}", x(a), y(b.min(ymax))))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for &(a, b) in &pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                x(a),
                y(b.min(ymax))
            );
        }
        let ly = T + 10.0 + 18.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            L + pw + 10.0,
            L + pw + 30.0,
            L + pw + 36.0,
            ly + 4.0,
            escape(&line.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up_and_points_land_inside() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(7.0), 10.0);
        assert_eq!(nice(120.0), 200.0);
        assert_eq!(nice(45_000.0), 50_000.0);
        let svg = lines(
            "a <title>",
            "x",
            "y",
            &[Series {
                name: "s & t".into(),
                points: vec![(0.0, 0.0), (50.0, 5.0), (f64::NAN, 1.0)],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("a &lt;title&gt;") && svg.contains("s &amp; t"));
        assert_eq!(svg.matches("<circle").count(), 2);
        // (50, 5) is the top-right corner of the plot area.
        assert!(svg.contains(&format!(r#"cx="{:.1}" cy="{:.1}""#, W - R, T)));
    }
}
