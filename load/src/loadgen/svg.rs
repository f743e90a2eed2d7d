//! `convergence.svg`: clusters created and Ready over time, drawn by hand.

use std::fmt::Write as _;

use super::report::Point;

const W: f64 = 720.0;
const H: f64 = 360.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 45.0;

/// A "nice" axis step (1, 2 or 5 × 10^k) giving about `ticks` ticks up to `max`.
fn step(max: f64, ticks: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / ticks;
    let mag = 10f64.powf(raw.log10().floor());
    let n = raw / mag;
    let m = if n <= 1.0 {
        1.0
    } else if n <= 2.0 {
        2.0
    } else if n <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

fn polyline(points: &[Point], f: impl Fn(&Point) -> usize, sx: f64, sy: f64) -> String {
    points
        .iter()
        .map(|p| {
            format!(
                "{:.1},{:.1}",
                LEFT + p.t * sx,
                H - BOTTOM - f(p) as f64 * sy
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The chart for `points` of a run with `total` clusters.
pub fn convergence(title: &str, points: &[Point], total: usize) -> String {
    let tmax = points.iter().map(|p| p.t).fold(0.0, f64::max).max(1.0);
    let ymax = (total.max(1)) as f64;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let (sx, sy) = (pw / tmax, ph / ymax);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="18" text-anchor="middle" font-size="13">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    let xs = step(tmax, 8.0);
    let mut x = 0.0;
    while x <= tmax + 1e-9 {
        let px = LEFT + x * sx;
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{x}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 15.0
        );
        x += xs;
    }
    let ys = step(ymax, 5.0);
    let mut y = 0.0;
    while y <= ymax + 1e-9 {
        let py = H - BOTTOM - y * sy;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{y}</text>"##,
            W - RIGHT,
            LEFT - 5.0,
            py + 4.0
        );
        y += ys;
    }
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="black"/>"#,
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds since first create</text>"#,
        LEFT + pw / 2.0,
        H - 8.0
    );
    let _ = writeln!(
        s,
        r#"<text x="14" y="{:.1}" text-anchor="middle" transform="rotate(-90 14 {:.1})">clusters</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    let _ = writeln!(
        s,
        r##"<polyline fill="none" stroke="#999" stroke-dasharray="4 3" stroke-width="1.5" points="{}"/>"##,
        polyline(points, |p| p.created, sx, sy)
    );
    let _ = writeln!(
        s,
        r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{}"/>"##,
        polyline(points, |p| p.ready, sx, sy)
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" fill="#999">created</text><text x="{:.1}" y="{:.1}" fill="#1f77b4">Ready</text>"##,
        LEFT + 10.0,
        TOP + 12.0,
        LEFT + 70.0,
        TOP + 12.0
    );
    s.push_str("</svg>\n");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_both_series_scaled_to_the_plot_area() {
        let pts = [
            Point {
                t: 0.0,
                created: 0,
                ready: 0,
            },
            Point {
                t: 10.0,
                created: 100,
                ready: 50,
            },
            Point {
                t: 20.0,
                created: 100,
                ready: 100,
            },
        ];
        let svg = convergence("a <b>", &pts, 100);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt;b&gt;"));
        // Ready series: origin at the bottom-left, the last point at the top-right corner.
        assert!(svg.contains(r#"points="60.0,315.0 380.0,172.5 700.0,30.0""#));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(step(95.0, 5.0), 20.0);
        assert_eq!(step(7.0, 8.0), 1.0);
    }
}
