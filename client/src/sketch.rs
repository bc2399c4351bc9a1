//! Whiteboard geometry, pure: the view (pan and zoom) that maps board units
//! to canvas pixels, and which stroke a pointer touches.

use protocol::board::{MAX_COORD, Point, Shape, Stroke, VIEW_WIDTH};

/// How a canvas shows the board: at zoom 1 and no pan, the canvas's width
/// spans [`VIEW_WIDTH`] board units from the origin, on every screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Magnification; 1 shows the default view.
    pub zoom: f64,
    /// The board point at the canvas's top-left corner.
    pub pan: (f64, f64),
}

impl Default for View {
    fn default() -> Self {
        View {
            zoom: 1.0,
            pan: (0.0, 0.0),
        }
    }
}

/// Zoom stays between these.
pub const MIN_ZOOM: f64 = 0.1;
/// Zoom stays between these.
pub const MAX_ZOOM: f64 = 10.0;

impl View {
    /// Canvas pixels per board unit on a canvas `width` pixels wide.
    pub fn scale(&self, width: f64) -> f64 {
        width / f64::from(VIEW_WIDTH) * self.zoom
    }

    /// The board point under canvas pixel (x, y).
    pub fn to_board(&self, width: f64, x: f64, y: f64) -> Point {
        let s = self.scale(width);
        let clamp = |v: f64| v.round().clamp(-f64::from(MAX_COORD), f64::from(MAX_COORD)) as i32;
        Point(clamp(self.pan.0 + x / s), clamp(self.pan.1 + y / s))
    }

    /// The canvas pixel showing board point `p`.
    pub fn to_canvas(&self, width: f64, p: Point) -> (f64, f64) {
        let s = self.scale(width);
        (
            (f64::from(p.0) - self.pan.0) * s,
            (f64::from(p.1) - self.pan.1) * s,
        )
    }

    /// Zooms by `factor` keeping the board point under canvas pixel (x, y)
    /// where it is.
    pub fn zoom_at(&mut self, width: f64, x: f64, y: f64, factor: f64) {
        let before = self.scale(width);
        self.zoom = (self.zoom * factor).clamp(MIN_ZOOM, MAX_ZOOM);
        let after = self.scale(width);
        self.pan.0 += x / before - x / after;
        self.pan.1 += y / before - y / after;
    }

    /// Moves the view by a drag of (dx, dy) canvas pixels.
    pub fn drag(&mut self, width: f64, dx: f64, dy: f64) {
        let s = self.scale(width);
        self.pan.0 -= dx / s;
        self.pan.1 -= dy / s;
    }
}

fn distance_to_segment(p: Point, a: Point, b: Point) -> f64 {
    let (px, py) = (f64::from(p.0), f64::from(p.1));
    let (ax, ay) = (f64::from(a.0), f64::from(a.1));
    let (bx, by) = (f64::from(b.0), f64::from(b.1));
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0)
    };
    let (cx, cy) = (ax + t * dx, ay + t * dy);
    ((px - cx).powi(2) + (py - cy).powi(2)).sqrt()
}

/// Whether board point `p` touches `stroke`, within `slack` board units
/// beyond its line.
pub fn touches(stroke: &Stroke, p: Point, slack: f64) -> bool {
    let reach = f64::from(stroke.width) / 2.0 + slack;
    let (Some(&first), Some(&last)) = (stroke.points.first(), stroke.points.last()) else {
        return false;
    };
    match stroke.shape {
        Shape::Pen | Shape::Highlighter => {
            if stroke.points.len() == 1 {
                return distance_to_segment(p, first, first) <= reach;
            }
            stroke
                .points
                .windows(2)
                .any(|w| distance_to_segment(p, w[0], w[1]) <= reach)
        }
        Shape::Line | Shape::Arrow => distance_to_segment(p, first, last) <= reach,
        Shape::Rect | Shape::Ellipse => {
            let (x0, x1) = (first.0.min(last.0), first.0.max(last.0));
            let (y0, y1) = (first.1.min(last.1), first.1.max(last.1));
            let corners = [
                Point(x0, y0),
                Point(x1, y0),
                Point(x1, y1),
                Point(x0, y1),
                Point(x0, y0),
            ];
            corners
                .windows(2)
                .any(|w| distance_to_segment(p, w[0], w[1]) <= reach)
        }
        Shape::Text => {
            // The text's box: width is its font size; about 0.6 em per character.
            let chars = stroke.text.as_deref().map_or(0, |t| t.chars().count()) as f64;
            let size = f64::from(stroke.width);
            let (x, y) = (f64::from(first.0), f64::from(first.1));
            let (px, py) = (f64::from(p.0), f64::from(p.1));
            px >= x - slack
                && px <= x + chars * size * 0.6 + slack
                && py >= y - size - slack
                && py <= y + slack
        }
    }
}

/// The topmost stroke at `p`.
pub fn topmost(strokes: &[Stroke], p: Point, slack: f64) -> Option<&Stroke> {
    strokes.iter().rev().find(|s| touches(s, p, slack))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ParticipantId;
    use protocol::board::{Color, StrokeId};

    fn stroke(shape: Shape, points: Vec<Point>) -> Stroke {
        Stroke {
            id: StrokeId {
                by: ParticipantId::parse("u-a").unwrap(),
                n: 1,
            },
            shape,
            color: Color(0),
            width: 4,
            points,
            text: None,
            done: true,
            z: 0,
        }
    }

    #[test]
    fn the_same_board_point_on_any_canvas_size() {
        let v = View::default();
        for width in [320.0, 800.0, 1920.0] {
            let (x, y) = v.to_canvas(width, Point(800, 450));
            assert!((x - width / 2.0).abs() < 1e-9);
            assert_eq!(v.to_board(width, x, y), Point(800, 450));
        }
    }

    #[test]
    fn zoom_keeps_the_point_under_the_cursor_and_drag_pans() {
        let mut v = View::default();
        let under = v.to_board(800.0, 200.0, 100.0);
        v.zoom_at(800.0, 200.0, 100.0, 2.0);
        assert_eq!(v.to_board(800.0, 200.0, 100.0), under);
        v.zoom_at(800.0, 0.0, 0.0, 1e9);
        assert_eq!(v.zoom, MAX_ZOOM);
        let mut v = View::default();
        v.drag(800.0, 80.0, 0.0);
        assert_eq!(v.to_board(800.0, 80.0, 0.0), Point(0, 0));
    }

    #[test]
    fn a_pointer_touches_the_line_not_the_space_around_it() {
        let pen = stroke(
            Shape::Pen,
            vec![Point(0, 0), Point(100, 0), Point(100, 100)],
        );
        assert!(touches(&pen, Point(50, 1), 2.0));
        assert!(touches(&pen, Point(101, 60), 2.0));
        assert!(!touches(&pen, Point(50, 50), 2.0));
        let rect = stroke(Shape::Rect, vec![Point(0, 0), Point(100, 100)]);
        assert!(touches(&rect, Point(0, 50), 2.0));
        assert!(!touches(&rect, Point(50, 50), 2.0), "inside is empty");
        let strokes = vec![pen.clone(), rect.clone()];
        assert_eq!(topmost(&strokes, Point(0, 0), 2.0), Some(&rect));
        assert_eq!(topmost(&strokes, Point(500, 500), 2.0), None);
    }
}
