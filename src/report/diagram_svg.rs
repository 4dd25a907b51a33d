//! The diagram as SVG, laid out by the `layout-rs` crate: a layered
//! (Sugiyama) layout with ranks, crossing reduction and Brandes–Köpf
//! placement. Each flow's label is a node of its own on the flow's path
//! (as Graphviz `dot` places labels), so no label overlaps another label or
//! a box, and a flow spanning several ranks is routed through dummy nodes
//! between the boxes. [`layout()`] returns the geometry, which tests check;
//! [`svg`] draws it.

use std::fmt::Write;

use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend, Visible};
use layout::core::geometry::{Point, Position};
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::diagram::{Diagram, FlowKind, PartKind};
use super::markup::esc;

/// Width of a character of a part's text (12px sans-serif), generous.
const CHAR_W: f64 = 7.3;
/// Height of a line of a part's text.
const LINE_H: f64 = 15.0;
/// Padding inside a part's box.
const PAD: f64 = 8.0;
/// Width of a character of a label (10px sans-serif), generous.
const LABEL_W: f64 = 6.6;
/// Padding inside a label's box.
const LABEL_PAD: f64 = 4.0;
/// Font size of a flow's label as drawn.
const LABEL_FONT: f64 = 10.0;
/// Space the layout keeps around a part's box, across and along the ranks
/// (room for the paths' bends between columns).
const PART_HALO: (f64, f64) = (40.0, 24.0);
/// Space the layout keeps around a label's box.
const LABEL_HALO: (f64, f64) = (24.0, 6.0);
/// Space around the drawing.
const MARGIN: f64 = 16.0;
/// The legend line below the drawing.
const LEGEND: &str = "arrows point the way value moves · grey: a behaviour's transactions (two heads: a trade) · green: payments · dotted: price reads · boxes list stocks (genesis amounts)";
/// Width of a character of the legend (11px sans-serif), generous.
const LEGEND_CHAR_W: f64 = 6.8;
/// Height of the legend line below the drawing.
const LEGEND_H: f64 = 30.0;

/// An axis-aligned box: `(x, y)` is its top-left corner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    /// Whether the two boxes share any area (touching edges do not count).
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }

    /// Whether `(x, y)` lies strictly inside the box shrunk by `inset`.
    pub fn contains(&self, (x, y): (f64, f64), inset: f64) -> bool {
        x > self.x + inset && x < self.x + self.w - inset && y > self.y + inset && y < self.y + self.h - inset
    }
}

/// A cubic Bézier segment: start, two control points, end.
pub type Segment = [(f64, f64); 4];

/// A flow's path: cubic Bézier segments `[start, control, control, end]`,
/// with an arrowhead at the start (a two-way flow, or one the layout drew
/// backwards) and/or at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// The segments, end to end.
    pub segments: Vec<Segment>,
    /// Arrowhead at the first point.
    pub head_start: bool,
    /// Arrowhead at the last point.
    pub head_end: bool,
}

impl Route {
    /// Points along the path, `n` per segment, ends included.
    pub fn sample(&self, n: usize) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        for s in &self.segments {
            for k in 0..=n {
                let t = k as f64 / n as f64;
                let u = 1.0 - t;
                let w = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
                out.push((
                    (0..4).map(|i| w[i] * s[i].0).sum::<f64>(),
                    (0..4).map(|i| w[i] * s[i].1).sum::<f64>(),
                ));
            }
        }
        out
    }

    /// The first and last points: where value leaves and arrives when
    /// the arrowhead is at the end only.
    pub fn ends(&self) -> Option<((f64, f64), (f64, f64))> {
        Some((self.segments.first()?[0], self.segments.last()?[3]))
    }

    /// The SVG path data.
    fn d(&self) -> String {
        let mut d = String::new();
        for (i, s) in self.segments.iter().enumerate() {
            if i == 0 {
                let _ = write!(d, "M{:.1},{:.1}", s[0].0, s[0].1);
            }
            let _ = write!(
                d,
                " C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                s[1].0, s[1].1, s[2].0, s[2].1, s[3].0, s[3].1
            );
        }
        d
    }
}

/// Where a flow is drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct DrawnFlow {
    /// Its label's box, on its path.
    pub label: Rect,
    /// Its path.
    pub route: Route,
}

/// The laid-out diagram, in SVG coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Width of the drawing.
    pub width: f64,
    /// Height of the drawing, legend included.
    pub height: f64,
    /// Each part's box, in the diagram's order.
    pub parts: Vec<Rect>,
    /// Each flow, in the diagram's order (`None` if an end is missing).
    pub flows: Vec<Option<DrawnFlow>>,
}

/// Collects the arrows `layout-rs` draws (the rest is drawn here).
#[derive(Default)]
struct Arrows(Vec<((usize, usize), Vec<Segment>)>);

impl RenderBackend for Arrows {
    fn draw_rect(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>, _: Option<ClipHandle>) {}
    fn draw_line(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}
    fn draw_circle(&mut self, _: Point, _: Point, _: &StyleAttr, _: Option<String>) {}
    fn draw_text(&mut self, _: Point, _: &str, _: &StyleAttr) {}
    fn create_clip(&mut self, _: Point, _: Point, _: usize) -> ClipHandle {
        0
    }

    /// `path` is `[(start, exit control), (entry control, point)…]`, the
    /// control point leaving each inner point the mirror of its entry one.
    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        _: bool,
        _: (bool, bool),
        _: &StyleAttr,
        properties: Option<String>,
        _: &str,
    ) {
        let key = properties.as_deref().and_then(|p| p.split_once('.'));
        let Some((Ok(flow), Ok(piece))) = key.map(|(a, b)| (a.parse(), b.parse())) else { return };
        let xy = |p: Point| (p.x, p.y);
        let mut segments = Vec::new();
        for i in 1..path.len() {
            let (from, exit) = if i == 1 {
                (xy(path[0].0), xy(path[0].1))
            } else {
                let (entry, at) = (xy(path[i - 1].0), xy(path[i - 1].1));
                (at, (2.0 * at.0 - entry.0, 2.0 * at.1 - entry.1))
            };
            segments.push([from, exit, xy(path[i].0), xy(path[i].1)]);
        }
        self.0.push(((flow, piece), segments));
    }
}

/// The x range of the column of boxes that a vertical line at `x` meets.
fn column(boxes: &[Rect], x: f64) -> Option<(f64, f64)> {
    let hits = boxes.iter().filter(|b| b.x <= x && x <= b.x + b.w);
    hits.fold(None, |acc, b| {
        let (l, r) = acc.unwrap_or((b.x, b.x + b.w));
        Some((l.min(b.x), r.max(b.x + b.w)))
    })
}

/// The height at which each flow end `(part, side, height of its path's
/// nearest point)` meets its part: the ends on one side of a part spread
/// evenly down it, in the order of their paths' heights (so they do not
/// cross there).
fn ports(parts: &[Rect], ends: &[(usize, bool, f64)]) -> Vec<f64> {
    let mut y = vec![0.0; ends.len()];
    for (k, &(part, side, _)) in ends.iter().enumerate() {
        let mut same: Vec<usize> =
            (0..ends.len()).filter(|&j| ends[j].0 == part && ends[j].1 == side).collect();
        same.sort_by(|&i, &j| ends[i].2.total_cmp(&ends[j].2).then(i.cmp(&j)));
        let rank = same.iter().position(|&j| j == k).unwrap_or(0);
        let r = &parts[part];
        y[k] = r.y + r.h * (rank as f64 + 1.0) / (same.len() as f64 + 1.0);
    }
    y
}

/// A flow's path from box `from` to box `to` through `waypoints` (the
/// layout's dummy nodes between ranks and, at `label_at`, the label's
/// centre): straight across each column of boxes at a waypoint's height,
/// where the layout keeps every other box of the column clear, and curved
/// only in the gaps between columns, where there is no box. It leaves and
/// enters the boxes horizontally, by the side and at the height given
/// (`(right side, y)`).
fn route(
    from: &Rect,
    to: &Rect,
    (out_right, y0): (bool, f64),
    (in_right, y1): (bool, f64),
    waypoints: &[(f64, f64)],
    label_at: usize,
    boxes: &[Rect],
) -> Vec<Segment> {
    let mid = |r: &Rect| r.x + r.w / 2.0;
    let across = |x: f64| column(boxes, x).unwrap_or((x, x));
    let mut points: Vec<(f64, f64)> = Vec::new();
    // Out of `from`'s side, across its column.
    let (l, r) = across(mid(from));
    points.push((if out_right { from.x + from.w } else { from.x }, y0));
    points.push((if out_right { r } else { l }, y0));
    for (k, &(x, y)) in waypoints.iter().enumerate() {
        let prev = points[points.len() - 1].0;
        let next =
            waypoints.get(k + 1).map_or(if in_right { f64::NEG_INFINITY } else { f64::INFINITY }, |w| w.0);
        let (l, r) = across(x);
        let (enter, leave) = (if prev <= x { l } else { r }, if next >= x { r } else { l });
        points.push((enter, y));
        if enter == leave && k == label_at {
            // In and out on the same side: reach the label, come back.
            points.push((x, y));
        }
        points.push((leave, y));
    }
    // Across `to`'s column, into its side.
    let (l, r) = across(mid(to));
    points.push((if in_right { r } else { l }, y1));
    points.push((if in_right { to.x + to.w } else { to.x }, y1));
    points.dedup_by(|q, p| (q.0 - p.0).abs() < 0.01 && (q.1 - p.1).abs() < 0.01);
    points
        .windows(2)
        .map(|w| {
            let (p, q) = (w[0], w[1]);
            let mx = (p.0 + q.0) / 2.0;
            [p, (mx, p.1), (mx, q.1), q]
        })
        .collect()
}

/// Reverses a path made of cubic segments.
fn reverse(segments: &mut [Segment]) {
    segments.reverse();
    for s in segments.iter_mut() {
        s.reverse();
    }
}

/// The size of a label's box: [`LABEL_W`] per character, one line.
fn label_size(text: &str) -> (f64, f64) {
    (text.chars().count() as f64 * LABEL_W + 2.0 * LABEL_PAD, LABEL_FONT + 2.0 * LABEL_PAD)
}

/// The size of a part's box.
fn part_size(lines: &[String]) -> (f64, f64) {
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
    ((longest * CHAR_W + 2.0 * PAD).max(110.0), lines.len() as f64 * LINE_H + 2.0 * PAD)
}

/// Lays `d` out: parts as boxes ranked left to right along the flows.
pub fn layout(d: &Diagram) -> Layout {
    let legend_w = LEGEND.chars().count() as f64 * LEGEND_CHAR_W;
    let mut layout = Layout {
        width: legend_w + 2.0 * MARGIN,
        height: 2.0 * MARGIN + LEGEND_H,
        parts: Vec::new(),
        flows: Vec::new(),
    };
    if d.parts.is_empty() {
        return layout;
    }
    let mut vg = VisualGraph::new(Orientation::LeftToRight);
    let node = |vg: &mut VisualGraph, (w, h): (f64, f64), (hx, hy): (f64, f64)| {
        let mut e = Element::create(
            ShapeKind::Box(String::new()),
            StyleAttr::simple(),
            Orientation::LeftToRight,
            Point::new(w, h),
        );
        e.pos = Position::new(Point::zero(), Point::new(w, h), Point::zero(), Point::new(hx, hy));
        vg.add_node(e)
    };
    let handles: Vec<_> = d.parts.iter().map(|p| node(&mut vg, part_size(&p.lines()), PART_HALO)).collect();
    let index = |name: &str| d.parts.iter().position(|p| p.name == name);
    // Each label is a box of its own between the flow's ends: from → label → to.
    let mut labels = Vec::new();
    for (i, f) in d.flows.iter().enumerate() {
        let (Some(a), Some(b)) = (index(&f.from), index(&f.to)) else { continue };
        if a == b {
            continue;
        }
        let label = node(&mut vg, label_size(&f.text()), LABEL_HALO);
        let plain = |k: usize| {
            Arrow::with_properties(
                LineEndKind::None,
                LineEndKind::None,
                LineStyleKind::Normal,
                "",
                &StyleAttr::simple(),
                format!("{i}.{k}"),
                &None,
                &None,
            )
        };
        vg.add_edge(plain(0), handles[a], label);
        vg.add_edge(plain(1), label, handles[b]);
        labels.push((i, label));
    }
    let mut arrows = Arrows::default();
    vg.do_it(false, false, false, &mut arrows);

    let rect = |p: Position| {
        let (tl, size) = (p.bbox(false).0, p.size(false));
        Rect { x: tl.x, y: tl.y, w: size.x, h: size.y }
    };
    layout.parts = handles.iter().map(|&h| rect(vg.element(h).position())).collect();
    layout.flows = vec![None; d.flows.len()];
    let mut pieces = Vec::new();
    for (i, handle) in labels {
        let label = rect(vg.element(handle).position());
        let centre = (label.x + label.w / 2.0, label.y + label.h / 2.0);
        let piece = |k: usize| arrows.0.iter().find(|(key, _)| *key == (i, k)).map(|(_, segs)| segs.clone());
        let (Some(mut into), Some(mut out)) = (piece(0), piece(1)) else { continue };
        // The layout may have drawn a piece backwards (to break a cycle):
        // `into` must end at the label, `out` start there.
        let near = |p: (f64, f64)| (p.0 - centre.0).hypot(p.1 - centre.1);
        if near(into[0][0]) < near(into[into.len() - 1][3]) {
            reverse(&mut into);
        }
        if near(out[out.len() - 1][3]) < near(out[0][0]) {
            reverse(&mut out);
        }
        pieces.push((i, label, into, out));
    }
    let boxes: Vec<Rect> = layout.parts.iter().copied().chain(pieces.iter().map(|p| p.1)).collect();
    // Each flow's ends: a part, the side facing its path (right: true) and
    // the height of its path's nearest point there.
    let mut routed = Vec::new();
    let mut ends: Vec<(usize, bool, f64)> = Vec::new();
    for (i, label, into, out) in pieces {
        let f = &d.flows[i];
        let (Some(a), Some(b)) = (index(&f.from), index(&f.to)) else { continue };
        // Through the dummy nodes between ranks and the label's centre.
        let inner = |segs: &[Segment]| segs[..segs.len() - 1].iter().map(|s| s[3]).collect::<Vec<_>>();
        let mut waypoints = inner(&into);
        let label_at = waypoints.len();
        waypoints.push((label.x + label.w / 2.0, label.y + label.h / 2.0));
        waypoints.extend(inner(&out));
        let (first, last) = (waypoints[0], waypoints[waypoints.len() - 1]);
        let mid = |r: &Rect| r.x + r.w / 2.0;
        ends.push((a, first.0 >= mid(&layout.parts[a]), first.1));
        ends.push((b, last.0 > mid(&layout.parts[b]), last.1));
        routed.push((i, a, b, label, waypoints, label_at));
    }
    let ports = ports(&layout.parts, &ends);
    for (k, (i, a, b, label, waypoints, label_at)) in routed.into_iter().enumerate() {
        let (start, end) = ((ends[2 * k].1, ports[2 * k]), (ends[2 * k + 1].1, ports[2 * k + 1]));
        let segments = route(&layout.parts[a], &layout.parts[b], start, end, &waypoints, label_at, &boxes);
        let route = Route { segments, head_start: d.flows[i].two_way, head_end: true };
        layout.flows[i] = Some(DrawnFlow { label, route });
    }

    // Move the drawing to the margin.
    let mut points: Vec<(f64, f64)> = Vec::new();
    let boxes = layout.parts.iter().chain(layout.flows.iter().flatten().map(|f| &f.label));
    for r in boxes {
        points.push((r.x, r.y));
        points.push((r.x + r.w, r.y + r.h));
    }
    for f in layout.flows.iter().flatten() {
        points.extend(f.route.segments.iter().flatten());
    }
    let min_x = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let min_y = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let max_x = points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let max_y = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let (dx, dy) = (MARGIN - min_x, MARGIN - min_y);
    let shift = |r: &mut Rect| {
        r.x += dx;
        r.y += dy;
    };
    layout.parts.iter_mut().for_each(shift);
    for f in layout.flows.iter_mut().flatten() {
        shift(&mut f.label);
        for p in f.route.segments.iter_mut().flatten() {
            p.0 += dx;
            p.1 += dy;
        }
    }
    layout.width = (max_x - min_x).max(legend_w) + 2.0 * MARGIN;
    layout.height = max_y - min_y + 2.0 * MARGIN + LEGEND_H;
    layout
}

/// Stroke colour, dash pattern and arrowhead marker of a flow kind.
fn look(kind: FlowKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        FlowKind::Acts => ("#555555", "", "ts-arrow"),
        FlowKind::Reference => ("#2f855a", "", "ts-arrow-pay"),
        FlowKind::Reads => ("#999999", r#" stroke-dasharray="2,3""#, "ts-arrow-read"),
    }
}

/// The diagram as a standalone SVG element (`class="diagram"`): one
/// `<g class="part">` per part, one `<g class="flow">` per flow and one
/// `<g class="flow-label">` per flow's label.
pub fn svg(d: &Diagram) -> String {
    let l = layout(d);
    let (width, height) = (l.width, l.height);
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg class="diagram" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" style="max-width:none" font-family="sans-serif" font-size="12" role="img" aria-label="stock-and-flow diagram"><defs>"##
    );
    for kind in [FlowKind::Acts, FlowKind::Reference, FlowKind::Reads] {
        let (colour, _, marker) = look(kind);
        let _ = write!(
            out,
            r##"<marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>"##
        );
    }
    out.push_str("</defs>");
    for (f, drawn) in d.flows.iter().zip(&l.flows) {
        let Some(drawn) = drawn else { continue };
        let (colour, dash, marker) = look(f.kind);
        let r = &drawn.route;
        let start = if r.head_start { format!(r#" marker-start="url(#{marker})""#) } else { String::new() };
        let end = if r.head_end { format!(r#" marker-end="url(#{marker})""#) } else { String::new() };
        let kind = match f.kind {
            FlowKind::Acts => "acts",
            FlowKind::Reference => "reference",
            FlowKind::Reads => "reads",
        };
        let _ = write!(
            out,
            r##"<g class="flow" data-from="{}" data-to="{}" data-kind="{kind}" data-two-way="{}"><title>{}</title><path d="{}" fill="none" stroke="{colour}" stroke-width="1.4"{dash}{start}{end}/></g>"##,
            esc(&f.from),
            esc(&f.to),
            f.two_way,
            esc(&format!("{} {} {}: {}", f.from, if f.two_way { "↔" } else { "→" }, f.to, f.text())),
            r.d(),
        );
    }
    for (part, p) in d.parts.iter().zip(&l.parts) {
        let (fill, stroke, rx) = match part.kind {
            PartKind::Population => ("#e8f1fb", "#3b6ea5", 14.0),
            PartKind::Contract => ("#fdf3e1", "#b7791f", 3.0),
            PartKind::Account => ("#eef7ee", "#2f855a", 8.0),
        };
        let kind = match part.kind {
            PartKind::Population => "population",
            PartKind::Contract => "contract",
            PartKind::Account => "account",
        };
        let _ = write!(
            out,
            r##"<g class="part" data-part="{}" data-kind="{kind}"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="1.3"/>"##,
            esc(&part.name),
            p.x,
            p.y,
            p.w,
            p.h
        );
        for (k, line) in part.lines().iter().enumerate() {
            let weight = if k == 0 { r#" font-weight="bold""# } else { "" };
            let colour = if k == 1 { "#666" } else { "#222" };
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" fill="{colour}"{weight}>{}</text>"#,
                p.x + PAD,
                p.y + PAD + LINE_H * (k as f64 + 1.0) - 4.0,
                esc(line)
            );
        }
        out.push_str("</g>");
    }
    // Labels last, on top of the paths through them.
    for (f, drawn) in d.flows.iter().zip(&l.flows) {
        let Some(drawn) = drawn else { continue };
        let r = drawn.label;
        let (colour, _, _) = look(f.kind);
        let _ = write!(
            out,
            r##"<g class="flow-label"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="3" fill="#ffffff" fill-opacity="0.92" stroke="{colour}" stroke-opacity="0.35"/><text x="{:.1}" y="{:.1}" text-anchor="middle" dominant-baseline="central" font-size="{LABEL_FONT}" fill="#333">{}</text></g>"##,
            r.x,
            r.y,
            r.w,
            r.h,
            r.x + r.w / 2.0,
            r.y + r.h / 2.0,
            esc(&f.text())
        );
    }
    let _ = write!(
        out,
        r##"<text class="legend" x="{MARGIN}" y="{:.0}" font-size="11" fill="#666">{LEGEND}</text>"##,
        height - 12.0
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::diagram::{Flow, Part};

    fn part(name: &str, kind: PartKind) -> Part {
        Part { name: name.into(), kind, detail: "x".into(), stocks: Vec::new() }
    }

    fn flow(from: &str, to: &str, label: &str, two_way: bool) -> Flow {
        let (from, to, label) = (from.into(), to.into(), label.into());
        Flow { from, to, label, kind: FlowKind::Acts, assets: vec!["DAI".into()], two_way }
    }

    /// A cycle, parallel flows both ways and a part with no flow: every
    /// flow drawn from its payer's box to its payee's, labels and boxes
    /// apart.
    #[test]
    fn cycles_and_parallel_flows_keep_labels_apart() {
        let d = Diagram {
            name: "t".into(),
            assets: vec!["DAI".into()],
            parts: vec![
                part("p", PartKind::Population),
                part("a", PartKind::Contract),
                part("b", PartKind::Contract),
                part("alone", PartKind::Account),
            ],
            flows: vec![
                flow("p", "a", "in", false),
                flow("a", "p", "out", false),
                flow("p", "a", "trade", true),
                flow("a", "b", "fee", false),
                flow("b", "p", "rewards", false),
            ],
        };
        let l = layout(&d);
        let mut boxes: Vec<Rect> = l.parts.clone();
        for (f, drawn) in d.flows.iter().zip(&l.flows) {
            let drawn = drawn.as_ref().expect("drawn");
            let (start, end) = drawn.route.ends().unwrap();
            let at = |name: &str| l.parts[d.parts.iter().position(|p| p.name == name).unwrap()];
            let (a, b) = (at(&f.from), at(&f.to));
            let on = |r: Rect, p: (f64, f64)| {
                p.0 >= r.x - 0.5 && p.0 <= r.x + r.w + 0.5 && p.1 >= r.y && p.1 <= r.y + r.h
            };
            assert!(on(a, start) && on(b, end), "{} -> {}: {start:?} {end:?}", f.from, f.to);
            assert_eq!((drawn.route.head_start, drawn.route.head_end), (f.two_way, true));
            boxes.push(drawn.label);
        }
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
            }
        }
        // Same diagram, same bytes.
        assert_eq!(svg(&d), svg(&d));
    }

    #[test]
    fn an_empty_diagram_is_just_the_legend() {
        let l = layout(&Diagram::default());
        assert!(l.parts.is_empty() && l.flows.is_empty());
        assert!(svg(&Diagram::default()).contains(LEGEND));
    }
}
