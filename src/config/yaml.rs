//! A YAML tree that remembers where every node and key stands, for `file:line:col` diagnostics.
//!
//! yaml-rust2 supplies the parser events with their positions; this module builds them into
//! [`Node`]s, reports duplicate keys, resolves plain scalars by the YAML 1.2 core schema,
//! interpolates `${VAR}` / `${VAR:-default}` in scalars, and turns the tree into JSON for the
//! schema check and typed deserialization.
//!
//! Hostile input is bounded here, where the damage would happen: yaml-rust2's event parser
//! keeps its state on the heap, but its `Parser::load` recurses once per nesting level and
//! aliases are expanded by whoever builds the tree. So this module pulls the events itself
//! (no recursion), refuses nesting deeper than [`Limits::depth`] before building it, and
//! counts the nodes an alias would copy against [`Limits::nodes`] before copying them. The
//! trees it returns are therefore shallow enough for the recursive code after it (`to_json`,
//! the schema check, serde, `Drop`). yaml-rust2's scanner also reads some flow collections
//! whole before the parser sees them, so the text it reads is cut off [`Limits::lookahead`]
//! characters past the last event.

use std::cell::Cell;
use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Environment variable raising the size limit of one config file, in bytes.
pub const MAX_BYTES_VAR: &str = "REGISTRAR_MAX_CONFIG_BYTES";
/// Environment variable raising the node budget of one file (after alias expansion).
pub const MAX_NODES_VAR: &str = "REGISTRAR_MAX_YAML_NODES";
/// Environment variable raising the number of aliases one file may use.
pub const MAX_ALIASES_VAR: &str = "REGISTRAR_MAX_YAML_ALIASES";
/// Environment variable raising the nesting limit (lists and mappings, block and flow).
pub const MAX_DEPTH_VAR: &str = "REGISTRAR_MAX_YAML_DEPTH";
/// Environment variable raising how far the YAML reader may read ahead of what it has used.
pub const MAX_LOOKAHEAD_VAR: &str = "REGISTRAR_MAX_YAML_LOOKAHEAD";

/// The deepest nesting [`MAX_DEPTH_VAR`] may ask for: the code after the reader recurses once
/// per level, and must not run out of stack.
pub const DEPTH_CEILING: usize = 1_000;

/// What one config file may make the reader build. A real config is far below every default:
/// `registry.yaml` declares 9 resources in 3 KB, 227 nodes, nested 6 deep, so the defaults
/// leave room for about 10,000 resources in one file (and a config may span many files). An
/// alias bomb or a nesting bomb is stopped at the limit with a diagnostic before the memory
/// or stack it asks for is used: at the default node budget the reader holds about 40 MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in one file ([`MAX_BYTES_VAR`]).
    pub bytes: u64,
    /// Nodes in one file's documents, counting every copy an alias makes ([`MAX_NODES_VAR`]).
    pub nodes: usize,
    /// Aliases (`*name`) in one file ([`MAX_ALIASES_VAR`]).
    pub aliases: usize,
    /// Nesting of lists and mappings, block and flow style alike ([`MAX_DEPTH_VAR`]).
    pub depth: usize,
    /// Characters the reader may read ahead of the last event ([`MAX_LOOKAHEAD_VAR`]): it
    /// reads a flow collection or a scalar whole first, at ~100 bytes a character.
    pub lookahead: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bytes: 8 * 1024 * 1024,
            nodes: 250_000,
            aliases: 10_000,
            depth: 64,
            lookahead: 256 * 1024,
        }
    }
}

impl Limits {
    /// The defaults, with any of the `REGISTRAR_MAX_*` variables set in `env` taken instead.
    /// A value that is not a positive whole number is reported and the default kept.
    pub fn from_env(env: &dyn Env) -> (Limits, Vec<String>) {
        let mut limits = Limits::default();
        let mut problems = Vec::new();
        let mut read = |name: &str, slot: &mut u64| {
            if let Some(v) = env.var(name) {
                match v.trim().replace('_', "").parse::<u64>() {
                    Ok(n) if n > 0 => *slot = n,
                    _ => problems.push(format!(
                        "`{name}={v}` is not a positive whole number: using the default, {slot}"
                    )),
                }
            }
        };
        let (mut nodes, mut aliases, mut depth, mut lookahead) = (
            limits.nodes as u64,
            limits.aliases as u64,
            limits.depth as u64,
            limits.lookahead as u64,
        );
        read(MAX_BYTES_VAR, &mut limits.bytes);
        read(MAX_NODES_VAR, &mut nodes);
        read(MAX_ALIASES_VAR, &mut aliases);
        read(MAX_DEPTH_VAR, &mut depth);
        read(MAX_LOOKAHEAD_VAR, &mut lookahead);
        if depth > DEPTH_CEILING as u64 {
            problems.push(format!(
                "`{MAX_DEPTH_VAR}={depth}` is above the ceiling of {DEPTH_CEILING}: using {DEPTH_CEILING}"
            ));
            depth = DEPTH_CEILING as u64;
        }
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        limits.nodes = size(nodes);
        limits.aliases = size(aliases);
        limits.depth = size(depth);
        limits.lookahead = size(lookahead);
        (limits, problems)
    }
}

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

/// Parses every document of `src` within the default [`Limits`].
pub fn parse(src: &str, env: &dyn Env) -> (Vec<Node>, Vec<Problem>) {
    parse_limited(src, env, &Limits::default())
}

/// Parses every document of `src`. Syntax errors and exceeded limits end parsing (one
/// problem, no documents); duplicate keys and interpolation problems are collected and
/// parsing goes on.
pub fn parse_limited(src: &str, env: &dyn Env, limits: &Limits) -> (Vec<Node>, Vec<Problem>) {
    let mut builder = Builder {
        env,
        limits: *limits,
        stack: Vec::new(),
        docs: Vec::new(),
        anchors: HashMap::new(),
        doc_anchors_from: 1,
        last_anchor: 0,
        nodes: 0,
        aliases: 0,
        problems: Vec::new(),
        stop: None,
    };
    let used = Cell::new(0);
    let cut = Cell::new(None);
    let source = Source {
        chars: src.chars(),
        read: 0,
        used: &used,
        cut: &cut,
        lookahead: limits.lookahead,
        idle: 0,
        idle_since: 0,
        line: Line::Blank,
    };
    // Pull the events one at a time: `Parser::load` would recurse once per nesting level.
    let mut parser = Parser::new(source);
    loop {
        let next = parser.next_token();
        if let Some(at) = cut.get() {
            builder.stop = Some(Problem {
                pos: pos_of_char(src, at),
                message: format!(
                    "the YAML reader would have to read more than {} characters ahead here: it reads a \
                     flow list or mapping (`[…]`, `{{…}}`) or a scalar whole before using any of it; \
                     write long lists in block style (`- item` a line), or if a real config needs \
                     this, raise the limit with `{MAX_LOOKAHEAD_VAR}`",
                    limits.lookahead
                ),
                code: super::Code::Limit,
            });
        } else {
            match next {
                Ok((Event::StreamEnd, _)) => break,
                Ok((ev, mark)) => {
                    used.set(mark.index());
                    builder.on_event(ev, mark);
                }
                Err(e) if e.info() == "recursion limit exceeded" => {
                    // The scanner reads flow collections ahead of the parser, and counts their
                    // nesting in a byte: past 255 levels it stops before the depth check sees
                    // the events.
                    let most = builder.limits.depth.min(FLOW_DEPTH_CEILING);
                    builder.stop = Some(Problem {
                        pos: Pos::from(*e.marker()),
                        message: depth_message(most, most == FLOW_DEPTH_CEILING),
                        code: super::Code::Limit,
                    });
                }
                Err(e) => {
                    builder.stop = Some(Problem {
                        pos: Pos::from(*e.marker()),
                        message: format!("invalid YAML: {}", e.info()),
                        code: super::Code::Syntax,
                    });
                }
            }
        }
        if let Some(problem) = builder.stop.take() {
            builder.problems.push(problem);
            builder.docs.clear();
            break;
        }
    }
    (builder.docs, builder.problems)
}

/// The deepest flow nesting yaml-rust2's scanner accepts.
const FLOW_DEPTH_CEILING: usize = 255;

fn depth_message(depth: usize, flow_ceiling: bool) -> String {
    if flow_ceiling {
        format!(
            "flow lists and mappings (`[…]`, `{{…}}`) nested more than {depth} deep: the YAML reader \
             allows no more; write deep structures in block style"
        )
    } else {
        format!(
            "lists and mappings nested more than {depth} deep: a config needs a few levels; if a \
             real config needs more, raise the limit with `{MAX_DEPTH_VAR}` (at most {DEPTH_CEILING})"
        )
    }
}

/// The line and column of the `index`th character of `src`.
fn pos_of_char(src: &str, index: usize) -> Pos {
    let mut pos = Pos { line: 1, col: 1 };
    for c in src.chars().take(index) {
        if c == '\n' {
            pos = Pos {
                line: pos.line + 1,
                col: 1,
            };
        } else {
            pos.col += 1;
        }
    }
    pos
}

/// The text as yaml-rust2's scanner reads it. The scanner reads a whole flow collection (and a
/// whole scalar) before the parser emits its first event, holding a token of about 100 bytes
/// per character of it; so the text ends, as far as the scanner can tell, once it is more than
/// [`Limits::lookahead`] characters ahead of the last event, and `cut` says where. Blank and
/// comment-only lines do not count: the scanner skips them holding nothing (a large block
/// commented out is no reason to stop).
struct Source<'a> {
    chars: std::str::Chars<'a>,
    read: usize,
    used: &'a Cell<usize>,
    cut: &'a Cell<Option<usize>>,
    lookahead: usize,
    /// Characters on blank and comment-only lines (and line breaks) read since the event at
    /// `idle_since`.
    idle: usize,
    idle_since: usize,
    line: Line,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Nothing but blanks so far.
    Blank,
    Comment,
    Content,
}

impl Iterator for Source<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        if self.cut.get().is_some() {
            return None;
        }
        let used = self.used.get();
        if used != self.idle_since {
            self.idle = 0;
            self.idle_since = used;
        }
        let ahead = self.read.saturating_sub(used).saturating_sub(self.idle);
        if ahead > self.lookahead {
            self.cut.set(Some(self.read));
            return None;
        }
        let c = self.chars.next()?;
        self.read += 1;
        match (self.line, c) {
            (_, '\n') => {
                self.line = Line::Blank;
                self.idle += 1;
            }
            (Line::Blank, ' ' | '\t' | '\r') => self.idle += 1,
            (Line::Blank, '#') | (Line::Comment, _) => {
                self.line = Line::Comment;
                self.idle += 1;
            }
            _ => self.line = Line::Content,
        }
        Some(c)
    }
}

enum Content {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(String, Pos, Node)>,
        /// Where each key was first seen: duplicate keys are found in constant time.
        first: HashMap<String, Pos>,
        pending: Option<(String, Pos)>,
    },
}

/// A list or mapping being built.
struct Frame {
    pos: Pos,
    anchor: usize,
    /// Nodes in it so far, itself and mapping keys included.
    size: usize,
    content: Content,
}

struct Builder<'e> {
    env: &'e dyn Env,
    limits: Limits,
    stack: Vec<Frame>,
    docs: Vec<Node>,
    /// Anchored nodes of the current document, with their size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// yaml-rust2 numbers anchors across documents; ids below this one are earlier documents'.
    doc_anchors_from: usize,
    last_anchor: usize,
    /// Nodes built so far, every alias copy counted.
    nodes: usize,
    aliases: usize,
    problems: Vec<Problem>,
    /// A problem that ends parsing (a limit exceeded).
    stop: Option<Problem>,
}

impl Builder<'_> {
    /// Counts `n` more nodes against the budget; false (and a stop) when it would be exceeded.
    fn count(&mut self, n: usize, pos: Pos, alias: bool) -> bool {
        let total = self.nodes.saturating_add(n);
        if total > self.limits.nodes {
            let what = if alias {
                "this alias would take the file"
            } else {
                "the file has"
            };
            self.stop = Some(Problem {
                pos,
                message: format!(
                    "{what} over {} YAML nodes, counting each alias as a copy of what it names: \
                     the limit stops alias bombs; if a real config needs more, raise it with `{MAX_NODES_VAR}`",
                    self.limits.nodes
                ),
                code: super::Code::Limit,
            });
            return false;
        }
        self.nodes = total;
        true
    }

    /// Opens a list or mapping, unless that nests too deep.
    fn open(&mut self, pos: Pos, anchor: usize, content: Content) {
        self.last_anchor = self.last_anchor.max(anchor);
        if self.stack.len() >= self.limits.depth {
            self.stop = Some(Problem {
                pos,
                message: depth_message(self.limits.depth, false),
                code: super::Code::Limit,
            });
            return;
        }
        if self.count(1, pos, false) {
            self.stack.push(Frame {
                pos,
                anchor,
                size: 1,
                content,
            });
        }
    }

    /// Adds a finished node of `size` nodes to the list or mapping being built (or as a
    /// document).
    fn push_node(&mut self, node: Node, anchor: usize, size: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(frame) = self.stack.last_mut() else {
            self.docs.push(node);
            return;
        };
        frame.size += size;
        match &mut frame.content {
            Content::Seq(items) => items.push(node),
            Content::Map {
                entries,
                first,
                pending,
            } => match pending.take() {
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
                    match first.get(&key) {
                        Some(at) => self.problems.push(Problem {
                            pos: node.pos,
                            message: format!(
                                "duplicate key `{key}` (first at line {}, column {})",
                                at.line, at.col
                            ),
                            code: super::Code::DuplicateKey,
                        }),
                        None => {
                            first.insert(key.clone(), node.pos);
                        }
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

    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from(mark);
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                self.last_anchor = self.last_anchor.max(anchor);
                if !self.count(1, pos, false) {
                    return;
                }
                let tag = tag
                    .as_ref()
                    .filter(|t| t.handle == "tag:yaml.org,2002:" || t.handle == "!!")
                    .map(|t| t.suffix.as_str());
                let node = self.scalar(value, style, pos, tag);
                self.push_node(node, anchor, 1);
            }
            Event::SequenceStart(anchor, _) => self.open(pos, anchor, Content::Seq(Vec::new())),
            Event::MappingStart(anchor, _) => self.open(
                pos,
                anchor,
                Content::Map {
                    entries: Vec::new(),
                    first: HashMap::new(),
                    pending: None,
                },
            ),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let kind = match frame.content {
                        Content::Seq(items) => Kind::Seq(items),
                        Content::Map { entries, .. } => Kind::Map(entries),
                    };
                    let node = Node {
                        pos: frame.pos,
                        kind,
                    };
                    self.push_node(node, frame.anchor, frame.size);
                }
            }
            Event::Alias(id) => {
                self.aliases += 1;
                if self.aliases > self.limits.aliases {
                    self.stop = Some(Problem {
                        pos,
                        message: format!(
                            "more than {} aliases in the file: the limit stops alias bombs; \
                             if a real config needs more, raise it with `{MAX_ALIASES_VAR}`",
                            self.limits.aliases
                        ),
                        code: super::Code::Limit,
                    });
                    return;
                }
                if id < self.doc_anchors_from {
                    // yaml-rust2's loader forgets anchors between documents; so does this one.
                    self.stop = Some(Problem {
                        pos,
                        message: "invalid YAML: while parsing node, found unknown anchor".into(),
                        code: super::Code::Syntax,
                    });
                    return;
                }
                // The budget is charged before the copy is made. An alias inside the node it
                // names has nothing to copy yet: it reads as null.
                let size = self.anchors.get(&id).map_or(1, |(_, size)| *size);
                if !self.count(size, pos, true) {
                    return;
                }
                let kind = self
                    .anchors
                    .get(&id)
                    .map_or(Kind::Null, |(node, _)| node.kind.clone());
                self.push_node(Node { pos, kind }, 0, size);
            }
            Event::DocumentStart => {
                self.anchors.clear();
                self.doc_anchors_from = self.last_anchor + 1;
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
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

    fn limited(src: &str, limits: Limits) -> Problem {
        let (docs, problems) = parse_limited(src, &env(&[]), &limits);
        assert!(docs.is_empty(), "a limit drops the documents");
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems.into_iter().next().unwrap()
    }

    fn bomb(levels: usize) -> String {
        let names: Vec<String> = (0..=levels).map(|i| format!("l{i}")).collect();
        let mut s = format!("{}: &{} [x, x, x, x, x, x, x, x, x]\n", names[0], names[0]);
        for w in names.windows(2) {
            let items = vec![format!("*{}", w[0]); 9].join(", ");
            s.push_str(&format!("{}: &{} [{items}]\n", w[1], w[1]));
        }
        s
    }

    #[test]
    fn alias_expansion_is_charged_before_the_copy() {
        let p = limited(&bomb(9), Limits::default());
        assert_eq!(p.code, crate::config::Code::Limit);
        assert!(
            p.message.contains("over 250000 YAML nodes"),
            "{}",
            p.message
        );
        assert!(p.message.contains(MAX_NODES_VAR));
        // Level 5 holds 9^5 = 59,049 copies of `x`; the alias that would pass 250,000 is reported.
        assert_eq!(p.pos.line, 6);
        // Within the budget, aliases expand as before. The count is every node of the expanded
        // tree: the mapping and its 3 keys, then l0 (1 + 9), l1 (1 + 9 × 10), l2 (1 + 9 × 91).
        let all = 4 + 10 + 91 + 820;
        let within = Limits {
            nodes: all,
            ..Limits::default()
        };
        let (docs, problems) = parse_limited(&bomb(2), &env(&[]), &within);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(docs[0].to_json()["l2"][8][8][8], "x");
        let p = limited(
            &bomb(2),
            Limits {
                nodes: all - 1,
                ..Limits::default()
            },
        );
        // The last `*l1`.
        assert_eq!(p.pos, Pos { line: 3, col: 50 });
    }

    #[test]
    fn aliases_are_counted() {
        let src = "a: &a x\nb: [*a, *a, *a]\n";
        let p = limited(
            src,
            Limits {
                aliases: 2,
                ..Limits::default()
            },
        );
        assert_eq!(p.pos, Pos { line: 2, col: 13 });
        assert!(p.message.contains(MAX_ALIASES_VAR), "{}", p.message);
    }

    #[test]
    fn nesting_is_limited_in_block_and_flow_style() {
        let limits = Limits {
            depth: 8,
            ..Limits::default()
        };
        let within = "- ".repeat(7) + "x\n";
        assert!(parse_limited(&within, &env(&[]), &limits).1.is_empty());
        let block_seq = "- ".repeat(20_000) + "x\n";
        let p = limited(&block_seq, limits);
        assert_eq!(
            (p.code, p.pos),
            (crate::config::Code::Limit, Pos { line: 1, col: 17 })
        );
        assert!(
            p.message.contains("nested more than 8 deep"),
            "{}",
            p.message
        );
        assert!(p.message.contains(MAX_DEPTH_VAR));
        let block_map: String = (0..2_000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        assert_eq!(limited(&block_map, limits).pos, Pos { line: 9, col: 10 });
        let flow = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(limited(&flow, limits).pos, Pos { line: 1, col: 9 });
        // Past 255 flow levels the scanner stops first; it is the same limit to the user.
        let flow = "[".repeat(20_000) + &"]".repeat(20_000);
        let p = limited(&flow, limits);
        assert_eq!(p.code, crate::config::Code::Limit);
        assert!(
            p.message.contains("nested more than 8 deep"),
            "{}",
            p.message
        );
        let p = limited(
            &flow,
            Limits {
                depth: 1_000,
                ..Limits::default()
            },
        );
        assert!(p.message.contains("more than 255 deep"), "{}", p.message);
    }

    #[test]
    fn lookahead_is_limited() {
        // A flow collection that may be a key (here, a list item) is read whole first.
        let src = format!("- [{}x]\n", "x, ".repeat(1_000));
        let limits = Limits {
            lookahead: 1_000,
            ..Limits::default()
        };
        let p = limited(&src, limits);
        assert_eq!(p.code, crate::config::Code::Limit);
        assert!(p.message.contains(MAX_LOOKAHEAD_VAR), "{}", p.message);
        assert_eq!(
            p.pos,
            Pos {
                line: 1,
                col: 1_002
            }
        );
        // So is a scalar.
        let p = limited(&format!("a: '{}'\n", "y".repeat(5_000)), limits);
        assert_eq!(p.code, crate::config::Code::Limit);
        // Comments and blank lines cost the scanner nothing and do not count.
        let commented = format!(
            "a: 1\n{}\n{}b: 2\n",
            "# x\n".repeat(1_000),
            "\n".repeat(2_000)
        );
        assert!(parse_limited(&commented, &env(&[]), &limits).1.is_empty());
        let p = limited(
            &format!("- [\n{}  x]\n", "# c\n  x,\n".repeat(1_000)),
            limits,
        );
        assert_eq!(p.code, crate::config::Code::Limit);
        // Block style reads as it goes.
        let block = format!("a:\n{}", "  - x\n".repeat(1_000));
        assert!(parse_limited(&block, &env(&[]), &limits).1.is_empty());
    }

    #[test]
    fn aliases_do_not_reach_into_earlier_documents() {
        let (docs, problems) = parse("a: &x 1\n---\nb: *x\n", &env(&[]));
        assert!(docs.is_empty());
        assert_eq!(problems[0].pos, Pos { line: 3, col: 4 });
        assert!(problems[0].message.contains("unknown anchor"));
        let (docs, problems) = parse("a: &x 1\n---\nb: &x 2\nc: *x\n", &env(&[]));
        assert!(problems.is_empty());
        assert_eq!(docs[1].to_json(), serde_json::json!({"b": 2, "c": 2}));
    }

    #[test]
    fn many_keys_are_checked_for_duplicates_in_linear_time() {
        let src: String = (0..100_000).map(|i| format!("k{i}: {i}\n")).collect();
        let started = std::time::Instant::now();
        let (docs, problems) = parse(&(src + "k5: dup\n"), &env(&[]));
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(docs.len(), 1);
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].pos,
            Pos {
                line: 100_001,
                col: 1
            }
        );
    }

    #[test]
    fn limits_come_from_the_environment() {
        let (l, warnings) = Limits::from_env(&env(&[]));
        assert_eq!((l, warnings.len()), (Limits::default(), 0));
        let (l, warnings) = Limits::from_env(&env(&[
            (MAX_BYTES_VAR, "1_000"),
            (MAX_NODES_VAR, "5"),
            (MAX_ALIASES_VAR, "zero"),
            (MAX_DEPTH_VAR, "100000"),
            (MAX_LOOKAHEAD_VAR, "0"),
        ]));
        assert_eq!((l.bytes, l.nodes, l.depth), (1_000, 5, DEPTH_CEILING));
        assert_eq!(l.aliases, Limits::default().aliases);
        assert_eq!(l.lookahead, Limits::default().lookahead);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
    }
}
