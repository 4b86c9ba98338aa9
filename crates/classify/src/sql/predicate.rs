//! Whether a WHERE clause selects every row: `true`, `1=1`, `'a'='a'`, `x = x`, `NOT false`,
//! `... OR true`, `name LIKE '%'`, and clauses that do not look at the row at all
//! (`WHERE $1`, `WHERE now() > '2000-01-01'`), which select every row or none.
//!
//! Literal values are read only where the answer depends on them, and each such read is
//! reported: a decision cached under a literal-insensitive key must not be reused for a
//! statement that differs only in those values (`WHERE 1=1` and `WHERE 1=2` share a
//! fingerprint).

use pg_query::NodeEnum;
use pg_query::protobuf::{AExpr, AExprKind, BoolExprType, BoolTestType, Node, NullTestType, a_const};

use super::scan;

/// What a predicate selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rows {
    /// Every row (for every row it is true).
    All,
    /// No row.
    None,
    /// It does not depend on the row: every row or none, decided by values Holdpoint does not
    /// know (parameters, functions of no column).
    AllOrNone,
    /// It depends on the row's values: a real filter.
    Some,
}

impl Rows {
    fn not(self) -> Rows {
        match self {
            Rows::All => Rows::None,
            Rows::None => Rows::All,
            other => other,
        }
    }

    fn or(self, other: Rows) -> Rows {
        use Rows::{All, AllOrNone, None, Some};
        match (self, other) {
            (All, _) | (_, All) => All,
            (None, x) | (x, None) => x,
            // Unknown values that do not depend on the row can turn a filter into "all".
            (AllOrNone, _) | (_, AllOrNone) => AllOrNone,
            (Some, Some) => Some,
        }
    }

    fn and(self, other: Rows) -> Rows {
        use Rows::{All, AllOrNone, None, Some};
        match (self, other) {
            (None, _) | (_, None) => None,
            (All, x) | (x, All) => x,
            (Some, _) | (_, Some) => Some,
            (AllOrNone, AllOrNone) => AllOrNone,
        }
    }
}

/// A constant's value, as far as the comparison needs it.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
}

/// Evaluates predicates, remembering whether a literal value was read.
#[derive(Default)]
pub(crate) struct Eval {
    /// A literal or parameter value decided part of the answer.
    pub literal: bool,
}

impl Eval {
    /// What a WHERE clause selects.
    pub fn rows(&mut self, node: &Node) -> Rows {
        let Some(n) = node.node.as_ref() else { return Rows::AllOrNone };
        match n {
            NodeEnum::BoolExpr(b) => {
                let parts: Vec<Rows> = b.args.iter().map(|a| self.rows(a)).collect();
                match BoolExprType::try_from(b.boolop) {
                    Ok(BoolExprType::AndExpr) => parts.into_iter().fold(Rows::All, Rows::and),
                    Ok(BoolExprType::OrExpr) => parts.into_iter().fold(Rows::None, Rows::or),
                    Ok(BoolExprType::NotExpr) => parts.into_iter().fold(Rows::All, Rows::and).not(),
                    _ => self.fallback(node),
                }
            }
            NodeEnum::AExpr(e) => self.a_expr(e, node),
            NodeEnum::NullTest(t) => {
                let Some(arg) = t.arg.as_deref() else { return self.fallback(node) };
                if on_row(arg).is_some() {
                    return Rows::Some;
                }
                match self.value(arg) {
                    Some(v) => {
                        let is_null = v == Value::Null;
                        let want_null = NullTestType::try_from(t.nulltesttype) == Ok(NullTestType::IsNull);
                        if is_null == want_null { Rows::All } else { Rows::None }
                    }
                    None => Rows::AllOrNone,
                }
            }
            NodeEnum::BooleanTest(t) => {
                let Some(arg) = t.arg.as_deref() else { return self.fallback(node) };
                let inner = self.rows(arg);
                match BoolTestType::try_from(t.booltesttype) {
                    Ok(BoolTestType::IsTrue | BoolTestType::IsNotFalse) => inner,
                    Ok(BoolTestType::IsFalse | BoolTestType::IsNotTrue) => inner.not(),
                    _ => self.fallback(node),
                }
            }
            // `WHERE CURRENT OF cursor`: the one row a cursor is on.
            NodeEnum::CurrentOfExpr(_) => Rows::Some,
            _ if on_row(node).is_some() => Rows::Some,
            _ => match self.value(node).as_ref().map(truth) {
                Some(Some(true)) => Rows::All,
                Some(Some(false)) => Rows::None,
                _ => Rows::AllOrNone,
            },
        }
    }

    /// A node whose meaning is not modelled: a filter when it reads the row, otherwise it
    /// selects every row or none.
    fn fallback(&mut self, node: &Node) -> Rows {
        if reads_row(node) {
            Rows::Some
        } else {
            self.literal = true;
            Rows::AllOrNone
        }
    }

    fn a_expr(&mut self, e: &AExpr, node: &Node) -> Rows {
        let (Some(l), Some(r)) = (e.lexpr.as_deref(), e.rexpr.as_deref()) else { return self.fallback(node) };
        let kind = AExprKind::try_from(e.kind).unwrap_or(AExprKind::Undefined);
        match kind {
            AExprKind::AexprOp | AExprKind::AexprDistinct | AExprKind::AexprNotDistinct => {
                let op = operator(e);
                let op = match kind {
                    AExprKind::AexprDistinct => "<>",
                    AExprKind::AexprNotDistinct => "=",
                    _ => op.as_str(),
                };
                self.compare(op, l, r)
            }
            AExprKind::AexprLike | AExprKind::AexprIlike => {
                let negated = operator(e).starts_with('!');
                let result = match (on_row(l), on_row(r)) {
                    (Some(_), None) => match self.value(r) {
                        Some(Value::Text(p)) if p.chars().all(|c| c == '%') => Rows::All,
                        _ => Rows::Some,
                    },
                    (Some(_), Some(_)) | (None, Some(_)) => Rows::Some,
                    (None, None) => {
                        self.literal = true;
                        Rows::AllOrNone
                    }
                };
                if negated { result.not() } else { result }
            }
            _ => self.fallback(node),
        }
    }

    /// `l op r`. Constants are read only when neither side looks at the row.
    fn compare(&mut self, op: &str, l: &Node, r: &Node) -> Rows {
        match (on_row(l), on_row(r)) {
            (Some(OnRow::Column(a)), Some(OnRow::Column(b))) if a == b => match op {
                "=" | "<=" | ">=" => Rows::All,
                "<>" | "!=" | "<" | ">" => Rows::None,
                _ => Rows::Some,
            },
            (Some(_), _) | (_, Some(_)) => Rows::Some,
            (None, None) => match (self.value(l), self.value(r)) {
                (Some(a), Some(b)) => match fold(op, &a, &b) {
                    Some(true) => Rows::All,
                    Some(false) => Rows::None,
                    None => Rows::AllOrNone,
                },
                _ => Rows::AllOrNone,
            },
        }
    }

    /// The value of an expression that does not look at the row, when it is a constant
    /// Holdpoint can read; reading it is recorded.
    fn value(&mut self, node: &Node) -> Option<Value> {
        self.literal = true;
        match node.node.as_ref()? {
            NodeEnum::AConst(c) => Some(constant(c)),
            NodeEnum::TypeCast(t) => {
                let v = self.value(t.arg.as_deref()?)?;
                let to_bool = t.type_name.as_ref().is_some_and(|ty| {
                    ty.names
                        .last()
                        .and_then(|n| n.node.as_ref())
                        .is_some_and(|n| matches!(n, NodeEnum::String(s) if s.sval == "bool" || s.sval == "boolean"))
                });
                match v {
                    Value::Text(s) if to_bool => bool_text(&s).map(Value::Bool),
                    Value::Number(n) if to_bool => Some(Value::Bool(n != 0.0)),
                    other => Some(other),
                }
            }
            // A minus sign before a number.
            NodeEnum::AExpr(e) if e.lexpr.is_none() && operator(e) == "-" => match self.value(e.rexpr.as_deref()?)? {
                Value::Number(n) => Some(Value::Number(-n)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// How an expression looks at the row, if it does.
#[derive(PartialEq)]
enum OnRow<'a> {
    /// A plain column reference, by its name parts.
    Column(Vec<&'a str>),
    /// Any other expression that reads a column.
    Other,
}

fn on_row(node: &Node) -> Option<OnRow<'_>> {
    if let Some(NodeEnum::ColumnRef(c)) = node.node.as_ref() {
        let parts: Vec<&str> = c
            .fields
            .iter()
            .filter_map(|f| match f.node.as_ref() {
                Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                _ => None,
            })
            .collect();
        return Some(if parts.len() == c.fields.len() { OnRow::Column(parts) } else { OnRow::Other });
    }
    reads_row(node).then_some(OnRow::Other)
}

/// Whether an expression looks at the row (a column reference anywhere below it).
fn reads_row(node: &Node) -> bool {
    scan::scan(node).columns > 0
}

/// The operator's name (`=`, `<>`, `~~`...), schema qualification dropped.
fn operator(e: &AExpr) -> String {
    e.name
        .last()
        .and_then(|n| match n.node.as_ref() {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn constant(c: &pg_query::protobuf::AConst) -> Value {
    if c.isnull {
        return Value::Null;
    }
    match c.val.as_ref() {
        Some(a_const::Val::Boolval(b)) => Value::Bool(b.boolval),
        Some(a_const::Val::Ival(i)) => Value::Number(f64::from(i.ival)),
        Some(a_const::Val::Fval(f)) => f.fval.parse().map_or_else(|_| Value::Text(f.fval.clone()), Value::Number),
        Some(a_const::Val::Sval(s)) => Value::Text(s.sval.clone()),
        Some(a_const::Val::Bsval(b)) => Value::Text(b.bsval.clone()),
        None => Value::Null,
    }
}

/// PostgreSQL's boolean input: `t`, `true`, `yes`, `on`, `1` and their prefixes.
fn bool_text(s: &str) -> Option<bool> {
    let s = s.trim().to_ascii_lowercase();
    if s.is_empty() {
        return None;
    }
    let prefix_of = |word: &str, min: usize| s.len() >= min && word.starts_with(s.as_str());
    if prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) || s == "1" {
        Some(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || s == "0" {
        Some(false)
    } else {
        None
    }
}

/// A constant used as a whole WHERE clause.
fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Null => Some(false),
        Value::Bool(b) => Some(*b),
        Value::Text(s) => bool_text(s),
        Value::Number(_) => None,
    }
}

/// `a op b` for two constants, when Holdpoint can tell.
fn fold(op: &str, a: &Value, b: &Value) -> Option<bool> {
    use std::cmp::Ordering;
    if *a == Value::Null || *b == Value::Null {
        // Any comparison with NULL is NULL: no row.
        return Some(false);
    }
    let ord = match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(y)?,
        (Value::Text(x), Value::Text(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        // `1 = '1'`: the text is read as a number, as PostgreSQL does.
        (Value::Number(x), Value::Text(y)) => x.partial_cmp(&y.trim().parse::<f64>().ok()?)?,
        (Value::Text(x), Value::Number(y)) => x.trim().parse::<f64>().ok()?.partial_cmp(y)?,
        (Value::Bool(x), Value::Text(y)) => x.cmp(&bool_text(y)?),
        (Value::Text(x), Value::Bool(y)) => bool_text(x)?.cmp(y),
        _ => return None,
    };
    match op {
        "=" => Some(ord == Ordering::Equal),
        "<>" | "!=" => Some(ord != Ordering::Equal),
        "<" => Some(ord == Ordering::Less),
        ">" => Some(ord == Ordering::Greater),
        "<=" => Some(ord != Ordering::Greater),
        ">=" => Some(ord != Ordering::Less),
        _ => None,
    }
}
