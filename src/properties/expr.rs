//! The expression language of properties and population metrics: a small
//! Pratt-free recursive-descent parser from text to an [`Expr`] tree whose
//! every node keeps its character position, so that a mistake is reported
//! at the place it was made.
//!
//! ```text
//! expr    := or
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | compare
//! compare := sum (("<=" | "<" | ">=" | ">" | "==") sum)?
//! sum     := product (("+" | "-") product)*
//! product := unary (("*" | "/") unary)*
//! unary   := "-" unary | power
//! power   := atom ("^" unary)?            (right-associative: 2^3^2 = 2^9)
//! atom    := number | name | name "(" expr ("," expr)* ")" | "(" expr ")"
//! ```
//!
//! Numbers may use `_` separators (`50_000`) and exponents (`1e-3`); names
//! are letters, digits, `_` and `.` (`curve.price`).
//!
//! ```
//! use tokensim::properties::expr::{parse, Expr};
//! let e = parse("price >= 0.8 * start(price)").unwrap();
//! assert!(matches!(e, Expr::Compare { .. }));
//! assert!(parse("price >= ").unwrap_err().message.contains("expected"));
//! ```

use std::fmt;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `<` (same margin as `<=`).
    Lt,
    /// `<=`
    Le,
    /// `>` (same margin as `>=`).
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
}

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `^`
    Pow,
}

/// A parsed expression; `pos` is the 0-based character offset of the node
/// in the expression text.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number literal.
    Number {
        /// Its value.
        value: f64,
        /// Where it starts.
        pos: usize,
    },
    /// A metric, slot or `contract.price` name.
    Name {
        /// As written.
        name: String,
        /// Where it starts.
        pos: usize,
    },
    /// `-x`
    Neg {
        /// The operand.
        arg: Box<Expr>,
        /// Where the `-` is.
        pos: usize,
    },
    /// `a + b` and the other arithmetic operators.
    Arith {
        /// Which.
        op: ArithOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
        /// Where the operator is.
        pos: usize,
    },
    /// `a >= b` and the other comparisons.
    Compare {
        /// Which.
        op: CmpOp,
        /// Left side (its value is reported at a failure).
        lhs: Box<Expr>,
        /// Right side.
        rhs: Box<Expr>,
        /// Where the operator is.
        pos: usize,
    },
    /// `a and b`
    And(Box<Expr>, Box<Expr>),
    /// `a or b`
    Or(Box<Expr>, Box<Expr>),
    /// `not a`
    Not(Box<Expr>),
    /// `f(a, b, …)`
    Call {
        /// Function name.
        name: String,
        /// Arguments.
        args: Vec<Expr>,
        /// Where the name starts.
        pos: usize,
    },
}

impl Expr {
    /// The character offset of the node (its operator for binary nodes).
    pub fn pos(&self) -> usize {
        match self {
            Expr::Number { pos, .. }
            | Expr::Name { pos, .. }
            | Expr::Neg { pos, .. }
            | Expr::Arith { pos, .. }
            | Expr::Compare { pos, .. }
            | Expr::Call { pos, .. } => *pos,
            Expr::And(a, _) | Expr::Or(a, _) | Expr::Not(a) => a.pos(),
        }
    }
}

/// A mistake in an expression, at character `pos`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExprError {
    /// 0-based character offset.
    pub pos: usize,
    /// What is wrong.
    pub message: String,
}

impl ExprError {
    /// An error at `pos`.
    pub fn at(pos: usize, message: impl Into<String>) -> Self {
        ExprError { pos, message: message.into() }
    }

    /// The message with the expression quoted and the place marked, as
    /// shown to users: ``at character 12 of `price >= strt(price)`: …``.
    /// An expression too long to quote is shown as the 40 characters
    /// either side of the place, with `…` for the rest.
    pub fn describe(&self, text: &str) -> String {
        const SIDE: usize = 40;
        let chars: Vec<char> = text.chars().collect();
        let shown = if chars.len() <= 2 * SIDE + 20 {
            text.to_string()
        } else {
            let to = (self.pos + SIDE).min(chars.len());
            let from = self.pos.saturating_sub(SIDE).min(to);
            let (head, tail) = (if from > 0 { "…" } else { "" }, if to < chars.len() { "…" } else { "" });
            format!("{head}{}{tail}", chars[from..to].iter().collect::<String>())
        };
        format!("at character {} of `{shown}`: {}", self.pos + 1, self.message)
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.pos + 1, self.message)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

const OPERATORS: [&str; 11] = ["<=", ">=", "==", "<", ">", "+", "-", "*", "/", "^", "!="];

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '_')) {
                let exponent_sign = matches!(chars[i], 'e' | 'E')
                    && matches!(chars.get(i + 1), Some('+' | '-'))
                    && chars.get(i + 2).is_some_and(|d| d.is_ascii_digit());
                if chars[i] != '_' {
                    s.push(chars[i]);
                }
                if exponent_sign {
                    s.push(chars[i + 1]);
                    i += 1;
                }
                i += 1;
            }
            let value: f64 = s.parse().map_err(|_| ExprError::at(start, format!("`{s}` is not a number")))?;
            if !value.is_finite() {
                return Err(ExprError::at(start, format!("`{s}` is too large a number")));
            }
            out.push((Token::Number(value), start));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.')) {
                s.push(chars[i]);
                i += 1;
            }
            out.push((Token::Name(s), start));
            continue;
        }
        let token = match c {
            '(' => Some(Token::LParen),
            ')' => Some(Token::RParen),
            ',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(t) = token {
            out.push((t, start));
            i += 1;
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match OPERATORS.iter().find(|op| rest.starts_with(**op)) {
            Some(&"!=") => {
                return Err(ExprError::at(
                    start,
                    "`!=` has no margin (it holds or not, with no distance); write `not (a == b)` or a band such as `abs(a - b) >= 0.01`",
                ));
            }
            Some(op) => {
                out.push((Token::Op(op), start));
                i += op.chars().count();
            }
            None => {
                let hint = match c {
                    '&' => "; write `and`",
                    '|' => "; write `or`",
                    '!' => "; write `not`",
                    '=' => "; comparisons are `==`, `<=`, `>=`, `<`, `>`",
                    _ => "",
                };
                return Err(ExprError::at(start, format!("unexpected `{c}`{hint}")));
            }
        }
    }
    out.push((Token::End, chars.len()));
    Ok(out)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    at: usize,
    depth: usize,
}

/// Nesting deeper than this is refused (a hostile input must not
/// overflow the stack).
const MAX_DEPTH: usize = 64;

/// Longest expression accepted, in characters: far beyond any real
/// property, and small enough that walking the tree cannot exhaust a stack.
pub const MAX_LEN: usize = 2_000;

/// Parses `text` into an expression tree.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let len = text.chars().count();
    if len > MAX_LEN {
        return Err(ExprError::at(
            MAX_LEN,
            format!("the expression is {len} characters long; at most {MAX_LEN}"),
        ));
    }
    let tokens = tokenize(text)?;
    if tokens.len() == 1 {
        return Err(ExprError::at(0, "the expression is empty"));
    }
    let mut p = Parser { tokens, at: 0, depth: 0 };
    let e = p.or()?;
    match p.peek() {
        Token::End => Ok(e),
        t => Err(ExprError::at(p.pos(), format!("unexpected {} after a complete expression", describe(t)))),
    }
}

fn describe(t: &Token) -> String {
    match t {
        Token::Number(v) => format!("number `{v}`"),
        Token::Name(n) => format!("`{n}`"),
        Token::Op(o) => format!("`{o}`"),
        Token::LParen => "`(`".into(),
        Token::RParen => "`)`".into(),
        Token::Comma => "`,`".into(),
        Token::End => "end of expression".into(),
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at].0
    }

    fn pos(&self) -> usize {
        self.tokens[self.at].1
    }

    fn bump(&mut self) -> (Token, usize) {
        let t = self.tokens[self.at].clone();
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Token::Name(n) if n == word)
    }

    fn op(&self, ops: &[&str]) -> Option<&'static str> {
        match self.peek() {
            Token::Op(o) if ops.contains(o) => Some(o),
            _ => None,
        }
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, ExprError>) -> Result<T, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::at(self.pos(), format!("nested more than {MAX_DEPTH} deep")));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.and()?;
        while self.keyword("or") {
            self.bump();
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.not()?;
        while self.keyword("and") {
            self.bump();
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.keyword("not") {
            self.bump();
            return self.nested(|p| Ok(Expr::Not(Box::new(p.not()?))));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, ExprError> {
        let lhs = self.sum()?;
        let Some(op) = self.op(&["<=", "<", ">=", ">", "=="]) else { return Ok(lhs) };
        let (_, pos) = self.bump();
        let rhs = self.sum()?;
        if let Some(second) = self.op(&["<=", "<", ">=", ">", "=="]) {
            return Err(ExprError::at(
                self.pos(),
                format!(
                    "comparisons do not chain (`a {op} b {second} c`); write `a {op} b and b {second} c`"
                ),
            ));
        }
        let op = match op {
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => CmpOp::Eq,
        };
        Ok(Expr::Compare { op, lhs: Box::new(lhs), rhs: Box::new(rhs), pos })
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.product()?;
        while let Some(op) = self.op(&["+", "-"]) {
            let (_, pos) = self.bump();
            let rhs = self.product()?;
            let op = if op == "+" { ArithOp::Add } else { ArithOp::Sub };
            e = Expr::Arith { op, lhs: Box::new(e), rhs: Box::new(rhs), pos };
        }
        Ok(e)
    }

    fn product(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.unary()?;
        while let Some(op) = self.op(&["*", "/"]) {
            let (_, pos) = self.bump();
            let rhs = self.unary()?;
            let op = if op == "*" { ArithOp::Mul } else { ArithOp::Div };
            e = Expr::Arith { op, lhs: Box::new(e), rhs: Box::new(rhs), pos };
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.op(&["-"]).is_some() {
            let (_, pos) = self.bump();
            return self.nested(|p| Ok(Expr::Neg { arg: Box::new(p.unary()?), pos }));
        }
        self.power()
    }

    fn power(&mut self) -> Result<Expr, ExprError> {
        let base = self.atom()?;
        if self.op(&["^"]).is_some() {
            let (_, pos) = self.bump();
            let exponent = self.nested(|p| p.unary())?;
            return Ok(Expr::Arith { op: ArithOp::Pow, lhs: Box::new(base), rhs: Box::new(exponent), pos });
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        let (token, pos) = self.bump();
        match token {
            Token::Number(value) => Ok(Expr::Number { value, pos }),
            Token::Name(name) if matches!(name.as_str(), "and" | "or" | "not") => {
                Err(ExprError::at(pos, format!("expected a value before `{name}`")))
            }
            Token::Name(name) => {
                if *self.peek() != Token::LParen {
                    return Ok(Expr::Name { name, pos });
                }
                self.bump();
                let mut args = Vec::new();
                if *self.peek() != Token::RParen {
                    loop {
                        args.push(self.nested(|p| p.or())?);
                        match self.bump() {
                            (Token::Comma, _) => continue,
                            (Token::RParen, _) => break,
                            (t, at) => {
                                return Err(ExprError::at(
                                    at,
                                    format!(
                                        "expected `,` or `)` in the arguments of `{name}`, found {}",
                                        describe(&t)
                                    ),
                                ));
                            }
                        }
                    }
                } else {
                    self.bump();
                }
                Ok(Expr::Call { name, args, pos })
            }
            Token::LParen => {
                let e = self.nested(|p| p.or())?;
                match self.bump() {
                    (Token::RParen, _) => Ok(e),
                    (t, at) => Err(ExprError::at(at, format!("expected `)`, found {}", describe(&t)))),
                }
            }
            t => Err(ExprError::at(pos, format!("expected a number, a name or `(`, found {}", describe(&t)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_expression_is_quoted_around_the_place_only() {
        let text = format!("{} + )", "a + ".repeat(50_000));
        let err = ExprError::at(200_001, "unexpected `)`").describe(&text);
        assert!(err.len() < 200, "{err}");
        assert!(
            err.starts_with("at character 200002 of `…") && err.ends_with(" + )`: unexpected `)`"),
            "{err}"
        );
        // Short ones whole; a place past the end does not panic.
        assert_eq!(ExprError::at(2, "x").describe("a +"), "at character 3 of `a +`: x");
        assert!(ExprError::at(1_000_000, "x").describe(&text).contains("of `…`"));
    }

    fn num(e: &Expr) -> f64 {
        match e {
            Expr::Number { value, .. } => *value,
            other => panic!("not a number: {other:?}"),
        }
    }

    #[test]
    fn precedence_and_associativity() {
        // 1 + 2 * 3 parses as 1 + (2 * 3).
        let Expr::Arith { op: ArithOp::Add, rhs, .. } = parse("1 + 2 * 3").unwrap() else { panic!() };
        assert!(matches!(*rhs, Expr::Arith { op: ArithOp::Mul, .. }));
        // 2 ^ 3 ^ 2 is right-associative.
        let Expr::Arith { op: ArithOp::Pow, lhs, rhs, .. } = parse("2 ^ 3 ^ 2").unwrap() else { panic!() };
        assert_eq!(num(&lhs), 2.0);
        assert!(matches!(*rhs, Expr::Arith { op: ArithOp::Pow, .. }));
        // -2 ^ 2 is -(2 ^ 2).
        assert!(matches!(parse("-2 ^ 2").unwrap(), Expr::Neg { .. }));
        // a - b - c is (a - b) - c.
        let Expr::Arith { op: ArithOp::Sub, lhs, .. } = parse("a - b - c").unwrap() else { panic!() };
        assert!(matches!(*lhs, Expr::Arith { op: ArithOp::Sub, .. }));
        // and binds tighter than or.
        assert!(matches!(parse("a > 1 or b > 1 and c > 1").unwrap(), Expr::Or(..)));
    }

    #[test]
    fn numbers_with_separators_and_exponents() {
        assert_eq!(num(&parse("50_000").unwrap()), 50_000.0);
        assert_eq!(num(&parse("1e-3").unwrap()), 1e-3);
        assert_eq!(num(&parse("2.5E+2").unwrap()), 250.0);
        assert_eq!(num(&parse(".5").unwrap()), 0.5);
        assert!(parse("1e999").unwrap_err().message.contains("too large"));
        assert!(parse("1.2.3").unwrap_err().message.contains("not a number"));
    }

    #[test]
    fn errors_point_at_the_mistake() {
        let e = parse("price >= ").unwrap_err();
        assert_eq!(e.pos, 9);
        let e = parse("price >= start(price").unwrap_err();
        assert_eq!(e.pos, 20, "{e:?}");
        let e = parse("a && b").unwrap_err();
        assert!(e.message.contains("write `and`") && e.pos == 2, "{e:?}");
        let e = parse("a != b").unwrap_err();
        assert!(e.message.contains("!="), "{e:?}");
        let e = parse("1 < a < 2").unwrap_err();
        assert!(e.message.contains("do not chain"), "{e:?}");
        assert!(parse("").unwrap_err().message.contains("empty"));
        assert!(parse("a b").unwrap_err().message.contains("after a complete expression"));
        assert!(parse("and a").unwrap_err().message.contains("before `and`"));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).unwrap_err().message.contains("nested"));
        let negs = format!("{}1", "-".repeat(100));
        assert!(parse(&negs).unwrap_err().message.contains("nested"));
        let long = vec!["x"; 2_000].join("+");
        assert!(parse(&long).unwrap_err().message.contains("at most"));
    }

    #[test]
    fn calls_and_dotted_names() {
        let Expr::Call { name, args, .. } = parse("max(curve.price, lag(x, 3))").unwrap() else { panic!() };
        assert_eq!(name, "max");
        assert_eq!(args.len(), 2);
        assert!(matches!(&args[0], Expr::Name { name, .. } if name == "curve.price"));
        assert!(matches!(parse("f()").unwrap(), Expr::Call { args, .. } if args.is_empty()));
    }
}
