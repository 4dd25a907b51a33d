//! Temporal forms: how a property's per-tick margins become one verdict
//! per run. `always` takes the least margin over its window, `eventually`
//! the greatest, `at_end` the margin at the window's last tick; so the
//! property held exactly when the run's margin is `>= 0`.

use super::program::Margin;

/// When a condition must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// At every tick of the window.
    Always,
    /// At some tick of the window.
    Eventually,
    /// At the window's last tick (the run's last tick by default).
    AtEnd,
}

impl Form {
    /// The scenario keys, in the order of [`Form::ALL`].
    pub const KEYS: [&'static str; 3] = ["always", "eventually", "at_end"];
    /// Every form.
    pub const ALL: [Form; 3] = [Form::Always, Form::Eventually, Form::AtEnd];
}

/// A property's result for one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The property's name.
    pub property: String,
    /// Whether it held (`margin >= 0`).
    pub held: bool,
    /// How far it held (positive) or failed (negative), in the
    /// expression's units; `±inf` where a value was unbounded or undefined.
    pub margin: f64,
    /// For a failure: the first tick at which it failed (`always`), the
    /// window's last tick (`eventually`, `at_end`).
    pub first_failure_tick: Option<u32>,
    /// The left-hand side of the deciding comparison at that tick.
    pub value_at_failure: Option<f64>,
}

/// Follows one property through a run, tick by tick, in constant memory.
#[derive(Clone, Debug)]
pub struct Tracker {
    form: Form,
    first: u32,
    last: u32,
    /// Least (always) or greatest (eventually) margin so far, or the
    /// latest (at_end).
    margin: Option<f64>,
    failure: Option<(u32, f64)>,
    latest: Option<(u32, Margin)>,
}

impl Tracker {
    /// A tracker for `form` over ticks `first..=last`.
    pub fn new(form: Form, first: u32, last: u32) -> Self {
        Tracker { form, first, last, margin: None, failure: None, latest: None }
    }

    /// Takes the margin of tick `tick`; ticks outside the window are ignored.
    pub fn observe(&mut self, tick: u32, m: Margin) {
        if tick < self.first || tick > self.last {
            return;
        }
        self.latest = Some((tick, m));
        self.margin = Some(match (self.form, self.margin) {
            (Form::Always, Some(best)) => best.min(m.margin),
            (Form::Eventually, Some(best)) => best.max(m.margin),
            _ => m.margin,
        });
        if self.form == Form::Always && m.margin < 0.0 && self.failure.is_none() {
            self.failure = Some((tick, m.lhs));
        }
    }

    /// The verdict over the ticks observed so far (a window not reached
    /// yet has failed: nothing showed it held).
    pub fn verdict(&self, property: &str) -> Verdict {
        let margin = self.margin.unwrap_or(f64::NEG_INFINITY);
        let held = margin >= 0.0;
        let failure = match (held, self.form) {
            (true, _) => None,
            (false, Form::Always) => self.failure,
            (false, _) => self.latest.map(|(t, m)| (t, m.lhs)),
        };
        Verdict {
            property: property.to_string(),
            held,
            margin,
            first_failure_tick: failure.map(|f| f.0),
            value_at_failure: failure.map(|f| f.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(form: Form, first: u32, last: u32, margins: &[(f64, f64)]) -> Verdict {
        let mut t = Tracker::new(form, first, last);
        for (i, &(margin, lhs)) in margins.iter().enumerate() {
            t.observe(i as u32 + 1, Margin { margin, lhs });
        }
        t.verdict("p")
    }

    const M: [(f64, f64); 5] = [(2.0, 12.0), (-1.0, 9.0), (3.0, 13.0), (-4.0, 6.0), (1.0, 11.0)];

    #[test]
    fn always_takes_the_least_margin_and_the_first_failure() {
        let v = run(Form::Always, 1, 5, &M);
        assert_eq!(
            (v.held, v.margin, v.first_failure_tick, v.value_at_failure),
            (false, -4.0, Some(2), Some(9.0))
        );
        let v = run(Form::Always, 3, 3, &M);
        assert_eq!((v.held, v.margin, v.first_failure_tick), (true, 3.0, None));
        let v = run(Form::Always, 4, 5, &M);
        assert_eq!((v.margin, v.first_failure_tick, v.value_at_failure), (-4.0, Some(4), Some(6.0)));
    }

    #[test]
    fn eventually_takes_the_greatest_margin() {
        let v = run(Form::Eventually, 1, 5, &M);
        assert_eq!((v.held, v.margin, v.first_failure_tick), (true, 3.0, None));
        let v = run(Form::Eventually, 2, 2, &M);
        assert_eq!(
            (v.held, v.margin, v.first_failure_tick, v.value_at_failure),
            (false, -1.0, Some(2), Some(9.0))
        );
        let v = run(Form::Eventually, 4, 4, &M);
        assert_eq!((v.margin, v.first_failure_tick), (-4.0, Some(4)));
    }

    #[test]
    fn at_end_takes_the_windows_last_tick() {
        assert_eq!(run(Form::AtEnd, 1, 5, &M).margin, 1.0);
        let v = run(Form::AtEnd, 1, 4, &M);
        assert_eq!(
            (v.held, v.margin, v.first_failure_tick, v.value_at_failure),
            (false, -4.0, Some(4), Some(6.0))
        );
    }

    #[test]
    fn held_is_margin_non_negative_and_an_unreached_window_fails() {
        for form in Form::ALL {
            for (a, b) in [(1, 5), (2, 3), (5, 5)] {
                let v = run(form, a, b, &M);
                assert_eq!(v.held, v.margin >= 0.0);
            }
            let v = run(form, 9, 10, &M);
            assert!(!v.held && v.margin == f64::NEG_INFINITY);
        }
        assert!(run(Form::Always, 1, 1, &[(0.0, 5.0)]).held);
    }
}
