//! Compiled expressions: names resolved to input indices, types checked,
//! and history functions given their (bounded) state, so that a property
//! is evaluated online, one tick at a time, in memory that does not grow
//! with ticks.
//!
//! A boolean expression evaluates to its **margin** (robustness
//! semantics): `a >= b` → `a − b`, `a <= b` → `b − a`, `a == b` → `−|a − b|`,
//! `and` → min, `or` → max, `not` → minus. It holds where the margin is
//! `>= 0`; strict and non-strict comparisons share a margin, so they differ
//! only on the boundary itself, where both count as holding.
//!
//! History functions see the value of their argument at every tick from
//! the run's first: `start(x)` the first value, `lag(x, n)` the value `n`
//! ticks ago (the first value while fewer than `n` ticks have passed),
//! `peak(x)` / `trough(x)` the running max / min, `drawdown(x)` =
//! `1 − x / peak(x)`, `mean(x, n)` / `sum(x, n)` over the last `n` ticks
//! (fewer at the start of a run), `change(x, n)` = `x / lag(x, n) − 1`.
//!
//! ```
//! use tokensim::properties::program::{Program, Inputs};
//! let names = ["price"];
//! let inputs = Inputs::new(&names);
//! let mut p = Program::compile("price >= 0.8 * start(price)", &inputs, 100).unwrap();
//! assert_eq!(p.step(&[10.0]).margin, 2.0);   // 10 − 0.8·10
//! assert_eq!(p.step(&[7.0]).margin, -1.0);   // 7 − 0.8·10
//! ```

use std::collections::VecDeque;

use super::expr::{ArithOp, CmpOp, Expr, ExprError, parse};

/// The names an expression may use, each mapped to its index in the value
/// slice given to [`Program::step`].
pub struct Inputs<'a> {
    names: Vec<&'a str>,
}

impl<'a> Inputs<'a> {
    /// Inputs named `names`, index = position.
    pub fn new(names: &[&'a str]) -> Self {
        Inputs { names: names.to_vec() }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    fn choices(&self) -> String {
        if self.names.is_empty() { "none".into() } else { self.names.join(", ") }
    }
}

/// Functions of one value.
const SCALAR: [&str; 4] = ["abs", "sqrt", "ln", "exp"];
/// Functions over a value's history with no window.
const RUNNING: [&str; 4] = ["start", "peak", "trough", "drawdown"];
/// Functions over a value's history with a window of `n` ticks.
const WINDOWED: [&str; 4] = ["lag", "mean", "sum", "change"];

/// Every function name, for error messages.
pub fn function_names() -> String {
    let mut all: Vec<&str> =
        SCALAR.iter().chain(&["min", "max"]).chain(&RUNNING).chain(&WINDOWED).copied().collect();
    all.sort_unstable();
    all.join(", ")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scalar {
    Abs,
    Sqrt,
    Ln,
    Exp,
}

/// The state of one history function.
#[derive(Clone, Debug)]
enum History {
    Start(Option<f64>),
    Peak(f64),
    Trough(f64),
    Drawdown(f64),
    /// The last `n + 1` values (the oldest is `x` at `t − n`, or the first).
    Lag {
        n: usize,
        past: VecDeque<f64>,
    },
    /// The last `n` values and their sum.
    Window {
        n: usize,
        past: VecDeque<f64>,
        sum: f64,
        mean: bool,
        pushed: u64,
    },
    Change {
        n: usize,
        past: VecDeque<f64>,
    },
}

impl History {
    fn new(name: &str, n: usize) -> History {
        let ring = || VecDeque::with_capacity(n + 1);
        match name {
            "start" => History::Start(None),
            "peak" => History::Peak(f64::NEG_INFINITY),
            "trough" => History::Trough(f64::INFINITY),
            "drawdown" => History::Drawdown(f64::NEG_INFINITY),
            "lag" => History::Lag { n, past: ring() },
            "mean" | "sum" => History::Window { n, past: ring(), sum: 0.0, mean: name == "mean", pushed: 0 },
            _ => History::Change { n, past: ring() },
        }
    }

    /// Takes this tick's value of the argument; returns the function's value.
    fn push(&mut self, x: f64) -> f64 {
        fn lagged(past: &mut VecDeque<f64>, n: usize, x: f64) -> f64 {
            past.push_back(x);
            if past.len() > n + 1 {
                past.pop_front();
            }
            past[0]
        }
        match self {
            History::Start(first) => *first.get_or_insert(x),
            History::Peak(m) => {
                *m = m.max(x);
                *m
            }
            History::Trough(m) => {
                *m = m.min(x);
                *m
            }
            History::Drawdown(m) => {
                *m = m.max(x);
                1.0 - x / *m
            }
            History::Lag { n, past } => lagged(past, *n, x),
            History::Change { n, past } => x / lagged(past, *n, x) - 1.0,
            History::Window { n, past, sum, mean, pushed } => {
                past.push_back(x);
                *sum += x;
                if past.len() > *n {
                    *sum -= past.pop_front().unwrap_or(0.0);
                }
                // Short windows are summed afresh; a long one's running sum
                // is recomputed every 256 ticks (and after an inf/NaN left
                // the window), so it never drifts from the true sum.
                *pushed += 1;
                if *n <= 64 || *pushed % 256 == 0 || !sum.is_finite() {
                    *sum = past.iter().sum();
                }
                if *mean { *sum / past.len() as f64 } else { *sum }
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Node {
    Const(f64),
    Input(usize),
    Neg(Box<Node>),
    Arith(ArithOp, Box<Node>, Box<Node>),
    Scalar(Scalar, Box<Node>),
    MinMax { max: bool, args: Vec<Node> },
    History(Box<Node>, History),
    Compare(CmpOp, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
}

/// What a boolean expression gave at one tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Margin {
    /// The margin (`>= 0`: holds).
    pub margin: f64,
    /// The left-hand side of the comparison that decided the margin.
    pub lhs: f64,
}

/// A compiled boolean expression with its history state.
#[derive(Clone, Debug)]
pub struct Program {
    root: Node,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Number,
    Bool,
}

impl Program {
    /// Parses and compiles `text`, a condition over `inputs`. `ticks` (the
    /// run's length) bounds the memory of windowed history functions.
    pub fn compile(text: &str, inputs: &Inputs<'_>, ticks: u32) -> Result<Program, ExprError> {
        let expr = parse(text)?;
        let (root, ty) = compile(&expr, inputs, ticks as usize)?;
        if ty != Type::Bool {
            return Err(ExprError::at(
                0,
                "this is a number, not a condition: compare it (`>=`, `<=`, `==`, `<`, `>`)",
            ));
        }
        Ok(Program { root })
    }

    /// Evaluates one tick, given every input's value this tick, and
    /// advances every history function by one tick.
    pub fn step(&mut self, values: &[f64]) -> Margin {
        margin(&mut self.root, values)
    }
}

/// A compiled numeric expression with no history (a population metric's
/// per-agent value), evaluated many times per tick.
#[derive(Clone, Debug)]
pub struct Formula {
    root: Node,
}

impl Formula {
    /// Parses and compiles `text`, a number over `inputs`; history
    /// functions and conditions are refused.
    pub fn compile(text: &str, inputs: &Inputs<'_>) -> Result<Formula, ExprError> {
        let expr = parse(text)?;
        refuse_history(&expr)?;
        let (root, ty) = compile(&expr, inputs, 0)?;
        if ty != Type::Number {
            return Err(ExprError::at(0, "this is a condition; a value is expected here"));
        }
        Ok(Formula { root })
    }

    /// The value for one set of inputs.
    pub fn eval(&self, values: &[f64]) -> f64 {
        value(&self.root, values)
    }

    /// The formula as `constant + Σ coefficient[i] · input[i]` when it is
    /// affine in the inputs marked `varying` and every coefficient depends
    /// only on the others (per tick constants such as prices): then one
    /// dot product per agent replaces a tree walk. The coefficients come as
    /// formulas over the same inputs.
    pub fn affine(&self, varying: &[bool]) -> Option<Affine> {
        affine(&self.root, varying)
    }
}

/// An affine form of a [`Formula`] (see [`Formula::affine`]).
#[derive(Clone, Debug)]
pub struct Affine {
    /// The constant term.
    pub constant: Formula,
    /// `(input index, coefficient)` for each varying input that appears.
    pub terms: Vec<(usize, Formula)>,
}

fn refuse_history(e: &Expr) -> Result<(), ExprError> {
    match e {
        Expr::Call { name, pos, args } => {
            if RUNNING.contains(&name.as_str()) || WINDOWED.contains(&name.as_str()) {
                return Err(ExprError::at(
                    *pos,
                    format!(
                        "`{name}` looks at the history of a value; a population metric is computed per tick from the agents' current wallets"
                    ),
                ));
            }
            args.iter().try_for_each(refuse_history)
        }
        Expr::Neg { arg, .. } | Expr::Not(arg) => refuse_history(arg),
        Expr::Arith { lhs, rhs, .. } | Expr::Compare { lhs, rhs, .. } => {
            refuse_history(lhs)?;
            refuse_history(rhs)
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            refuse_history(a)?;
            refuse_history(b)
        }
        Expr::Number { .. } | Expr::Name { .. } => Ok(()),
    }
}

fn compile(e: &Expr, inputs: &Inputs<'_>, ticks: usize) -> Result<(Node, Type), ExprError> {
    let num = |e: &Expr| -> Result<Node, ExprError> {
        match compile(e, inputs, ticks)? {
            (n, Type::Number) => Ok(n),
            (_, Type::Bool) => Err(ExprError::at(e.pos(), "a condition where a number is expected")),
        }
    };
    let cond = |e: &Expr| -> Result<Node, ExprError> {
        match compile(e, inputs, ticks)? {
            (n, Type::Bool) => Ok(n),
            (_, Type::Number) => Err(ExprError::at(
                e.pos(),
                "a number where a condition is expected: compare it (`>=`, `<=`, …)",
            )),
        }
    };
    Ok(match e {
        Expr::Number { value, .. } => (Node::Const(*value), Type::Number),
        Expr::Name { name, pos } => match inputs.index(name) {
            Some(i) => (Node::Input(i), Type::Number),
            None => {
                let hint = if SCALAR.contains(&name.as_str())
                    || RUNNING.contains(&name.as_str())
                    || WINDOWED.contains(&name.as_str())
                {
                    format!(" (`{name}` is a function: write `{name}(…)`)")
                } else {
                    String::new()
                };
                return Err(ExprError::at(
                    *pos,
                    format!("unknown name `{name}`{hint}; available: {}", inputs.choices()),
                ));
            }
        },
        Expr::Neg { arg, .. } => (Node::Neg(Box::new(num(arg)?)), Type::Number),
        Expr::Arith { op, lhs, rhs, .. } => {
            (Node::Arith(*op, Box::new(num(lhs)?), Box::new(num(rhs)?)), Type::Number)
        }
        Expr::Compare { op, lhs, rhs, .. } => {
            (Node::Compare(*op, Box::new(num(lhs)?), Box::new(num(rhs)?)), Type::Bool)
        }
        Expr::And(a, b) => (Node::And(Box::new(cond(a)?), Box::new(cond(b)?)), Type::Bool),
        Expr::Or(a, b) => (Node::Or(Box::new(cond(a)?), Box::new(cond(b)?)), Type::Bool),
        Expr::Not(a) => (Node::Not(Box::new(cond(a)?)), Type::Bool),
        Expr::Call { name, args, pos } => {
            let arity = |want: usize| -> Result<(), ExprError> {
                if args.len() == want {
                    Ok(())
                } else {
                    Err(ExprError::at(
                        *pos,
                        format!(
                            "`{name}` takes {want} argument{}, got {}",
                            if want == 1 { "" } else { "s" },
                            args.len()
                        ),
                    ))
                }
            };
            let name = name.as_str();
            if let Some(f) = SCALAR.iter().position(|s| *s == name) {
                arity(1)?;
                let f = [Scalar::Abs, Scalar::Sqrt, Scalar::Ln, Scalar::Exp][f];
                (Node::Scalar(f, Box::new(num(&args[0])?)), Type::Number)
            } else if name == "min" || name == "max" {
                if args.len() < 2 {
                    return Err(ExprError::at(
                        *pos,
                        format!("`{name}` takes two or more arguments, got {}", args.len()),
                    ));
                }
                let args = args.iter().map(num).collect::<Result<_, _>>()?;
                (Node::MinMax { max: name == "max", args }, Type::Number)
            } else if RUNNING.contains(&name) {
                arity(1)?;
                (Node::History(Box::new(num(&args[0])?), History::new(name, 0)), Type::Number)
            } else if WINDOWED.contains(&name) {
                arity(2)?;
                let n = match &args[1] {
                    Expr::Number { value, .. } if *value >= 1.0 && value.fract() == 0.0 => *value,
                    other => {
                        return Err(ExprError::at(
                            other.pos(),
                            format!(
                                "the window of `{name}` must be a whole number of ticks, at least 1 (e.g. `{name}(x, 30)`)"
                            ),
                        ));
                    }
                };
                // No run has more than `ticks` ticks of history to keep.
                let n = if n > ticks as f64 { ticks.max(1) } else { n as usize };
                (Node::History(Box::new(num(&args[0])?), History::new(name, n)), Type::Number)
            } else {
                return Err(ExprError::at(
                    *pos,
                    format!("unknown function `{name}`; functions: {}", function_names()),
                ));
            }
        }
    })
}

fn arith(op: ArithOp, a: f64, b: f64) -> f64 {
    match op {
        ArithOp::Add => a + b,
        ArithOp::Sub => a - b,
        ArithOp::Mul => a * b,
        ArithOp::Div => a / b,
        ArithOp::Pow => a.powf(b),
    }
}

fn scalar(f: Scalar, a: f64) -> f64 {
    match f {
        Scalar::Abs => a.abs(),
        Scalar::Sqrt => a.sqrt(),
        Scalar::Ln => a.ln(),
        Scalar::Exp => a.exp(),
    }
}

/// Folds `min`/`max` over arguments; an undefined argument makes the
/// result undefined (where `f64::max` would silently drop it).
fn extremum(max: bool, values: impl Iterator<Item = f64>) -> f64 {
    let mut out = if max { f64::NEG_INFINITY } else { f64::INFINITY };
    for x in values {
        out = if x.is_nan() || out.is_nan() {
            f64::NAN
        } else if max {
            out.max(x)
        } else {
            out.min(x)
        };
    }
    out
}

/// A numeric node's value this tick, advancing the history functions in it.
fn number(node: &mut Node, v: &[f64]) -> f64 {
    match node {
        Node::Const(c) => *c,
        Node::Input(i) => v[*i],
        Node::Neg(a) => -number(a, v),
        Node::Arith(op, a, b) => {
            let a = number(a, v);
            arith(*op, a, number(b, v))
        }
        Node::Scalar(f, a) => scalar(*f, number(a, v)),
        // Every argument is evaluated: history functions inside must advance.
        Node::MinMax { max, args } => {
            let values: Vec<f64> = args.iter_mut().map(|a| number(a, v)).collect();
            extremum(*max, values.into_iter())
        }
        Node::History(a, state) => {
            let x = number(a, v);
            state.push(x)
        }
        Node::Compare(..) | Node::And(..) | Node::Or(..) | Node::Not(..) => margin(node, v).margin,
    }
}

/// A formula's value (no history functions: compiled without them).
fn value(node: &Node, v: &[f64]) -> f64 {
    match node {
        Node::Const(c) => *c,
        Node::Input(i) => v[*i],
        Node::Neg(a) => -value(a, v),
        Node::Arith(op, a, b) => arith(*op, value(a, v), value(b, v)),
        Node::Scalar(f, a) => scalar(*f, value(a, v)),
        Node::MinMax { max, args } => extremum(*max, args.iter().map(|a| value(a, v))),
        Node::History(..) | Node::Compare(..) | Node::And(..) | Node::Or(..) | Node::Not(..) => f64::NAN,
    }
}

/// A margin that is undefined (NaN: `0/0`, `ln` of a negative) counts as the
/// worst possible, so it can never make a property hold.
fn defined(m: f64) -> f64 {
    if m.is_nan() { f64::NEG_INFINITY } else { m }
}

fn margin(node: &mut Node, v: &[f64]) -> Margin {
    match node {
        Node::Compare(op, a, b) => {
            let (a, b) = (number(a, v), number(b, v));
            let m = match op {
                CmpOp::Ge | CmpOp::Gt => a - b,
                CmpOp::Le | CmpOp::Lt => b - a,
                CmpOp::Eq => -(a - b).abs(),
            };
            // inf - inf: both sides unbounded the same way; `+ 0.0` turns
            // the -0 of an exact `==` into 0.
            let m = if m.is_nan() && a == b { 0.0 } else { defined(m) + 0.0 };
            Margin { margin: m, lhs: a }
        }
        Node::And(a, b) => {
            let (a, b) = (margin(a, v), margin(b, v));
            if b.margin < a.margin { b } else { a }
        }
        Node::Or(a, b) => {
            let (a, b) = (margin(a, v), margin(b, v));
            if b.margin > a.margin { b } else { a }
        }
        Node::Not(a) => {
            let m = margin(a, v);
            Margin { margin: -m.margin, ..m }
        }
        other => {
            let x = number(other, v);
            Margin { margin: defined(x), lhs: x }
        }
    }
}

fn affine(node: &Node, varying: &[bool]) -> Option<Affine> {
    let constant = |n: &Node| Formula { root: n.clone() };
    let depends = |n: &Node| uses(n, varying);
    match node {
        Node::Input(i) if varying[*i] => Some(Affine {
            constant: constant(&Node::Const(0.0)),
            terms: vec![(*i, constant(&Node::Const(1.0)))],
        }),
        n if !depends(n) => Some(Affine { constant: constant(n), terms: Vec::new() }),
        Node::Neg(a) => {
            let a = affine(a, varying)?;
            Some(a.map(Node::Neg))
        }
        Node::Arith(op @ (ArithOp::Add | ArithOp::Sub), a, b) => {
            let (a, b) = (affine(a, varying)?, affine(b, varying)?);
            Some(a.combine(b, *op))
        }
        Node::Arith(op @ (ArithOp::Mul | ArithOp::Div), a, b) => {
            if !depends(b) {
                let a = affine(a, varying)?;
                Some(a.map(|f| Node::Arith(*op, f, b.clone())))
            } else if *op == ArithOp::Mul && !depends(a) {
                let b = affine(b, varying)?;
                Some(b.map(|f| Node::Arith(ArithOp::Mul, a.clone(), f)))
            } else {
                None
            }
        }
        _ => None,
    }
}

impl Affine {
    fn map(self, f: impl Fn(Box<Node>) -> Node) -> Affine {
        Affine {
            constant: Formula { root: f(Box::new(self.constant.root)) },
            terms: self.terms.into_iter().map(|(i, c)| (i, Formula { root: f(Box::new(c.root)) })).collect(),
        }
    }

    fn combine(self, other: Affine, op: ArithOp) -> Affine {
        let join = |a: Node, b: Node| Formula { root: Node::Arith(op, Box::new(a), Box::new(b)) };
        let mut terms = self.terms;
        for (i, c) in other.terms {
            match terms.iter_mut().find(|(j, _)| *j == i) {
                Some((_, mine)) => *mine = join(mine.root.clone(), c.root),
                None => terms.push((i, join(Node::Const(0.0), c.root))),
            }
        }
        Affine { constant: join(self.constant.root, other.constant.root), terms }
    }
}

fn uses(node: &Node, varying: &[bool]) -> bool {
    match node {
        Node::Const(_) => false,
        Node::Input(i) => varying[*i],
        Node::Neg(a) | Node::Scalar(_, a) | Node::Not(a) | Node::History(a, _) => uses(a, varying),
        Node::Arith(_, a, b) | Node::Compare(_, a, b) | Node::And(a, b) | Node::Or(a, b) => {
            uses(a, varying) || uses(b, varying)
        }
        Node::MinMax { args, .. } => args.iter().any(|a| uses(a, varying)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps `text` over a series of one input `x` (and `y` = 2x), returning
    /// the margins.
    fn series(text: &str, xs: &[f64]) -> Vec<f64> {
        let inputs = Inputs::new(&["x", "y"]);
        let mut p = Program::compile(text, &inputs, xs.len() as u32).unwrap();
        xs.iter().map(|&x| p.step(&[x, 2.0 * x]).margin).collect()
    }

    const XS: [f64; 6] = [4.0, 8.0, 2.0, 6.0, 10.0, 1.0];

    #[test]
    fn comparisons_and_connectives_follow_robustness_semantics() {
        assert_eq!(series("x >= 3", &XS), vec![1.0, 5.0, -1.0, 3.0, 7.0, -2.0]);
        assert_eq!(series("x <= 3", &XS), vec![-1.0, -5.0, 1.0, -3.0, -7.0, 2.0]);
        assert_eq!(series("x > 3", &XS), series("x >= 3", &XS));
        assert_eq!(series("x == 4", &XS), vec![0.0, -4.0, -2.0, -2.0, -6.0, -3.0]);
        assert!(series("x == 4", &XS)[0].is_sign_positive(), "an exact == has margin +0, not -0");
        // and = min, or = max, not = minus.
        assert_eq!(series("x >= 3 and x <= 7", &XS), vec![1.0, -1.0, -1.0, 1.0, -3.0, -2.0]);
        assert_eq!(series("x <= 3 or x >= 7", &XS), vec![-1.0, 1.0, 1.0, -1.0, 3.0, 2.0]);
        assert_eq!(series("not x >= 3", &XS), vec![-1.0, -5.0, 1.0, -3.0, -7.0, 2.0]);
    }

    #[test]
    fn arithmetic_and_scalar_functions() {
        let m = series(
            "abs(x - 5) + sqrt(x) * 0 + ln(exp(x)) - x ^ 2 / x + max(x, 3, y) - min(y, x) >= 0",
            &[4.0],
        );
        // |4-5| + 0 + 4 - 16/4 + 8 - 4 = 5
        assert!((m[0] - 5.0).abs() < 1e-12, "{m:?}");
        assert_eq!(series("-x ^ 2 >= -20", &[4.0]), vec![4.0]);
        assert_eq!(series("2 ^ 3 ^ 2 >= 0", &[0.0]), vec![512.0]);
    }

    #[test]
    fn history_functions_against_hand_computed_series() {
        // start: 4 every tick.
        assert_eq!(series("start(x) >= 0", &XS), vec![4.0; 6]);
        // peak / trough: running max / min.
        assert_eq!(series("peak(x) >= 0", &XS), vec![4.0, 8.0, 8.0, 8.0, 10.0, 10.0]);
        assert_eq!(series("trough(x) >= 0", &XS), vec![4.0, 4.0, 2.0, 2.0, 2.0, 1.0]);
        // drawdown = 1 - x / peak.
        let dd = series("drawdown(x) >= 0", &XS);
        let want = [0.0, 0.0, 0.75, 0.25, 0.0, 0.9];
        dd.iter().zip(want).for_each(|(a, b)| assert!((a - b).abs() < 1e-12, "{dd:?}"));
        // lag(x, 2): the first value until two ticks have passed.
        assert_eq!(series("lag(x, 2) >= 0", &XS), vec![4.0, 4.0, 4.0, 8.0, 2.0, 6.0]);
        // mean / sum over the last 3 ticks, fewer at the start.
        assert_eq!(series("sum(x, 3) >= 0", &XS), vec![4.0, 12.0, 14.0, 16.0, 18.0, 17.0]);
        let mean = series("mean(x, 3) >= 0", &XS);
        let want = [4.0, 6.0, 14.0 / 3.0, 16.0 / 3.0, 6.0, 17.0 / 3.0];
        mean.iter().zip(want).for_each(|(a, b)| assert!((a - b).abs() < 1e-12, "{mean:?}"));
        // change(x, 1) = x / lag(x, 1) - 1; 0 at the first tick.
        assert_eq!(series("change(x, 1) >= 0", &XS), vec![0.0, 1.0, -0.75, 2.0, 10.0 / 6.0 - 1.0, -0.9]);
        // A window longer than the run keeps the whole run.
        assert_eq!(series("sum(x, 1000) >= 0", &XS), vec![4.0, 12.0, 14.0, 20.0, 30.0, 31.0]);
        // Nested history: the peak of a lagged value.
        assert_eq!(series("peak(lag(x, 1)) >= 0", &XS), vec![4.0, 4.0, 8.0, 8.0, 8.0, 10.0]);
        // History inside an unevaluated-looking branch still advances.
        assert_eq!(series("x >= 100 or start(x) >= 0", &XS), vec![4.0; 6]);
    }

    #[test]
    fn failing_side_is_reported() {
        let inputs = Inputs::new(&["x", "y"]);
        let mut p = Program::compile("x >= 1 and y <= 5", &inputs, 10).unwrap();
        // y = 9 fails by 4; x = 3 holds by 2: the margin and lhs are y's.
        assert_eq!(p.step(&[3.0, 9.0]), Margin { margin: -4.0, lhs: 9.0 });
    }

    #[test]
    fn undefined_values_fail() {
        assert_eq!(series("ln(x - 100) >= 0", &[4.0]), vec![f64::NEG_INFINITY]);
        assert_eq!(series("0 / 0 <= 1", &[4.0]), vec![f64::NEG_INFINITY]);
        assert_eq!(series("not (0 / 0 <= 1)", &[4.0]), vec![f64::INFINITY]);
    }

    #[test]
    fn bad_programs_are_located() {
        let inputs = Inputs::new(&["price", "supply"]);
        let err = |t: &str| Program::compile(t, &inputs, 10).unwrap_err();
        let e = err("pricee >= 1");
        assert!(
            e.pos == 0 && e.message.contains("unknown name `pricee`") && e.message.contains("price, supply"),
            "{e:?}"
        );
        let e = err("price >= strt(price)");
        assert!(
            e.pos == 9 && e.message.contains("unknown function `strt`") && e.message.contains("drawdown"),
            "{e:?}"
        );
        assert!(err("price + 1").message.contains("not a condition"));
        assert!(err("(price > 1) + 1 > 0").message.contains("condition where a number"));
        assert!(err("price and supply").message.contains("number where a condition"));
        assert!(err("lag(price, 0) >= 1").message.contains("at least 1"));
        assert!(err("mean(price, 2.5) >= 1").message.contains("whole number"));
        assert!(err("mean(price, supply) >= 1").message.contains("whole number"));
        assert!(err("abs(price, supply) >= 1").message.contains("takes 1 argument"));
        assert!(err("max(price) >= 1").message.contains("two or more"));
        assert!(err("start >= 1").message.contains("is a function"));
    }

    #[test]
    fn formulas_and_their_affine_form() {
        let inputs = Inputs::new(&["DAI", "TKN", "curve.price"]);
        let f = Formula::compile("DAI + TKN * curve.price - 2 * (TKN - 1) / 4", &inputs).unwrap();
        let v = [3.0, 5.0, 0.5];
        assert_eq!(f.eval(&v), 3.0 + 2.5 - 2.0);
        let a = f.affine(&[true, true, false]).expect("affine");
        let value = a.constant.eval(&v) + a.terms.iter().map(|(i, c)| c.eval(&v) * v[*i]).sum::<f64>();
        assert!((value - f.eval(&v)).abs() < 1e-12);
        assert!(Formula::compile("DAI * TKN", &inputs).unwrap().affine(&[true, true, false]).is_none());
        assert!(Formula::compile("sqrt(DAI)", &inputs).unwrap().affine(&[true, true, false]).is_none());
        assert!(Formula::compile("peak(DAI)", &inputs).unwrap_err().message.contains("history"));
        assert!(Formula::compile("DAI > 1", &inputs).unwrap_err().message.contains("condition"));
    }
}
