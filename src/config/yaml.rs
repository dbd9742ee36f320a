//! A YAML tree that remembers where every node and key stands, for `file:line:col` diagnostics.
//!
//! yaml-rust2 supplies the parser events with their positions; this module builds them into
//! [`Node`]s, reports duplicate keys, resolves plain scalars by the YAML 1.2 core schema,
//! interpolates `${VAR}` / `${VAR:-default}` in scalars, and turns the tree into JSON for the
//! schema check and typed deserialization.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a file: line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        Pos {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// A YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// What the node holds.
    pub kind: Kind,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order; keys are strings (with their own positions).
    Map(Vec<(String, Pos, Node)>),
}

/// A problem found while reading YAML, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub pos: Pos,
    /// What, as a sentence fragment.
    pub message: String,
    /// A short machine-readable code (`syntax`, `duplicate-key`, `variable`).
    pub code: super::Code,
}

/// Reads the environment for `${VAR}` interpolation.
pub trait Env {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Parses every document of `src`. Syntax errors end parsing (one problem); duplicate keys
/// and interpolation problems are collected and parsing goes on.
pub fn parse(src: &str, env: &dyn Env) -> (Vec<Node>, Vec<Problem>) {
    let mut builder = Builder {
        env,
        stack: Vec::new(),
        docs: Vec::new(),
        anchors: HashMap::new(),
        problems: Vec::new(),
    };
    let mut parser = Parser::new_from_str(src);
    if let Err(e) = parser.load(&mut builder, true) {
        let pos = Pos::from(*e.marker());
        builder.problems.push(Problem {
            pos,
            message: format!("invalid YAML: {}", e.info()),
            code: super::Code::Syntax,
        });
        builder.docs.clear();
    }
    (builder.docs, builder.problems)
}

enum Frame {
    Seq(Pos, usize, Vec<Node>),
    Map(Pos, usize, Vec<(String, Pos, Node)>, Option<(String, Pos)>),
}

struct Builder<'e> {
    env: &'e dyn Env,
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
    problems: Vec<Problem>,
}

impl Builder<'_> {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, pending)) => match pending.take() {
                None => {
                    let key = match node.kind {
                        Kind::Str(s) => s,
                        Kind::Int(i) => i.to_string(),
                        Kind::Bool(b) => b.to_string(),
                        Kind::Float(f) => f.to_string(),
                        Kind::Null => "null".to_string(),
                        Kind::Seq(_) | Kind::Map(_) => {
                            self.problems.push(Problem {
                                pos: node.pos,
                                message:
                                    "a mapping key must be a plain value, not a list or mapping"
                                        .into(),
                                code: super::Code::Syntax,
                            });
                            String::new()
                        }
                    };
                    if let Some((_, first, _)) = entries.iter().find(|(k, _, _)| *k == key) {
                        self.problems.push(Problem {
                            pos: node.pos,
                            message: format!(
                                "duplicate key `{key}` (first at line {}, column {})",
                                first.line, first.col
                            ),
                            code: super::Code::DuplicateKey,
                        });
                    }
                    *pending = Some((key, node.pos));
                }
                Some((key, kpos)) => entries.push((key, kpos, node)),
            },
        }
    }

    fn scalar(&mut self, value: String, style: TScalarStyle, pos: Pos, tag: Option<&str>) -> Node {
        let value = if value.contains('$') {
            match interpolate(&value, self.env) {
                Ok(v) => v,
                Err(message) => {
                    self.problems.push(Problem {
                        pos,
                        message,
                        code: super::Code::Variable,
                    });
                    value
                }
            }
        } else {
            value
        };
        let kind = match (style, tag) {
            (_, Some("str")) => Kind::Str(value),
            (TScalarStyle::Plain, _) => resolve_plain(value),
            _ => Kind::Str(value),
        };
        Node { pos, kind }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from(mark);
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag
                    .as_ref()
                    .filter(|t| t.handle == "tag:yaml.org,2002:" || t.handle == "!!")
                    .map(|t| t.suffix.as_str());
                let node = self.scalar(value, style, pos, tag);
                self.push_node(node, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(pos, anchor, Vec::new())),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(pos, anchor, Vec::new(), None))
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(p, anchor, items)) = self.stack.pop() {
                    self.push_node(
                        Node {
                            pos: p,
                            kind: Kind::Seq(items),
                        },
                        anchor,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(p, anchor, entries, _)) = self.stack.pop() {
                    self.push_node(
                        Node {
                            pos: p,
                            kind: Kind::Map(entries),
                        },
                        anchor,
                    );
                }
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(n) => Node {
                        pos,
                        kind: n.kind.clone(),
                    },
                    None => Node {
                        pos,
                        kind: Kind::Null,
                    },
                };
                self.push_node(node, 0);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema.
fn resolve_plain(s: String) -> Kind {
    match s.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(&s);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = s.parse::<i64>()
    {
        return Kind::Int(i);
    }
    if let Some(hex) = s.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Kind::Int(i);
    }
    if let Some(oct) = s.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Kind::Int(i);
    }
    let looks_float = digits
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_float && let Ok(f) = s.parse::<f64>() {
        return Kind::Float(f);
    }
    match digits {
        ".inf" | ".Inf" | ".INF" => Kind::Float(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        ".nan" | ".NaN" | ".NAN" => Kind::Float(f64::NAN),
        _ => Kind::Str(s),
    }
}

/// Replaces `${VAR}` and `${VAR:-default}` in `s`; `$$` stands for a literal `$`.
pub fn interpolate(s: &str, env: &dyn Env) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| format!("unterminated `${{` in `{s}`: close it with `}}`, or write `$$` for a literal `$`"))?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if name.is_empty()
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                || name.as_bytes()[0].is_ascii_digit()
            {
                return Err(format!(
                    "invalid variable name `{name}` in `${{{expr}}}`: use letters, digits and `_`"
                ));
            }
            match (env.var(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set: set it, or give a default with `${{{name}:-value}}`"
                    ));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl Node {
    /// The node as JSON (keys in file order).
    pub fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::Number((*i).into()),
            Kind::Float(f) => Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (k, _, v) in entries {
                    map.insert(k.clone(), v.to_json());
                }
                Value::Object(map)
            }
        }
    }

    /// Follows a path of map keys and list indexes; returns the node's position, or that of
    /// the deepest node reached. With `key` set, the last segment names a key: its position is
    /// returned rather than its value's.
    pub fn locate<S: AsRef<str>>(&self, path: &[S], key: bool) -> Pos {
        let mut node = self;
        for (i, seg) in path.iter().enumerate() {
            let seg = seg.as_ref();
            let last = i + 1 == path.len();
            match &node.kind {
                Kind::Map(entries) => match entries.iter().find(|(k, _, _)| k == seg) {
                    Some((_, kpos, v)) => {
                        if last && key {
                            return *kpos;
                        }
                        node = v;
                    }
                    None => return node.pos,
                },
                Kind::Seq(items) => match seg.parse::<usize>().ok().and_then(|i| items.get(i)) {
                    Some(v) => node = v,
                    None => return node.pos,
                },
                _ => return node.pos,
            }
        }
        node.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn positions_are_one_based() {
        let (docs, problems) = parse("a: 1\nb:\n  - x\n  - y: true\n", &env(&[]));
        assert!(problems.is_empty());
        let doc = &docs[0];
        assert_eq!(doc.locate(&["a"], true), Pos { line: 1, col: 1 });
        assert_eq!(doc.locate(&["a"], false), Pos { line: 1, col: 4 });
        assert_eq!(doc.locate(&["b", "1", "y"], false), Pos { line: 4, col: 8 });
        assert_eq!(doc.locate(&["b", "1", "y"], true), Pos { line: 4, col: 5 });
        assert_eq!(
            doc.to_json(),
            serde_json::json!({"a": 1, "b": ["x", {"y": true}]})
        );
    }

    #[test]
    fn plain_scalars_resolve_by_core_schema() {
        let (docs, _) = parse(
            "[1, -2, 1.5, true, null, ~, '3', \"x\", 1d, 0x10, 1e3]",
            &env(&[]),
        );
        assert_eq!(
            docs[0].to_json(),
            serde_json::json!([1, -2, 1.5, true, null, null, "3", "x", "1d", 16, 1000.0])
        );
    }

    #[test]
    fn duplicate_keys_are_reported_at_the_second() {
        let (_, problems) = parse("a: 1\nb: 2\na: 3\n", &env(&[]));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].pos, Pos { line: 3, col: 1 });
        assert_eq!(
            problems[0].message,
            "duplicate key `a` (first at line 1, column 1)"
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let (docs, problems) = parse("a: [1, 2\nb: 3\n", &env(&[]));
        assert!(docs.is_empty());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].code, crate::config::Code::Syntax);
        assert!(problems[0].pos.line >= 1);
    }

    #[test]
    fn interpolation() {
        let e = env(&[("HOST", "example.com"), ("N", "5")]);
        assert_eq!(
            interpolate("https://${HOST}/cb", &e).unwrap(),
            "https://example.com/cb"
        );
        assert_eq!(interpolate("${MISSING:-dflt}-${N}", &e).unwrap(), "dflt-5");
        assert_eq!(interpolate("$$HOME and $5", &e).unwrap(), "$HOME and $5");
        assert!(
            interpolate("${MISSING}", &e)
                .unwrap_err()
                .contains("`MISSING` is not set")
        );
        assert!(
            interpolate("${1BAD}", &e)
                .unwrap_err()
                .contains("invalid variable name")
        );
        assert!(
            interpolate("${OPEN", &e)
                .unwrap_err()
                .contains("unterminated")
        );
        // An interpolated plain scalar resolves after substitution.
        let (docs, problems) = parse("limit: ${N}\nname: '${N}'\n", &e);
        assert!(problems.is_empty());
        assert_eq!(
            docs[0].to_json(),
            serde_json::json!({"limit": 5, "name": "5"})
        );
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let (docs, _) = parse("a: &x [p1, p2]\nb: *x\n", &env(&[]));
        assert_eq!(
            docs[0].to_json(),
            serde_json::json!({"a": ["p1", "p2"], "b": ["p1", "p2"]})
        );
    }
}
