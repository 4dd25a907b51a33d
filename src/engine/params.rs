//! One declaration per parameter. A mechanism or behaviour kind lists its
//! parameters once, as a `&'static [Param]` table: name, type with its range
//! or choices, default, doc line, the mode it belongs to, and for references
//! what the named contract or account must be able to do. From that table
//! come reading the scenario table ([`Values::read`]: unknown, missing,
//! mistyped, out-of-range and ignored keys are located errors), the
//! reference checks of the builders, `tokensim list` and `docs/reference.md`.
//!
//! ```
//! use tokensim::engine::params::{Param, Values};
//! use tokensim::scenario::Source;
//!
//! const PARAMS: &[Param] = &[
//!     Param::float("fee", 0.0, 1.0).open_high().default_float(0.003).doc("swap fee"),
//!     Param::int("window", 1, 1000).doc("ticks averaged"),
//! ];
//! let (source, table) = Source::parse("s.toml".as_ref(), "window = 5\n".into()).unwrap();
//! let v = Values::read(PARAMS, &source, "", &table).unwrap();
//! assert_eq!(v.float("fee"), 0.003);
//! assert_eq!(v.int("window"), 5);
//!
//! let (source, table) = Source::parse("s.toml".as_ref(), "window = 0\n".into()).unwrap();
//! let err = Values::read(PARAMS, &source, "", &table).unwrap_err().to_string();
//! assert_eq!(err, "s.toml:1:1: `window`: 0 is out of range: must be in [1, 1000]");
//! ```

use crate::engine::intent::Action;
pub use crate::engine::topology::Way;
use crate::error::ScenarioError;
use crate::scenario::source::join;
use crate::scenario::{AgentParam, Source, from_table};

/// The largest amount of any asset a scenario may hold, mint or declare
/// (balances, supplies, reserves, emissions): `1e15`. Products and sums of
/// a few such amounts (a curve's reserve integral, an AMM's `x·y`, the
/// conservation sums over many agents) stay far inside `f64`'s range, so a
/// scenario that validates cannot overflow to `inf` through its values.
pub const MAX_AMOUNT: f64 = 1e15;

/// The smallest positive amount a parameter that must be above 0 may
/// declare (an AMM's or a curve's genesis reserve or supply): `1e-9`, so
/// that a price, a ratio of two amounts, stays below `1e24`.
pub const MIN_AMOUNT: f64 = 1e-9;

/// What a reference parameter's contract or account must be able to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Need {
    /// Actions the contract must accept (a venue that takes `buy`).
    pub actions: &'static [Action],
    /// The contract must publish a price (an oracle, a venue read by price).
    pub priced: bool,
    /// The contract must be a market ([`Contract::market`]) with a price
    /// and a pair of assets that accepts buy and sell.
    ///
    /// [`Contract::market`]: crate::engine::contract::Contract::market
    pub market: bool,
    /// The named account receives or pays funds freely: a named account
    /// (not a contract), or a contract whose account is a plain holder
    /// ([`Contract::holds_funds`], a treasury). Naming a curve's or a
    /// pool's account here would break its reserve invariant.
    ///
    /// [`Contract::holds_funds`]: crate::engine::contract::Contract::holds_funds
    pub holder: bool,
    /// The contract must be of this registered kind (a liquidator reads a
    /// `lending_market`'s loan book).
    pub kind: Option<&'static str>,
}

impl Need {
    /// No requirement beyond existing.
    pub const ANY: Need = Need { actions: &[], priced: false, market: false, holder: false, kind: None };

    /// A plain holder of funds (see [`Need::holder`]).
    pub const HOLDER: Need = Need { holder: true, ..Need::ANY };

    /// A contract that publishes a price.
    pub const PRICED: Need = Need { priced: true, ..Need::ANY };

    /// A market with a price and a pair of assets that accepts buy and sell.
    pub const MARKET: Need =
        Need { actions: &[Action::Buy, Action::Sell], priced: true, market: true, ..Need::ANY };

    /// A contract that accepts `actions`.
    pub const fn accepting(actions: &'static [Action]) -> Need {
        Need { actions, ..Need::ANY }
    }

    /// A contract of registered kind `kind` that accepts `actions`.
    pub const fn of_kind(kind: &'static str, actions: &'static [Action]) -> Need {
        Need { actions, kind: Some(kind), ..Need::ANY }
    }

    /// Adds the requirement of a price.
    pub const fn and_priced(mut self) -> Need {
        self.priced = true;
        self
    }

    /// Words for the documentation (`accepts buy, sell; has a price`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(kind) = self.kind {
            parts.push(format!("kind `{kind}`"));
        }
        if self.market {
            parts.push("a market (price and asset pair)".to_string());
        } else if !self.actions.is_empty() {
            let names: Vec<&str> = self.actions.iter().map(|a| a.name()).collect();
            parts.push(format!("accepts {}", names.join(", ")));
        }
        if self.priced && !self.market {
            parts.push("has a price".to_string());
        }
        if self.holder {
            parts.push("a named account or a treasury-like holder".to_string());
        }
        parts.join("; ")
    }
}

/// The type of a parameter, with its range or choices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ty {
    /// A finite number in `[lo, hi]` (`(lo, hi]` with `open_lo`, `[lo, hi)`
    /// with `open_hi`).
    Float {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
        /// Whether `lo` itself is excluded.
        open_lo: bool,
        /// Whether `hi` itself is excluded.
        open_hi: bool,
        /// Values in `(0, min_positive)` are refused (an amount is 0 or at
        /// least [`MIN_AMOUNT`]); 0 for no such gap.
        min_positive: f64,
    },
    /// An integer in `[lo, hi]`.
    Int {
        /// Lower bound.
        lo: u64,
        /// Upper bound.
        hi: u64,
    },
    /// `true` or `false`.
    Bool,
    /// One of these strings.
    Choice(&'static [&'static str]),
    /// An asset of the scenario.
    Asset,
    /// A contract of the scenario that meets the need.
    Contract(Need),
    /// A contract, or a named account created on first use (`hatch`).
    Account(Need),
    /// A new name this parameter declares (a position slot).
    Name,
    /// A wallet slot: an asset or a contract's position.
    Slot,
    /// A file path, relative to the scenario's directory.
    File,
    /// A per-agent value: a number or a distribution, every value of which
    /// must lie in `[lo, hi]`.
    PerAgent {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// A list of integers in `[lo, hi]`.
    IntList {
        /// Lower bound.
        lo: u64,
        /// Upper bound.
        hi: u64,
    },
    /// An array of tables the kind reads itself (`described` says how).
    Tables(&'static str),
}

/// A default value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Default {
    /// The key must be given.
    Required,
    /// The key may be left out; it then has no value (documented as `text`).
    Optional(&'static str),
    /// A number.
    Float(f64),
    /// An integer.
    Int(u64),
    /// A boolean.
    Bool(bool),
    /// A string (a choice or a name).
    Str(&'static str),
}

/// One parameter of a kind: the single declaration everything else reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Param {
    /// Key in the scenario table.
    pub name: &'static str,
    /// Type, range, choices or what a reference must name.
    pub ty: Ty,
    /// Default.
    pub default: Default,
    /// What it means.
    pub doc: &'static str,
    /// `(choice parameter, values)`: the parameter is used only when that
    /// parameter has one of these values; set otherwise, it is an error
    /// (a value the chosen mode would silently ignore).
    pub only_with: Option<(&'static str, &'static [&'static str])>,
    /// For a reference: which way value moves, what it is and the
    /// parameter naming its asset (`""` for none); drawn by `tokensim graph`.
    pub moves: Option<(Way, &'static str, &'static str)>,
    /// For an asset: what the contract holds of it, when not the
    /// parameter's name (a lending market's `debt` asset is its `cash`).
    pub stock: Option<&'static str>,
}

impl Param {
    const fn new(name: &'static str, ty: Ty) -> Param {
        Param { name, ty, default: Default::Required, doc: "", only_with: None, moves: None, stock: None }
    }

    /// A finite number in `[lo, hi]`.
    pub const fn float(name: &'static str, lo: f64, hi: f64) -> Param {
        Param::new(name, Ty::Float { lo, hi, open_lo: false, open_hi: false, min_positive: 0.0 })
    }

    /// An amount of an asset: a number in `[0, MAX_AMOUNT]`.
    pub const fn amount(name: &'static str) -> Param {
        Param::new(
            name,
            Ty::Float { lo: 0.0, hi: MAX_AMOUNT, open_lo: false, open_hi: false, min_positive: MIN_AMOUNT },
        )
    }

    /// An amount that must be above 0: a number in `[MIN_AMOUNT, MAX_AMOUNT]`.
    pub const fn positive_amount(name: &'static str) -> Param {
        Param::float(name, MIN_AMOUNT, MAX_AMOUNT)
    }

    /// An integer in `[lo, hi]`.
    pub const fn int(name: &'static str, lo: u64, hi: u64) -> Param {
        Param::new(name, Ty::Int { lo, hi })
    }

    /// A tick number or a count of ticks in `[lo, u32::MAX]`.
    pub const fn ticks(name: &'static str, lo: u64) -> Param {
        Param::int(name, lo, u32::MAX as u64)
    }

    /// A boolean.
    pub const fn bool(name: &'static str) -> Param {
        Param::new(name, Ty::Bool)
    }

    /// One of `choices`.
    pub const fn choice(name: &'static str, choices: &'static [&'static str]) -> Param {
        Param::new(name, Ty::Choice(choices))
    }

    /// An asset name.
    pub const fn asset(name: &'static str) -> Param {
        Param::new(name, Ty::Asset)
    }

    /// The name of a contract that meets `need`.
    pub const fn contract(name: &'static str, need: Need) -> Param {
        Param::new(name, Ty::Contract(need))
    }

    /// The name of a contract or named account that meets `need`.
    pub const fn account(name: &'static str, need: Need) -> Param {
        Param::new(name, Ty::Account(need))
    }

    /// A new name (a position slot this kind adds).
    pub const fn name(name: &'static str) -> Param {
        Param::new(name, Ty::Name)
    }

    /// A wallet slot name.
    pub const fn slot(name: &'static str) -> Param {
        Param::new(name, Ty::Slot)
    }

    /// A file path.
    pub const fn file(name: &'static str) -> Param {
        Param::new(name, Ty::File)
    }

    /// A per-agent value in `[lo, hi]`.
    pub const fn per_agent(name: &'static str, lo: f64, hi: f64) -> Param {
        Param::new(name, Ty::PerAgent { lo, hi })
    }

    /// A list of integers in `[lo, hi]`.
    pub const fn int_list(name: &'static str, lo: u64, hi: u64) -> Param {
        Param::new(name, Ty::IntList { lo, hi })
    }

    /// An array of tables, described by `what`.
    pub const fn tables(name: &'static str, what: &'static str) -> Param {
        Param::new(name, Ty::Tables(what))
    }

    /// Excludes the lower bound of a float.
    pub const fn open_low(mut self) -> Param {
        if let Ty::Float { lo, hi, open_hi, min_positive, .. } = self.ty {
            self.ty = Ty::Float { lo, hi, open_lo: true, open_hi, min_positive };
        }
        self
    }

    /// Excludes the upper bound of a float.
    pub const fn open_high(mut self) -> Param {
        if let Ty::Float { lo, hi, open_lo, min_positive, .. } = self.ty {
            self.ty = Ty::Float { lo, hi, open_lo, open_hi: true, min_positive };
        }
        self
    }

    /// The doc line.
    pub const fn doc(mut self, doc: &'static str) -> Param {
        self.doc = doc;
        self
    }

    /// Optional, with no value when left out (`text` says what that means).
    pub const fn optional(mut self, text: &'static str) -> Param {
        self.default = Default::Optional(text);
        self
    }

    /// A float default.
    pub const fn default_float(mut self, v: f64) -> Param {
        self.default = Default::Float(v);
        self
    }

    /// An integer default.
    pub const fn default_int(mut self, v: u64) -> Param {
        self.default = Default::Int(v);
        self
    }

    /// A boolean default.
    pub const fn default_bool(mut self, v: bool) -> Param {
        self.default = Default::Bool(v);
        self
    }

    /// A string default.
    pub const fn default_str(mut self, v: &'static str) -> Param {
        self.default = Default::Str(v);
        self
    }

    /// Used only when choice parameter `param` is one of `values`.
    pub const fn only_with(mut self, param: &'static str, values: &'static [&'static str]) -> Param {
        self.only_with = Some((param, values));
        self
    }

    /// For a reference: value `what` moves `way`, in the asset named by
    /// parameter `asset` (`""` for none), e.g. a curve's treasury:
    /// `moves(Way::Forward, "tributes", "reserve_asset")`.
    pub const fn moves(mut self, way: Way, what: &'static str, asset: &'static str) -> Param {
        self.moves = Some((way, what, asset));
        self
    }

    /// For an asset: the name of the stock the contract holds of it.
    pub const fn stock(mut self, name: &'static str) -> Param {
        self.stock = Some(name);
        self
    }

    /// The type as a user would write it (`float in [0, 1)`).
    pub fn type_text(&self) -> String {
        match self.ty {
            Ty::Float { lo, hi, open_lo, open_hi, min_positive } => {
                let (l, r) = (if open_lo { "(" } else { "[" }, if open_hi { ")" } else { "]" });
                let gap = if min_positive > 0.0 {
                    format!(", 0 or >= {}", num(min_positive))
                } else {
                    String::new()
                };
                format!("float in {l}{}, {}{r}{gap}", num(lo), num(hi))
            }
            Ty::Int { lo, hi } => format!("integer in [{lo}, {hi}]"),
            Ty::Bool => "boolean".into(),
            Ty::Choice(c) => c.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(" | "),
            Ty::Asset => "asset name".into(),
            Ty::Contract(need) => with_need("contract name", need),
            Ty::Account(need) => with_need("contract or account name", need),
            Ty::Name => "new name".into(),
            Ty::Slot => "wallet slot (asset or position)".into(),
            Ty::File => "file path".into(),
            Ty::PerAgent { lo, hi } => format!("per-agent param in [{}, {}]", num(lo), num(hi)),
            Ty::IntList { lo, hi } => format!("list of integers in [{lo}, {hi}]"),
            Ty::Tables(what) => what.into(),
        }
    }

    /// The default as documented (`None` if required).
    pub fn default_text(&self) -> Option<String> {
        let text = match self.default {
            Default::Required => return None,
            Default::Optional(t) => t.to_string(),
            Default::Float(v) => format!("{v}"),
            Default::Int(v) => format!("{v}"),
            Default::Bool(v) => format!("{v}"),
            Default::Str(v) if matches!(self.ty, Ty::Choice(_)) => format!("\"{v}\""),
            Default::Str(v) => v.to_string(),
        };
        Some(text)
    }

    /// The doc line, with the mode it belongs to.
    pub fn doc_text(&self) -> String {
        match self.only_with {
            Some((p, values)) => {
                let v: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
                format!("only with {p} = {}: {}", v.join(" or "), self.doc)
            }
            None => self.doc.to_string(),
        }
    }
}

/// A bound as a user would write it: `0.5`, `1e15`, `1e-9`, `inf`.
fn num(x: f64) -> String {
    if x.is_infinite() || x == f64::MAX {
        "inf".into()
    } else if x != 0.0 && !(1e-3..1e6).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

fn with_need(what: &str, need: Need) -> String {
    let d = need.describe();
    if d.is_empty() { what.to_string() } else { format!("{what} ({d})") }
}

/// A parameter's value, read and checked against its [`Ty`].
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Float(f64),
    Int(u64),
    Bool(bool),
    Str(String),
    Agent(AgentParam),
    Ints(Vec<u64>),
    Raw(toml::Value),
}

/// The checked values of one kind's table, read from its declaration.
///
/// Accessors take the parameter's name and panic if it is not declared
/// with that type: that is a bug in the kind, which its tests find.
#[derive(Clone, Debug)]
pub struct Values {
    spec: &'static [Param],
    values: Vec<Option<Value>>,
}

impl Values {
    /// Reads `table` (a kind's table, without `kind`) at `path` against
    /// `spec`: every key must be declared, required keys present, values of
    /// the declared type and range, choices among the declared ones, names
    /// non-empty, and no key set that the chosen mode ignores.
    pub fn read(
        spec: &'static [Param],
        source: &Source,
        path: &str,
        table: &toml::Table,
    ) -> Result<Values, ScenarioError> {
        let at = |field: &str| join(path, field);
        for key in table.keys() {
            if !spec.iter().any(|p| p.name == key) {
                let names: Vec<String> = spec.iter().map(|p| format!("`{}`", p.name)).collect();
                let expected = if names.is_empty() {
                    "this kind has no parameters".to_string()
                } else {
                    format!("expected one of {}", names.join(", "))
                };
                return Err(source.error(&at(key), format!("unknown field `{key}`, {expected}")));
            }
        }
        let mut values = Vec::with_capacity(spec.len());
        for p in spec {
            let field = at(p.name);
            let value = match table.get(p.name) {
                Some(v) => Some(read_value(p, v, source, &field)?),
                None => match p.default {
                    Default::Required => {
                        return Err(source.error(&field, format!("missing field `{}`", p.name)));
                    }
                    Default::Optional(_) => None,
                    Default::Float(v) if matches!(p.ty, Ty::PerAgent { .. }) => Some(Value::Agent(v.into())),
                    Default::Float(v) => Some(Value::Float(v)),
                    Default::Int(v) => Some(Value::Int(v)),
                    Default::Bool(v) => Some(Value::Bool(v)),
                    Default::Str(v) => Some(Value::Str(v.to_string())),
                },
            };
            values.push(value);
        }
        let values = Values { spec, values };
        for p in spec {
            if let Some((mode, allowed)) = p.only_with
                && table.contains_key(p.name)
            {
                let chosen = values.choice(mode);
                if !allowed.contains(&chosen) {
                    return Err(source.error(
                        &at(p.name),
                        format!(
                            "does not apply to {mode} `{chosen}`; it applies to: {} (remove it or change `{mode}`)",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(values)
    }

    /// The declaration of `name`.
    pub fn spec(&self, name: &str) -> &'static Param {
        self.find(name).unwrap_or_else(|| panic!("parameter `{name}` is not declared"))
    }

    /// The declaration of `name`, if it is declared.
    pub fn find(&self, name: &str) -> Option<&'static Param> {
        self.spec.iter().find(|p| p.name == name)
    }

    fn get(&self, name: &str) -> Option<&Value> {
        let i = self.spec.iter().position(|p| p.name == name);
        let i = i.unwrap_or_else(|| panic!("parameter `{name}` is not declared"));
        self.values[i].as_ref()
    }

    /// Whether `name` has a value (given, or defaulted).
    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A float parameter, if it has a value.
    pub fn opt_float(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Value::Float(v) => Some(*v),
            other => panic!("parameter `{name}` is not a float: {other:?}"),
        }
    }

    /// A float parameter with a value (required or defaulted).
    pub fn float(&self, name: &str) -> f64 {
        self.opt_float(name).unwrap_or_else(|| panic!("parameter `{name}` has no value"))
    }

    /// An integer parameter, if it has a value.
    pub fn opt_int(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::Int(v) => Some(*v),
            other => panic!("parameter `{name}` is not an integer: {other:?}"),
        }
    }

    /// An integer parameter with a value.
    pub fn int(&self, name: &str) -> u64 {
        self.opt_int(name).unwrap_or_else(|| panic!("parameter `{name}` has no value"))
    }

    /// A tick parameter (declared with [`Param::ticks`]), if it has a value.
    pub fn opt_tick(&self, name: &str) -> Option<u32> {
        self.opt_int(name).map(|v| u32::try_from(v).expect("declared within u32"))
    }

    /// A tick parameter with a value.
    pub fn tick(&self, name: &str) -> u32 {
        self.opt_tick(name).unwrap_or_else(|| panic!("parameter `{name}` has no value"))
    }

    /// A boolean parameter.
    pub fn bool(&self, name: &str) -> bool {
        match self.get(name) {
            Some(Value::Bool(v)) => *v,
            other => panic!("parameter `{name}` is not a boolean with a value: {other:?}"),
        }
    }

    /// A string parameter (choice, name, file), if it has a value.
    pub fn opt_str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Str(v) => Some(v),
            other => panic!("parameter `{name}` is not a string: {other:?}"),
        }
    }

    /// A string parameter with a value.
    pub fn str(&self, name: &str) -> &str {
        self.opt_str(name).unwrap_or_else(|| panic!("parameter `{name}` has no value"))
    }

    /// A choice parameter's value.
    pub fn choice(&self, name: &str) -> &str {
        self.str(name)
    }

    /// A per-agent parameter, if it has a value.
    pub fn opt_agent(&self, name: &str) -> Option<&AgentParam> {
        match self.get(name)? {
            Value::Agent(v) => Some(v),
            other => panic!("parameter `{name}` is not per-agent: {other:?}"),
        }
    }

    /// A per-agent parameter with a value (required or defaulted).
    pub fn agent(&self, name: &str) -> AgentParam {
        self.opt_agent(name).cloned().unwrap_or_else(|| panic!("parameter `{name}` has no value"))
    }

    /// An integer list (empty if left out).
    pub fn ints(&self, name: &str) -> &[u64] {
        match self.get(name) {
            Some(Value::Ints(v)) => v,
            None => &[],
            other => panic!("parameter `{name}` is not an integer list: {other:?}"),
        }
    }

    /// A raw value the kind reads itself ([`Ty::Tables`]).
    pub fn raw(&self, name: &str) -> Option<&toml::Value> {
        match self.get(name)? {
            Value::Raw(v) => Some(v),
            other => panic!("parameter `{name}` is not raw: {other:?}"),
        }
    }
}

fn type_name(v: &toml::Value) -> &'static str {
    v.type_str()
}

/// Reads and checks one value against its declaration.
fn read_value(p: &Param, v: &toml::Value, source: &Source, field: &str) -> Result<Value, ScenarioError> {
    let wrong = || source.error(field, format!("expected {}, found {}", p.type_text(), type_name(v)));
    let value = match p.ty {
        Ty::Float { lo, hi, open_lo, open_hi, min_positive } => {
            let x = match v {
                toml::Value::Float(x) => *x,
                toml::Value::Integer(i) => *i as f64,
                _ => return Err(wrong()),
            };
            let below = x < lo || (open_lo && x == lo);
            let above = x > hi || (open_hi && x == hi);
            if !x.is_finite() || below || above {
                let (l, r) = (if open_lo { "(" } else { "[" }, if open_hi { ")" } else { "]" });
                return Err(source.error(
                    field,
                    format!("{x} is out of range: must be in {l}{}, {}{r}", num(lo), num(hi)),
                ));
            }
            if x > 0.0 && x < min_positive {
                return Err(source.error(
                    field,
                    format!("{x} is below the smallest amount {}: write 0 for none", num(min_positive)),
                ));
            }
            Value::Float(x)
        }
        Ty::Int { lo, hi } => {
            let toml::Value::Integer(i) = v else { return Err(wrong()) };
            match u64::try_from(*i) {
                Ok(x) if (lo..=hi).contains(&x) => Value::Int(x),
                _ => return Err(source.error(field, format!("{i} is out of range: must be in [{lo}, {hi}]"))),
            }
        }
        Ty::Bool => match v {
            toml::Value::Boolean(b) => Value::Bool(*b),
            _ => return Err(wrong()),
        },
        Ty::Choice(choices) => {
            let toml::Value::String(s) = v else { return Err(wrong()) };
            if !choices.contains(&s.as_str()) {
                let c: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
                return Err(
                    source.error(field, format!("unknown variant `{s}`, expected one of {}", c.join(", ")))
                );
            }
            Value::Str(s.clone())
        }
        Ty::Asset | Ty::Contract(_) | Ty::Account(_) | Ty::Name | Ty::Slot | Ty::File => {
            let toml::Value::String(s) = v else { return Err(wrong()) };
            if s.trim().is_empty() {
                return Err(source.error(field, "must not be empty"));
            }
            Value::Str(s.clone())
        }
        Ty::PerAgent { lo, hi } => {
            let a: AgentParam = from_table(source, field, v.clone())?;
            a.0.check_range(lo, hi).map_err(|m| source.error(field, m))?;
            Value::Agent(a)
        }
        Ty::IntList { lo, hi } => {
            let toml::Value::Array(items) = v else { return Err(wrong()) };
            let mut out = Vec::with_capacity(items.len());
            for (k, item) in items.iter().enumerate() {
                let at = format!("{field}.{k}");
                match item {
                    toml::Value::Integer(i) if u64::try_from(*i).is_ok_and(|x| (lo..=hi).contains(&x)) => {
                        out.push(*i as u64)
                    }
                    toml::Value::Integer(i) => {
                        return Err(
                            source.error(&at, format!("{i} is out of range: must be in [{lo}, {hi}]"))
                        );
                    }
                    other => {
                        return Err(
                            source.error(&at, format!("expected an integer, found {}", type_name(other)))
                        );
                    }
                }
            }
            Value::Ints(out)
        }
        Ty::Tables(_) => Value::Raw(v.clone()),
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[Param] = &[
        Param::choice("mode", &["a", "b"]).default_str("a").doc("mode"),
        Param::float("x", 0.0, 1.0).open_high().doc("x"),
        Param::float("only_b", 0.0, 10.0).optional("none").only_with("mode", &["b"]).doc("b only"),
        Param::int_list("ticks", 1, 5).optional("none").doc("ticks"),
        Param::per_agent("p", 0.0, 1.0).default_float(0.5).doc("p"),
        Param::asset("token").optional("none").doc("token"),
    ];

    fn read(text: &str) -> Result<Values, String> {
        let (source, table) = Source::parse("t.toml".as_ref(), text.into()).map_err(|e| e.to_string())?;
        Values::read(SPEC, &source, "", &table).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_values() {
        let v = read("x = 0.25\n").unwrap();
        assert_eq!(v.choice("mode"), "a");
        assert_eq!(v.float("x"), 0.25);
        assert_eq!(v.opt_float("only_b"), None);
        assert_eq!(v.agent("p"), 0.5.into());
        assert!(v.ints("ticks").is_empty());
        let v = read("x = 0\nmode = \"b\"\nonly_b = 3\nticks = [1, 5]\n").unwrap();
        assert_eq!(v.opt_float("only_b"), Some(3.0));
        assert_eq!(v.ints("ticks"), &[1, 5]);
    }

    #[test]
    fn every_class_of_bad_value_is_located() {
        let cases = [
            ("x = 1.0\n", "t.toml:1:1: `x`: 1 is out of range: must be in [0, 1)"),
            ("x = inf\n", "inf is out of range"),
            ("x = \"a\"\n", "expected float in [0, 1), found string"),
            ("mode = \"c\"\nx = 0\n", "unknown variant `c`, expected one of `a`, `b`"),
            ("\ny = 0\n", "t.toml:2:1: `y`: unknown field `y`, expected one of `mode`, `x`"),
            ("mode = \"a\"\n", "`x`: missing field `x`"),
            ("x = 0\nonly_b = 1\n", "`only_b`: does not apply to mode `a`; it applies to: b"),
            ("x = 0\nticks = [1, 9]\n", "`ticks.1`: 9 is out of range"),
            ("x = 0\np = 2\n", "`p`: value 2 is outside the allowed range [0, 1]"),
            ("x = 0\ntoken = \"\"\n", "`token`: must not be empty"),
        ];
        for (text, says) in cases {
            let err = read(text).unwrap_err();
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn documentation_comes_from_the_declaration() {
        assert_eq!(SPEC[1].type_text(), "float in [0, 1)");
        assert_eq!(SPEC[0].default_text().as_deref(), Some("\"a\""));
        assert_eq!(SPEC[1].default_text(), None);
        assert_eq!(SPEC[2].doc_text(), "only with mode = \"b\": b only");
        assert_eq!(Param::amount("a").type_text(), "float in [0, 1e15], 0 or >= 1e-9");
        assert_eq!(Param::positive_amount("a").type_text(), "float in [1e-9, 1e15]");
    }
}
