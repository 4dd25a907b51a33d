//! One metric's charts: its trajectories (one panel per variant, lines
//! coloured by an ordered scale of the swept value, faceted by a swept
//! value when a variant has more lines than fit), its final value (or
//! `--tick T`) against the swept parameter, and the A/B deltas. Each chart
//! sits in a container with `data-chart` (`trajectory`, `by-parameter`,
//! `delta`) and `data-metric`, for tests and users.

use std::fmt::Write;

use super::aggregate::{Group, MetricSummary, value_text};
use super::chart::{self, Chart, Line, padded};
use super::markup::{colour, esc};
use super::sweep::{AtTick, Layout};
use super::sweep_chart::{self, Drawn, SweepChart};
use crate::error::Error;

/// What the charts of every metric share.
pub struct Context<'a> {
    /// Groups in order.
    pub groups: &'a [Group],
    /// The sweep's x axis and facets.
    pub layout: &'a Layout,
    /// Lines per panel at most.
    pub max_lines: usize,
    /// Every-k-th thinning of trajectories.
    pub stride: usize,
    /// The tick the by-parameter and delta charts compare.
    pub tick: String,
}

/// A trajectory panel: its caption and its groups (indices), in order.
pub struct Panel {
    /// Caption (empty with one panel).
    pub caption: String,
    /// Group indices.
    pub members: Vec<usize>,
}

/// Trajectory panels: without a sweep one panel of every variant; with a
/// sweep one panel per variant, split by the other swept values (the
/// facets of a grid, so that a colour names one x value), and into runs of
/// the x value when a panel would have more than `max_lines` lines.
pub fn panels(groups: &[Group], layout: &Layout, max_lines: usize) -> Vec<Panel> {
    let all: Vec<usize> = (0..groups.len()).collect();
    let Some((_, x_name)) = &layout.x_param else {
        return all
            .chunks(max_lines.max(1))
            .map(|m| Panel { caption: String::new(), members: m.to_vec() })
            .collect();
    };
    let facet =
        |g: usize| layout.facets.iter().position(|f| f.points.contains(&groups[g].point_id)).unwrap_or(0);
    let mut out = Vec::new();
    for v in &layout.variants {
        let mut members: Vec<usize> = all.iter().copied().filter(|&g| groups[g].variant == *v).collect();
        members.sort_by(|&a, &b| {
            let (pa, pb) = (groups[a].point_id, groups[b].point_id);
            facet(a).cmp(&facet(b)).then(layout.x[&pa].total_cmp(&layout.x[&pb])).then(pa.cmp(&pb))
        });
        let name = |rest: &str| match (v.is_empty(), rest.is_empty()) {
            (true, _) => rest.to_string(),
            (false, true) => v.clone(),
            (false, false) => format!("{v} · {rest}"),
        };
        let fits = layout.facets.iter().all(|f| {
            members.iter().filter(|&&g| f.points.contains(&groups[g].point_id)).count() <= max_lines
        });
        if layout.facets.len() > 1 && fits {
            for f in &layout.facets {
                let m: Vec<usize> =
                    members.iter().copied().filter(|&g| f.points.contains(&groups[g].point_id)).collect();
                out.push(Panel { caption: name(&f.label), members: m });
            }
        } else if members.len() <= max_lines {
            out.push(Panel { caption: name(""), members });
        } else {
            for chunk in members.chunks(max_lines.max(1)) {
                let (a, b) = (chunk[0], chunk[chunk.len() - 1]);
                let range = format!(
                    "{x_name} {}–{}",
                    layout.x_text(groups[a].point_id),
                    layout.x_text(groups[b].point_id)
                );
                out.push(Panel { caption: name(&range), members: chunk.to_vec() });
            }
        }
    }
    if out.len() == 1 && layout.variants.len() == 1 {
        out[0].caption.clear();
    }
    out
}

/// An ordered colour scale (viridis, from dark blue to yellow-green; the
/// palest end left out so lines stay visible on white) at `t` in `0..=1`.
pub fn ordered_colour(t: f64) -> String {
    const STOPS: [(f64, f64, f64); 6] = [
        (68.0, 1.0, 84.0),
        (65.0, 68.0, 135.0),
        (42.0, 120.0, 142.0),
        (34.0, 168.0, 132.0),
        (122.0, 209.0, 81.0),
        (189.0, 223.0, 38.0),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The label of a group in a panel of its variant: its swept values.
fn swept_label(g: &Group) -> String {
    if g.params.is_empty() {
        return if g.variant.is_empty() { "all runs".into() } else { g.variant.clone() };
    }
    let short = super::aggregate::short_names(&g.params.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>());
    g.params
        .iter()
        .zip(short)
        .map(|((_, v), s)| format!("{s}={}", value_text(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `<ul class="legend">` of `(data-key, label, colour)` entries; clicking
/// one hides its series (the page's script).
pub fn legend(h: &mut String, entries: &[(String, String, String)]) {
    h.push_str("<ul class=\"legend\">");
    for (key, label, c) in entries {
        let _ = write!(
            h,
            "<li data-key=\"{}\" title=\"click to hide or show\"><span class=\"swatch\" style=\"background:{c}\"></span>{}</li>",
            esc(key),
            esc(label)
        );
    }
    h.push_str("</ul>");
}

/// The finite range of a metric's bands and medians.
fn y_range(metric: &MetricSummary) -> (f64, f64) {
    let values = || metric.series.iter().flat_map(|s| s.p5.iter().chain(&s.p95).chain(&s.median)).copied();
    let lo = values().filter(|v| v.is_finite()).fold(f64::INFINITY, f64::min);
    let hi = values().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    padded(lo, hi)
}

/// The section of one metric: trajectories, by-parameter, deltas.
pub fn section(
    h: &mut String,
    c: &Context<'_>,
    metric: &MetricSummary,
    at: &AtTick,
    title: &str,
) -> Result<(), Error> {
    let name = &metric.name;
    let _ = write!(h, "<section class=\"metric\" data-metric=\"{}\"><h3>{}</h3>", esc(name), esc(title));
    // Trajectories.
    let panels = panels(c.groups, c.layout, c.max_lines);
    let t_lo = metric.series.iter().filter_map(|s| s.ticks.first()).min().copied().unwrap_or(0);
    let t_hi = metric.series.iter().filter_map(|s| s.ticks.last()).max().copied().unwrap_or(1);
    let x = (f64::from(t_lo), f64::from(t_hi.max(t_lo + 1)));
    let y = y_range(metric);
    let single = panels.len() == 1;
    h.push_str("<div class=\"panels\">");
    for (k, panel) in panels.iter().enumerate() {
        let entries: Vec<(String, String, String)> = panel
            .members
            .iter()
            .enumerate()
            .map(|(i, &g)| {
                let grp = &c.groups[g];
                let col = match c.layout.x_param {
                    Some(_) => ordered_colour(c.layout.x_rank(grp.point_id)),
                    None => colour(i, panel.members.len()),
                };
                (grp.id.clone(), swept_label(grp), col)
            })
            .collect();
        let lines = panel
            .members
            .iter()
            .zip(&entries)
            .map(|(&g, (key, label, col))| Line { group: key, label, colour: col, series: &metric.series[g] })
            .collect();
        let svg = chart::draw(&Chart {
            caption: &panel.caption,
            x_desc: "tick",
            y_desc: title,
            size: if single { (1000, 420) } else { (580, 320) },
            x,
            y,
            lines,
            stride: c.stride,
        })?;
        let class = if single { "panel" } else { "panel small" };
        let _ = write!(
            h,
            "<div class=\"{class}\" data-chart=\"trajectory\" data-metric=\"{}\" data-panel=\"{k}\">{svg}",
            esc(name)
        );
        legend(h, &entries);
        h.push_str("</div>");
    }
    h.push_str("</div>");
    // Against the swept parameter, and the deltas.
    let variant_colour = |key: &str| {
        colour(c.layout.variants.iter().position(|v| v == key).unwrap_or(0), c.layout.variants.len())
    };
    let variant_label = |key: &str| if key.is_empty() { "all runs".to_string() } else { key.to_string() };
    let kinds: [(&str, &[super::sweep::PointSeries], bool); 2] = [
        ("by-parameter", &at.by_parameter, c.layout.x_param.is_some()),
        ("delta", &at.delta, !at.delta.is_empty()),
    ];
    let x_name = c.layout.x_param.as_ref().map_or(String::new(), |(_, s)| s.clone());
    let first = c.layout.variants.first().cloned().unwrap_or_default();
    let mut opened = false;
    for (kind, all, shown) in kinds {
        if !shown {
            continue;
        }
        if !opened {
            h.push_str("<div class=\"panels\">");
            opened = true;
        }
        for (f, facet) in c.layout.facets.iter().enumerate() {
            let series: Vec<&super::sweep::PointSeries> = all.iter().filter(|s| s.facet == f).collect();
            let labels: Vec<String> = series.iter().map(|s| variant_label(&s.key)).collect();
            let colours: Vec<String> = series.iter().map(|s| variant_colour(&s.key)).collect();
            let lines = series
                .iter()
                .zip(labels.iter().zip(&colours))
                .map(|(s, (label, colour))| Drawn { series: s, label, colour })
                .collect();
            let what = if kind == "delta" {
                format!("{name} − {first}, paired by replicate, {}", c.tick)
            } else {
                format!("{name} {}", c.tick)
            };
            let against = if x_name.is_empty() { String::new() } else { format!(" by {x_name}") };
            let facet_label =
                if facet.label.is_empty() { String::new() } else { format!(" · {}", facet.label) };
            let caption = format!("{what}{against}{facet_label}");
            let y_desc = if kind == "delta" { format!("Δ {title}") } else { title.to_string() };
            let id = format!("{kind}/{name}/{f}");
            let svg = sweep_chart::draw(&SweepChart {
                caption: &caption,
                y_desc: &y_desc,
                size: (580, 320),
                layout: c.layout,
                lines,
                zero: kind == "delta",
                id: &id,
            })?;
            let _ = write!(
                h,
                "<div class=\"panel small\" data-chart=\"{kind}\" data-metric=\"{}\" data-facet=\"{f}\">{svg}",
                esc(name)
            );
            let entries: Vec<(String, String, String)> = series
                .iter()
                .zip(labels.into_iter().zip(colours))
                .map(|(s, (l, col))| (s.key.clone(), l, col))
                .collect();
            legend(h, &entries);
            h.push_str("</div>");
        }
    }
    if opened {
        h.push_str("</div>");
    }
    h.push_str("</section>");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ordered_scale_runs_from_dark_to_light() {
        assert_eq!(ordered_colour(0.0), "#440154");
        assert_eq!(ordered_colour(1.0), "#bddf26");
        let lum = |c: &str| {
            let v = |i: usize| f64::from(u8::from_str_radix(&c[i..i + 2], 16).unwrap());
            0.2126 * v(1) + 0.7152 * v(3) + 0.0722 * v(5)
        };
        let l: Vec<f64> = (0..=10).map(|i| lum(&ordered_colour(f64::from(i) / 10.0))).collect();
        assert!(l.windows(2).all(|w| w[1] > w[0]), "{l:?}");
    }
}
