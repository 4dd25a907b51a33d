//! Times of observed rows: parsing with a strftime format (chrono), and
//! laying rows on a regular grid, one row a tick.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta};

/// How times are shown in messages and reports, whatever the file's format.
pub const DISPLAY: &str = "%Y-%m-%d %H:%M:%S";

/// Shows a time in [`DISPLAY`] form.
pub fn show(t: NaiveDateTime) -> String {
    t.format(DISPLAY).to_string()
}

/// Parses `text` with the strftime `format`: a full date and time, a time
/// with an offset (converted to UTC), or a date alone (midnight).
///
/// ```
/// use tokensim::observed::time::{parse, show};
/// let t = parse("2022-01-01 00:00:00 UTC", "%Y-%m-%d %H:%M:%S UTC").unwrap();
/// assert_eq!(show(t), "2022-01-01 00:00:00");
/// assert_eq!(show(parse("2022-03-04", "%Y-%m-%d").unwrap()), "2022-03-04 00:00:00");
/// assert!(parse("yesterday", "%Y-%m-%d").is_err());
/// ```
pub fn parse(text: &str, format: &str) -> Result<NaiveDateTime, String> {
    if let Ok(t) = DateTime::parse_from_str(text, format) {
        return Ok(t.naive_utc());
    }
    let first = match NaiveDateTime::parse_from_str(text, format) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    if let Ok(d) = NaiveDate::parse_from_str(text, format) {
        return Ok(d.and_time(chrono::NaiveTime::MIN));
    }
    Err(format!("`{text}` does not match the format `{format}` ({first})"))
}

/// Parses a window bound (`start`, `end`): in the column's `format`, or as
/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS`.
pub fn parse_bound(text: &str, format: &str) -> Result<NaiveDateTime, String> {
    for f in [format, "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = parse(text, f) {
            return Ok(t);
        }
    }
    Err(format!("`{text}` is neither in the time column's format `{format}` nor YYYY-MM-DD[ HH:MM:SS]"))
}

/// Why rows could not be laid on a grid; each names the place of the
/// offending row or the missing time.
#[derive(Debug, Clone, PartialEq)]
pub enum GridError {
    /// A row's time is not after the row before it.
    Order {
        /// Index of the row.
        row: usize,
    },
    /// The window starts before the first row or ends after the last.
    Outside {
        /// `true` for `start`, `false` for `end`.
        start: bool,
        /// What is wrong.
        message: String,
    },
    /// A time of the grid has no row (and `fill` is off), or cannot be
    /// filled because no row comes before it.
    Gap {
        /// The first missing time.
        time: NaiveDateTime,
        /// Whether `fill = "previous"` could fix it.
        fillable: bool,
    },
    /// A row lies between two grid times.
    OffGrid {
        /// Index of the row.
        row: usize,
        /// The grid step.
        step: TimeDelta,
    },
    /// Fewer than two rows: no step to infer.
    TooFew,
    /// The window holds more grid times than a run could have ticks.
    TooFine {
        /// Grid times the window would hold.
        points: i64,
        /// The grid step.
        step: TimeDelta,
    },
}

/// Most grid times (ticks) a window may hold.
pub const MAX_POINTS: i64 = 10_000_000;

/// Rows laid on the grid `start, start + step, …, end`: for each grid time,
/// the index of the row whose value it takes (a filled time takes the row
/// before it), and whether it was filled.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Grid times, one a tick.
    pub times: Vec<NaiveDateTime>,
    /// Row index each grid time takes its values from.
    pub rows: Vec<usize>,
    /// Grid times that had no row and took the previous row's values.
    pub filled: usize,
    /// The step: the most common distance between consecutive rows.
    pub step: TimeDelta,
}

/// Lays rows with times `times` (file order) on a regular grid between
/// `start` and `end` (default: the first and last row). The step is the
/// most common distance between consecutive rows of the whole file
/// ([`step`]); rows must be in strictly increasing time order. With `fill`, a grid time without
/// a row takes the last row before it; otherwise it is a [`GridError::Gap`].
pub fn grid(
    times: &[NaiveDateTime],
    start: Option<NaiveDateTime>,
    end: Option<NaiveDateTime>,
    fill: bool,
) -> Result<Grid, GridError> {
    if times.len() < 2 {
        return Err(GridError::TooFew);
    }
    for row in 1..times.len() {
        if times[row] <= times[row - 1] {
            return Err(GridError::Order { row });
        }
    }
    let step = step(times);
    let (first, last) = (times[0], times[times.len() - 1]);
    let covers = format!("the file covers {} to {}", show(first), show(last));
    let start = start.unwrap_or(first);
    let end = end.unwrap_or(last);
    if start < first || start > last {
        return Err(GridError::Outside {
            start: true,
            message: format!("{} is outside the file: {covers}", show(start)),
        });
    }
    if end > last || end < first {
        return Err(GridError::Outside {
            start: false,
            message: format!("{} is outside the file: {covers}", show(end)),
        });
    }
    if end < start {
        return Err(GridError::Outside {
            start: false,
            message: format!("{} is before the window's start {}", show(end), show(start)),
        });
    }
    let points = (end - start).num_milliseconds() / step.num_milliseconds().max(1) + 1;
    if points > MAX_POINTS {
        return Err(GridError::TooFine { points, step });
    }
    let mut next = times.partition_point(|&t| t < start);
    let mut out = Grid { times: Vec::new(), rows: Vec::new(), filled: 0, step };
    let mut t = start;
    while t <= end {
        if next < times.len() && times[next] < t {
            return Err(GridError::OffGrid { row: next, step });
        }
        if next < times.len() && times[next] == t {
            out.rows.push(next);
            next += 1;
        } else if fill && next > 0 {
            out.rows.push(next - 1);
            out.filled += 1;
        } else {
            return Err(GridError::Gap { time: t, fillable: next > 0 });
        }
        out.times.push(t);
        t += step;
    }
    if next < times.len() && times[next] <= end {
        return Err(GridError::OffGrid { row: next, step });
    }
    Ok(out)
}

/// The most common distance between consecutive rows (the smallest of
/// equally common ones): the grid step, robust to a few irregular rows.
pub fn step(times: &[NaiveDateTime]) -> TimeDelta {
    let mut diffs: Vec<TimeDelta> = times.windows(2).map(|w| w[1] - w[0]).collect();
    diffs.sort();
    let mut best = (0usize, TimeDelta::zero());
    let mut i = 0;
    while i < diffs.len() {
        let j = diffs[i..].iter().position(|d| *d != diffs[i]).map_or(diffs.len(), |k| i + k);
        if j - i > best.0 {
            best = (j - i, diffs[i]);
        }
        i = j;
    }
    best.1
}

/// A step in words: `1 day`, `6 hours`, `90 seconds`.
pub fn show_step(step: TimeDelta) -> String {
    let s = step.num_seconds();
    let (n, unit) = if s % 86_400 == 0 {
        (s / 86_400, "day")
    } else if s % 3_600 == 0 {
        (s / 3_600, "hour")
    } else if s % 60 == 0 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2022, 1, d).unwrap().and_time(chrono::NaiveTime::MIN)
    }

    #[test]
    fn a_regular_series_maps_row_to_tick() {
        let times: Vec<_> = (1..=5).map(day).collect();
        let g = grid(&times, Some(day(2)), Some(day(4)), false).unwrap();
        assert_eq!(g.rows, vec![1, 2, 3]);
        assert_eq!(g.times, vec![day(2), day(3), day(4)]);
        assert_eq!(g.step, TimeDelta::days(1));
    }

    #[test]
    fn a_gap_names_the_first_missing_time_unless_filled() {
        let times = vec![day(1), day(2), day(4), day(6), day(7)];
        assert_eq!(grid(&times, None, None, false), Err(GridError::Gap { time: day(3), fillable: true }));
        let g = grid(&times, None, None, true).unwrap();
        assert_eq!(g.rows, vec![0, 1, 1, 2, 2, 3, 4]);
        assert_eq!(g.filled, 2);
        // A window starting on a missing time fills from the row before it.
        let g = grid(&times, Some(day(3)), Some(day(4)), true).unwrap();
        assert_eq!(g.rows, vec![1, 2]);
    }

    #[test]
    fn bad_order_window_and_grid_are_errors() {
        let times = vec![day(1), day(3), day(2)];
        assert_eq!(grid(&times, None, None, false), Err(GridError::Order { row: 2 }));
        let times: Vec<_> = (1..=5).map(day).collect();
        assert!(matches!(
            grid(&times, Some(day(6)), None, false),
            Err(GridError::Outside { start: true, .. })
        ));
        assert!(matches!(
            grid(&times, None, Some(day(9)), false),
            Err(GridError::Outside { start: false, .. })
        ));
        assert!(matches!(grid(&times, Some(day(4)), Some(day(2)), false), Err(GridError::Outside { .. })));
        let half = day(2) + TimeDelta::hours(12);
        let mut odd = vec![day(1), day(2), half, day(3)];
        odd.sort();
        // Step is 12 h: day 1 12:00 is missing.
        assert!(matches!(grid(&odd, None, None, false), Err(GridError::Gap { .. })));
        assert_eq!(grid(&times[..1], None, None, false), Err(GridError::TooFew));
        let shifted = vec![day(1), day(2), day(3) + TimeDelta::hours(1), day(5)];
        assert!(matches!(grid(&shifted, None, None, true), Err(GridError::OffGrid { row: 2, .. })));
    }

    #[test]
    fn formats_parse_dates_and_offsets() {
        let t = parse("2022-01-01T05:00:00+02:00", "%Y-%m-%dT%H:%M:%S%:z").unwrap();
        assert_eq!(show(t), "2022-01-01 03:00:00");
        assert_eq!(parse_bound("2022-01-01", "%d/%m/%Y").unwrap(), day(1));
        assert!(parse_bound("01/13/2022", "%d/%m/%Y").is_err());
        assert_eq!(show_step(TimeDelta::days(1)), "1 day");
        assert_eq!(show_step(TimeDelta::hours(6)), "6 hours");
    }
}
