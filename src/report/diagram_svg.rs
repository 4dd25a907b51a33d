//! The diagram as SVG, with a simple layered layout drawn by hand:
//! populations in the first column, then contracts and accounts, each one
//! column to the right of every contract that references it (longest path,
//! capped so cycles terminate); within a column, parts are ordered by the
//! mean row of their neighbours in earlier columns.

use std::fmt::Write;

use super::diagram::{Diagram, FlowKind, PartKind};
use super::graph::part_lines;
use super::html::esc;

const CHAR_W: f64 = 7.3;
const LINE_H: f64 = 15.0;
const PAD: f64 = 8.0;
const COL_GAP: f64 = 120.0;
const LABEL_W: f64 = 6.4;
const ROW_GAP: f64 = 28.0;
const MARGIN: f64 = 16.0;

/// Where a part is drawn.
#[derive(Clone, Copy, Debug)]
struct Placed {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    layer: usize,
}

/// Each part's column.
fn layers(d: &Diagram) -> Vec<usize> {
    let n = d.parts.len();
    let index = |name: &str| d.parts.iter().position(|p| p.name == name);
    let mut layer: Vec<usize> =
        d.parts.iter().map(|p| if p.kind == PartKind::Population { 0 } else { 1 }).collect();
    // Longest path over references, at most n rounds (cycles stop there).
    for _ in 0..n {
        let mut changed = false;
        for f in d.flows.iter().filter(|f| f.kind == FlowKind::Reference) {
            if let (Some(a), Some(b)) = (index(&f.from), index(&f.to))
                && a != b
                && layer[b] < layer[a] + 1
                && layer[a] < n
            {
                layer[b] = layer[a] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    layer
}

fn place(d: &Diagram) -> Vec<Placed> {
    let layer = layers(d);
    let n_layers = layer.iter().copied().max().map_or(0, |m| m + 1);
    let sizes: Vec<(f64, f64)> = d
        .parts
        .iter()
        .map(|p| {
            let lines = part_lines(p);
            let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
            ((longest * CHAR_W + 2.0 * PAD).max(110.0), lines.len() as f64 * LINE_H + 2.0 * PAD)
        })
        .collect();
    // Order within each column: barycentre of neighbours already placed.
    let mut rows: Vec<f64> = vec![0.0; d.parts.len()];
    let mut columns: Vec<Vec<usize>> = Vec::with_capacity(n_layers);
    for l in 0..n_layers {
        let mut members: Vec<usize> = (0..d.parts.len()).filter(|&i| layer[i] == l).collect();
        let key = |i: usize| -> f64 {
            let neighbours: Vec<f64> = d
                .flows
                .iter()
                .filter_map(|f| {
                    let other = if f.to == d.parts[i].name {
                        &f.from
                    } else if f.from == d.parts[i].name {
                        &f.to
                    } else {
                        return None;
                    };
                    let j = d.parts.iter().position(|p| &p.name == other)?;
                    (layer[j] < l).then_some(rows[j])
                })
                .collect();
            if neighbours.is_empty() {
                i as f64
            } else {
                neighbours.iter().sum::<f64>() / neighbours.len() as f64
            }
        };
        let mut keyed: Vec<(f64, usize)> = members.iter().map(|&i| (key(i), i)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        members = keyed.into_iter().map(|(_, i)| i).collect();
        for (r, &i) in members.iter().enumerate() {
            rows[i] = r as f64;
        }
        columns.push(members);
    }
    let col_w: Vec<f64> = columns.iter().map(|c| c.iter().map(|&i| sizes[i].0).fold(0.0, f64::max)).collect();
    let col_h: Vec<f64> = columns
        .iter()
        .map(|c| c.iter().map(|&i| sizes[i].1).sum::<f64>() + ROW_GAP * c.len().saturating_sub(1) as f64)
        .collect();
    let total_h = col_h.iter().copied().fold(0.0, f64::max);
    let mut placed = vec![Placed { x: 0.0, y: 0.0, w: 0.0, h: 0.0, layer: 0 }; d.parts.len()];
    // Each gap fits the widest label of the flows leaving that column.
    let gaps: Vec<f64> = (0..n_layers)
        .map(|l| {
            d.flows
                .iter()
                .filter(|f| d.parts.iter().position(|p| p.name == f.from).is_some_and(|i| layer[i] == l))
                .map(|f| f.text().chars().count() as f64 * LABEL_W + 60.0)
                .fold(COL_GAP, f64::max)
        })
        .collect();
    let mut x = MARGIN;
    for (l, members) in columns.iter().enumerate() {
        let mut y = MARGIN + (total_h - col_h[l]) / 2.0;
        for &i in members {
            let (w, h) = sizes[i];
            placed[i] = Placed { x: x + (col_w[l] - w) / 2.0, y, w, h, layer: l };
            y += h + ROW_GAP;
        }
        x += col_w[l] + gaps[l];
    }
    placed
}

/// The diagram as a standalone SVG element (`class="diagram"`): one
/// `<g class="part">` per part and one `<g class="flow">` per flow.
pub fn svg(d: &Diagram) -> String {
    let placed = place(d);
    let width = placed.iter().map(|p| p.x + p.w).fold(0.0, f64::max) + MARGIN;
    let height = placed.iter().map(|p| p.y + p.h).fold(0.0, f64::max) + MARGIN + 30.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg class="diagram" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="12" role="img" aria-label="stock-and-flow diagram">"##
    );
    out.push_str(
        r##"<defs><marker id="ts-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>"##,
    );
    let index = |name: &str| d.parts.iter().position(|p| p.name == name);
    // Paths first, labels after (on top), each label nudged down until it
    // overlaps no earlier one.
    let mut labels = String::new();
    let mut taken: Vec<(f64, f64, f64, f64)> = Vec::new();
    for f in &d.flows {
        let (Some(a), Some(b)) = (index(&f.from), index(&f.to)) else { continue };
        let (pa, pb) = (placed[a], placed[b]);
        let text = f.text();
        let tw = text.chars().count() as f64 * LABEL_W + 8.0;
        let forward = pb.layer > pa.layer;
        let (p0, p3, c1, c2) = if forward {
            let (p0, p3) = ((pa.x + pa.w, pa.y + pa.h / 2.0), (pb.x, pb.y + pb.h / 2.0));
            let dx = (p3.0 - p0.0) / 2.0;
            (p0, p3, (p0.0 + dx, p0.1), (p3.0 - dx, p3.1))
        } else {
            // Same or earlier column: leave from the bottom, arrive at the bottom.
            let (p0, p3) = ((pa.x + pa.w / 2.0, pa.y + pa.h), (pb.x + pb.w / 2.0, pb.y + pb.h));
            let low = p0.1.max(p3.1) + 40.0;
            (p0, p3, (p0.0, low), (p3.0, low))
        };
        let at = |t: f64| {
            let u = 1.0 - t;
            let w = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
            (
                w[0] * p0.0 + w[1] * c1.0 + w[2] * c2.0 + w[3] * p3.0,
                w[0] * p0.1 + w[1] * c1.1 + w[2] * c2.1 + w[3] * p3.1,
            )
        };
        // Forward: the label sits in the gap just right of its source
        // (gaps are sized for it), on the curve; otherwise mid-curve.
        let (mx, mut my) = if forward {
            let want = p0.0 + 12.0 + tw / 2.0;
            let (mut lo, mut hi) = (0.0, 1.0);
            for _ in 0..40 {
                let mid = (lo + hi) / 2.0;
                if at(mid).0 < want { lo = mid } else { hi = mid }
            }
            (want, at(lo).1 + 4.0)
        } else {
            at(0.5)
        };
        let overlaps = |y: f64, taken: &[(f64, f64, f64, f64)]| {
            taken.iter().any(|&(x, y2, w, h)| {
                mx - tw / 2.0 < x + w && x < mx + tw / 2.0 && y - 11.0 < y2 + h && y2 < y + 4.0
            })
        };
        for _ in 0..50 {
            if !overlaps(my, &taken) {
                break;
            }
            my += 8.0;
        }
        taken.push((mx - tw / 2.0, my - 11.0, tw, 15.0));
        let dash = if f.kind == FlowKind::Reference { r#" stroke-dasharray="5,4""# } else { "" };
        let _ = write!(
            out,
            r##"<g class="flow" data-from="{}" data-to="{}" data-kind="{}"><title>{}</title><path d="M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="none" stroke="#555" stroke-width="1.4"{dash} marker-end="url(#ts-arrow)"/></g>"##,
            esc(&f.from),
            esc(&f.to),
            if f.kind == FlowKind::Acts { "acts" } else { "reference" },
            esc(&format!("{} → {}: {text}", f.from, f.to)),
            p0.0,
            p0.1,
            c1.0,
            c1.1,
            c2.0,
            c2.1,
            p3.0,
            p3.1,
        );
        let _ = write!(
            labels,
            r##"<g class="flow-label"><rect x="{:.1}" y="{:.1}" width="{tw:.1}" height="15" rx="3" fill="#ffffff" fill-opacity="0.92"/><text x="{mx:.1}" y="{my:.1}" text-anchor="middle" font-size="11" fill="#333">{}</text></g>"##,
            mx - tw / 2.0,
            my - 11.0,
            esc(&text)
        );
    }
    for (part, p) in d.parts.iter().zip(&placed) {
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
        for (k, line) in part_lines(part).iter().enumerate() {
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
    out.push_str(&labels);
    let _ = write!(
        out,
        r##"<text x="{MARGIN}" y="{:.0}" font-size="11" fill="#666">solid: behaviour → contract · dashed: contract pays or reads · boxes list stocks (genesis amounts)</text>"##,
        height - 10.0
    );
    out.push_str("</svg>");
    out
}
