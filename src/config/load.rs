//! Loading: files and directories → YAML documents → schema check → typed parts → one
//! merged [`Desired`]. Every problem becomes a [`Diagnostic`]; nothing stops at the first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use jsonschema::Validator;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::model::{
    AppConfig, BackendConfig, ConfigFile, DeveloperConfig, Patches, ProductConfig, SecretsConfig,
};
use super::yaml::{self, Env, Limits, Node, Pos};
use super::{Code, Diagnostic, Related};

/// One YAML document of one file.
///
/// Its tree (positions for diagnostics) is not kept: at tens of thousands of resources the
/// trees are the larger part of the config in memory. The file's text and the `${VAR}` values
/// its reading used are kept instead, and the tree is built again, once per file, the first
/// time a diagnostic needs a position in it (a valid config never does).
#[derive(Debug)]
pub struct Part {
    /// The file, as the user named it (or as found in a named directory).
    pub path: PathBuf,
    /// Where the document starts.
    pub start: Pos,
    /// Which document of the file it is, from 0.
    index: usize,
    /// What its tree is built again from; `None` once released.
    source: Option<Arc<Source>>,
}

/// The text of one file and what reading it again needs.
#[derive(Debug)]
struct Source {
    text: String,
    /// The variables the first reading found set, with their values.
    env: HashMap<String, String>,
    limits: Limits,
    /// The file's documents, built on first use.
    docs: OnceLock<Vec<Node>>,
}

impl Part {
    /// A part of no document (settings made in code, such as `import`'s): every position
    /// is its file's start.
    pub fn empty(path: PathBuf) -> Part {
        Part {
            path,
            start: Pos { line: 1, col: 1 },
            index: 0,
            source: None,
        }
    }

    /// The document's tree, built again from its file's text on first use; `None` once the
    /// positions were released.
    pub fn tree(&self) -> Option<&Node> {
        let source = self.source.as_ref()?;
        let docs = source
            .docs
            .get_or_init(|| yaml::parse_limited(&source.text, &source.env, &source.limits).0);
        docs.get(self.index)
    }

    /// The position of `path` in the document (see [`Node::locate`]), or its start when the
    /// tree is gone.
    pub fn locate<S: AsRef<str>>(&self, path: &[S], key: bool) -> Pos {
        self.tree().map_or(self.start, |t| t.locate(path, key))
    }
}

/// An [`Env`] that remembers the variables read and found set, so that a file can be read
/// again exactly as it was.
struct Recording<'a> {
    env: &'a dyn Env,
    seen: std::cell::RefCell<HashMap<String, String>>,
}

impl Env for Recording<'_> {
    fn var(&self, name: &str) -> Option<String> {
        let value = self.env.var(name);
        if let Some(v) = &value {
            self.seen.borrow_mut().insert(name.to_string(), v.clone());
        }
        value
    }
}

/// A value and where it was declared: `part` indexes [`Desired::parts`], `index` the list.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Which part declared it.
    pub part: usize,
    /// Its index in the part's list.
    pub index: usize,
}

/// The merged desired state, with sources for diagnostics.
#[derive(Debug, Default)]
pub struct Desired {
    /// The documents read, in order.
    pub parts: Vec<Part>,
    /// The `owner` stamp, if any file set it.
    pub owner: Option<Sourced<String>>,
    /// The secrets settings, if any file set them.
    pub secrets: Option<Sourced<SecretsConfig>>,
    /// The backend settings, if any file set them.
    pub backend: Option<Sourced<BackendConfig>>,
    /// Developers, in file order.
    pub developers: Vec<Sourced<DeveloperConfig>>,
    /// Products, in file order.
    pub products: Vec<Sourced<ProductConfig>>,
    /// Apps, in file order.
    pub apps: Vec<Sourced<AppConfig>>,
    /// apaleo clients, in file order.
    pub clients: Vec<Sourced<super::clients::ClientConfig>>,
    /// The fields that patches set, for diagnostics: by the declaration's part, list
    /// (`developers`, `products`, `apps`), index and field, the last patch that set it.
    pub overrides: HashMap<(usize, &'static str, usize, String), PatchAt>,
}

/// Where a patch set a field of a declared resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchAt {
    /// The patch's part.
    pub part: usize,
    /// Its index in the part's `patches.<kind>` list.
    pub index: usize,
    /// The resource, for messages: `app alice@example.com/web`.
    pub resource: String,
    /// For `attributes`: the names the patch set.
    pub names: Vec<String>,
}

impl Desired {
    /// Frees what positions are found from (the files' text, and trees a diagnostic built)
    /// once the config is known valid. A diagnostic made afterwards points at its document's
    /// start.
    pub fn release_positions(&mut self) {
        for p in &mut self.parts {
            p.source = None;
        }
    }

    /// A diagnostic at `path` in part `part` (at the key itself when `key`). A field that a
    /// patch set is reported at the patch, with the declaration as a related place.
    pub fn at<S: AsRef<str>>(
        &self,
        part: usize,
        path: &[S],
        key: bool,
        code: Code,
        message: String,
    ) -> Diagnostic {
        if let Some(d) = self.at_patch(part, path, key, code, &message) {
            return d;
        }
        let p = &self.parts[part];
        Diagnostic::new(&p.path, p.locate(path, key), code, message)
    }

    /// The diagnostic at the patch that set the field at `path`, if one did.
    fn at_patch<S: AsRef<str>>(
        &self,
        part: usize,
        path: &[S],
        key: bool,
        code: Code,
        message: &str,
    ) -> Option<Diagnostic> {
        let [list, index, field, rest @ ..] = path else {
            return None;
        };
        let list = ["developers", "products", "apps"]
            .into_iter()
            .find(|l| *l == list.as_ref())?;
        let index: usize = index.as_ref().parse().ok()?;
        let field = field.as_ref();
        let at = self
            .overrides
            .get(&(part, list, index, field.to_string()))?;
        if field == "attributes"
            && let Some(name) = rest.first()
            && !at.names.iter().any(|n| n == name.as_ref())
        {
            return None;
        }
        let mut patch_path: Vec<String> = vec![
            "patches".into(),
            list.into(),
            at.index.to_string(),
            field.into(),
        ];
        patch_path.extend(rest.iter().map(|s| s.as_ref().to_string()));
        let key_field = if list == "developers" {
            "email"
        } else {
            "name"
        };
        let declared = self.related(
            part,
            &[list, &index.to_string(), key_field],
            format!("{} declared here", at.resource),
        );
        let p = &self.parts[at.part];
        let mut d = Diagnostic::new(
            &p.path,
            p.locate(&patch_path, key),
            code,
            format!(
                "{message} (set by the patch of {} declared at {declared})",
                at.resource
            ),
        );
        d.related.push(declared);
        Some(d)
    }

    /// A related place: the node at `path` in part `part`.
    pub fn related<S: AsRef<str>>(&self, part: usize, path: &[S], message: String) -> Related {
        let p = &self.parts[part];
        let pos = p.locate(path, false);
        Related {
            file: p.path.display().to_string(),
            line: pos.line,
            column: pos.col,
            message,
        }
    }

    /// `file:line:col` of a node, for messages that point at a second place.
    pub fn place<S: AsRef<str>>(&self, part: usize, path: &[S]) -> String {
        let p = &self.parts[part];
        let pos = p.locate(path, false);
        format!("{}:{}:{}", p.path.display(), pos.line, pos.col)
    }

    /// The directory relative paths in the config are resolved against: that of the first file.
    pub fn base_dir(&self) -> PathBuf {
        self.parts
            .first()
            .and_then(|p| p.path.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value =
            serde_json::from_str(&super::model::schema_json()).expect("schema is JSON");
        jsonschema::validator_for(&schema).expect("the generated schema compiles")
    })
}

/// Expands directories into their `*.yaml`/`*.yml` files (recursively, sorted, hidden skipped).
/// What registrar writes is never read as config: hidden directories (`.registrar/`) are
/// skipped, and so is a secrets directory (one holding registrar's `index.yaml`); a secrets
/// index named explicitly is an error.
pub fn expand(inputs: &[PathBuf], diags: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_file() && crate::secrets::index::is_index_file(input) {
            diags.push(Diagnostic::file(
                input,
                Code::Io,
                format!(
                    "`{}` is registrar's secrets index, not a config file: leave it out of `-f`",
                    input.display()
                ),
            ));
        } else if input.is_dir() {
            let mut found = Vec::new();
            walk(input, &mut found, diags);
            if found.is_empty() {
                diags.push(Diagnostic::file(
                    input,
                    Code::NoFiles,
                    format!(
                        "no `*.yaml` or `*.yml` files in directory `{}`",
                        input.display()
                    ),
                ));
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(input.clone());
        }
    }
    out
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic::file(
                dir,
                Code::Io,
                format!("cannot read directory `{}`: {e}", dir.display()),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if !crate::secrets::target::is_store_dir(&path) {
                walk(&path, found, diags);
            }
        } else if crate::secrets::index::is_index_file(&path) {
            // The secrets directory is the config's own directory: skip its index.
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            found.push(path);
        }
    }
}

/// Loads and merges `inputs`. Schema and YAML problems go to `diags`; parts that fail the
/// schema contribute nothing further.
pub fn load(inputs: &[PathBuf], env: &dyn Env, diags: &mut Vec<Diagnostic>) -> Desired {
    let mut desired = Desired::default();
    let (limits, warnings) = Limits::from_env(env);
    for w in warnings {
        tracing::warn!("{w}");
    }
    for path in expand(inputs, diags) {
        let src = match read_limited(&path, limits.bytes) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(_) => {
                    diags.push(Diagnostic::file(
                        &path,
                        Code::Io,
                        format!("`{}` is not UTF-8 text", path.display()),
                    ));
                    continue;
                }
            },
            Err(Unread::TooBig(size)) => {
                let size = match size {
                    Some(n) => format!("{n} bytes"),
                    None => format!("more than {} bytes", limits.bytes),
                };
                diags.push(Diagnostic::file(
                    &path,
                    Code::Limit,
                    format!(
                        "the file is {size}, over the limit of {} bytes for one config file: \
                         split it into several files, or if a real config needs more, raise the limit with `{}`",
                        limits.bytes,
                        yaml::MAX_BYTES_VAR
                    ),
                ));
                continue;
            }
            Err(Unread::Io(e)) => {
                let why = match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    _ => e.to_string(),
                };
                diags.push(Diagnostic::file(
                    &path,
                    Code::Io,
                    format!("cannot read `{}`: {why}", path.display()),
                ));
                continue;
            }
        };
        let recording = Recording {
            env,
            seen: Default::default(),
        };
        let (docs, problems) = yaml::parse_limited(&src, &recording, &limits);
        for p in problems {
            diags.push(Diagnostic::new(&path, p.pos, p.code, p.message));
        }
        if docs.is_empty() && !diags.iter().any(|d| d.file == path.display().to_string()) {
            diags.push(Diagnostic::new(
                &path,
                Pos { line: 1, col: 1 },
                Code::Schema,
                "the file is empty: start it with `version: 1`".into(),
            ));
        }
        let source = Arc::new(Source {
            text: src,
            env: recording.seen.into_inner(),
            limits,
            docs: OnceLock::new(),
        });
        for (index, doc) in docs.into_iter().enumerate() {
            let json = doc.to_json();
            desired.parts.push(Part {
                path: path.clone(),
                start: doc.pos,
                index,
                source: Some(source.clone()),
            });
            drop(doc);
            let part = desired.parts.len() - 1;
            let before = diags.len();
            schema_check(&desired, part, &json, diags);
            if diags.len() > before {
                continue;
            }
            match serde_json::from_value::<ConfigFile>(json) {
                Ok(file) => merge(&mut desired, part, file, diags),
                Err(e) => {
                    diags.push(desired.at(part, &[] as &[&str], false, Code::Schema, e.to_string()))
                }
            }
        }
    }
    desired
}

enum Unread {
    Io(std::io::Error),
    /// Over the limit: the size when known without reading it all.
    TooBig(Option<u64>),
}

/// Reads at most `max` bytes of `path`: a larger regular file is refused before it is read,
/// anything else (a pipe, a device) once `max` bytes have come.
fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, Unread> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(Unread::Io)?;
    let meta = file.metadata().map_err(Unread::Io)?;
    if meta.is_file() && meta.len() > max {
        return Err(Unread::TooBig(Some(meta.len())));
    }
    let mut buf = Vec::with_capacity(if meta.is_file() {
        meta.len() as usize
    } else {
        0
    });
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(Unread::Io)?;
    if buf.len() as u64 > max {
        return Err(Unread::TooBig(None));
    }
    Ok(buf)
}

/// Schema problems listed per document; past this many they are counted, not placed (placing
/// one searches its mapping, so listing 100,000 unknown keys would take quadratic time).
const SCHEMA_DIAGNOSTICS: usize = 200;

fn schema_check(desired: &Desired, part: usize, json: &Value, diags: &mut Vec<Diagnostic>) {
    let first = diags.len();
    // How many were not listed, and where the first of them is.
    let mut unlisted = (0usize, None);
    for err in validator().iter_errors(json) {
        let path: Vec<String> = err
            .instance_path()
            .as_str()
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        let listed = diags.len() - first;
        if listed >= SCHEMA_DIAGNOSTICS {
            unlisted.0 += match err.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => unexpected.len(),
                _ => 1,
            };
            unlisted
                .1
                .get_or_insert_with(|| desired.at(part, &path, false, Code::Schema, String::new()));
            continue;
        }
        let field = path.last().map(String::as_str).unwrap_or("document");
        match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for (i, name) in unexpected.iter().enumerate() {
                    let mut at = path.clone();
                    at.push(name.clone());
                    if listed + i >= SCHEMA_DIAGNOSTICS {
                        unlisted.0 += unexpected.len() - i;
                        unlisted.1.get_or_insert_with(|| {
                            desired.at(part, &at, true, Code::Schema, String::new())
                        });
                        break;
                    }
                    let known = known_fields(json, &path);
                    let hint = suggest(name, &known)
                        .map(|s| format!(": did you mean `{s}`?"))
                        .unwrap_or_default();
                    diags.push(desired.at(
                        part,
                        &at,
                        true,
                        Code::UnknownField,
                        format!("unknown field `{name}`{hint}"),
                    ));
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let what = if path.is_empty() {
                    "the file".to_string()
                } else {
                    format!("`{}`", dotted(&path))
                };
                diags.push(desired.at(
                    part,
                    &path,
                    false,
                    Code::Schema,
                    format!("missing field `{name}` in {what}"),
                ));
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => article(&t.to_string()),
                    TypeKind::Multiple(ts) => ts
                        .iter()
                        .map(|t| article(&t.to_string()))
                        .collect::<Vec<_>>()
                        .join(" or "),
                };
                let found = describe(err.instance());
                diags.push(desired.at(
                    part,
                    &path,
                    false,
                    Code::Schema,
                    format!("`{field}` must be {expected}, not {found}"),
                ));
            }
            ValidationErrorKind::Enum { options } => {
                let opts = options
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                let got = err
                    .instance()
                    .as_str()
                    .map(|s| format!("`{s}`"))
                    .unwrap_or_else(|| describe(err.instance()));
                diags.push(desired.at(
                    part,
                    &path,
                    false,
                    Code::Schema,
                    format!("`{field}` must be one of {opts}, not {got}"),
                ));
            }
            ValidationErrorKind::Minimum { limit } | ValidationErrorKind::Maximum { limit }
                if field == "version" =>
            {
                let _ = limit;
                diags.push(desired.at(
                    part,
                    &path,
                    false,
                    Code::Schema,
                    format!(
                        "unsupported `version: {}`: this registrar reads version 1",
                        err.instance()
                    ),
                ));
            }
            ValidationErrorKind::Minimum { limit } => {
                diags.push(desired.at(
                    part,
                    &path,
                    false,
                    Code::Schema,
                    format!("`{field}` must be at least {limit}"),
                ));
            }
            ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. }
                if !choices(err.schema_path().as_str()).is_empty() =>
            {
                let opts = choices(err.schema_path().as_str())
                    .iter()
                    .map(|o| format!("`{o}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let got = err
                    .instance()
                    .as_str()
                    .map(|s| format!("`{s}`"))
                    .unwrap_or_else(|| describe(err.instance()));
                diags.push(desired.at(
                    part,
                    &path,
                    false,
                    Code::Schema,
                    format!("`{field}` must be one of {opts}, not {got}"),
                ));
            }
            _ => diags.push(desired.at(
                part,
                &path,
                false,
                Code::Schema,
                format!("`{field}`: {err}"),
            )),
        }
    }
    if let (n, Some(mut d)) = unlisted {
        d.message = format!(
            "… and {n} more schema problem{} in this document, not listed: fix the ones above first",
            if n == 1 { "" } else { "s" }
        );
        diags.push(d);
    }
}

/// The constant values a `oneOf`/`anyOf` of constants allows (enums with documented
/// variants), found from the failing keyword's schema path.
fn choices(schema_path: &str) -> Vec<String> {
    let root = schema_value();
    let Some(node) = root.pointer(schema_path) else {
        return Vec::new();
    };
    let Some(branches) = node.as_array() else {
        return Vec::new();
    };
    let values: Vec<String> = branches
        .iter()
        .filter_map(|b| b.get("const").and_then(Value::as_str).map(str::to_string))
        .collect();
    if values.len() == branches.len() {
        values
    } else {
        Vec::new()
    }
}

/// `apps[3].credentials[0]` for a path of keys and indexes.
fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

fn article(t: &str) -> String {
    match t {
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "integer" => "an integer".into(),
        "null" => "null".into(),
        other => format!("a {other}"),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number `{n}`"),
        Value::String(s) => format!("the string `{s}`"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

/// Field names the schema allows at `path`, for "did you mean" hints.
fn known_fields(root: &Value, path: &[String]) -> Vec<String> {
    let defs = schema_value();
    let mut schema = defs;
    for seg in path {
        schema = resolve(defs, schema);
        if seg.parse::<usize>().is_ok() {
            schema = schema.get("items").unwrap_or(schema);
        } else if let Some(p) = schema.get("properties").and_then(|p| p.get(seg)) {
            schema = p;
        } else {
            return Vec::new();
        }
    }
    let _ = root;
    let schema = resolve(defs, schema);
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn schema_value() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(|| serde_json::from_str(&super::model::schema_json()).expect("schema is JSON"))
}

/// Follows `$ref` (and a single-branch `anyOf` of a nullable) to the schema it names.
fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..8 {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or_default();
            match root.get("$defs").and_then(|d| d.get(name)) {
                Some(s) => schema = s,
                None => return schema,
            }
        } else if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
            match any
                .iter()
                .find(|s| s.get("type") != Some(&Value::String("null".into())))
            {
                Some(s) => schema = s,
                None => return schema,
            }
        } else {
            return schema;
        }
    }
    schema
}

/// The known name closest to `name`, if close enough to be a likely typo: at most one edit
/// per six characters (`payments-reed` → `payments-read`, but `carol@…` is not `bob@…`).
pub fn suggest(name: &str, known: &[String]) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let most = 1.max(name.chars().count() / 6);
    known
        .iter()
        .map(|k| (strsim(&lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, _)| *d <= most)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

/// Levenshtein distance.
fn strsim(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn merge(desired: &mut Desired, part: usize, file: ConfigFile, diags: &mut Vec<Diagnostic>) {
    /// Sets a setting that only one file may set; a second one is a diagnostic naming both.
    fn set_once<T>(
        desired: &mut Desired,
        slot: fn(&mut Desired) -> &mut Option<Sourced<T>>,
        value: Option<T>,
        part: usize,
        key: &str,
        diags: &mut Vec<Diagnostic>,
    ) {
        let Some(value) = value else { return };
        match slot(desired).as_ref().map(|prev| prev.part) {
            Some(prev) => {
                let first = desired.place(prev, &[key]);
                diags.push(desired.at(
                    part,
                    &[key],
                    true,
                    Code::Duplicate,
                    format!("`{key}` is set in more than one file (also at {first}): set it once"),
                ));
            }
            None => {
                *slot(desired) = Some(Sourced {
                    value,
                    part,
                    index: 0,
                })
            }
        }
    }
    set_once(desired, |d| &mut d.owner, file.owner, part, "owner", diags);
    set_once(
        desired,
        |d| &mut d.secrets,
        file.secrets,
        part,
        "secrets",
        diags,
    );
    set_once(
        desired,
        |d| &mut d.backend,
        file.backend,
        part,
        "backend",
        diags,
    );
    desired.developers.extend(
        file.developers
            .into_iter()
            .enumerate()
            .map(|(index, value)| Sourced { value, part, index }),
    );
    desired.products.extend(
        file.products
            .into_iter()
            .enumerate()
            .map(|(index, value)| Sourced { value, part, index }),
    );
    desired.apps.extend(
        file.apps
            .into_iter()
            .enumerate()
            .map(|(index, value)| Sourced { value, part, index }),
    );
    desired.clients.extend(
        file.clients
            .into_iter()
            .enumerate()
            .map(|(index, value)| Sourced { value, part, index }),
    );
    apply_patches(desired, part, file.patches, diags);
}

/// Applies the patches of part `part` to the resources earlier parts declared.
fn apply_patches(
    desired: &mut Desired,
    part: usize,
    patches: Patches,
    diags: &mut Vec<Diagnostic>,
) {
    for (i, p) in patches.developers.into_iter().enumerate() {
        let resource = format!("developer `{}`", p.email);
        let found = desired
            .developers
            .iter()
            .rposition(|d| d.part < part && d.value.email == p.email);
        patch_one(
            desired,
            part,
            "developers",
            i,
            found,
            resource,
            &p,
            &["email"],
            diags,
            |d| &mut d.developers,
        );
    }
    for (i, p) in patches.products.into_iter().enumerate() {
        let resource = format!("product `{}`", p.name);
        let found = desired
            .products
            .iter()
            .rposition(|d| d.part < part && d.value.name == p.name);
        patch_one(
            desired,
            part,
            "products",
            i,
            found,
            resource,
            &p,
            &["name"],
            diags,
            |d| &mut d.products,
        );
    }
    for (i, p) in patches.apps.into_iter().enumerate() {
        let resource = format!("app `{}/{}`", p.developer, p.name);
        let found = desired.apps.iter().rposition(|a| {
            a.part < part && a.value.developer == p.developer && a.value.name == p.name
        });
        patch_one(
            desired,
            part,
            "apps",
            i,
            found,
            resource,
            &p,
            &["developer", "name"],
            diags,
            |d| &mut d.apps,
        );
    }
}

/// Applies one patch (at `patches.<list>[index]` of part `part`) to the declaration `found`
/// of `list`, or reports that no earlier file declares the resource.
#[allow(clippy::too_many_arguments)]
fn patch_one<T, P>(
    desired: &mut Desired,
    part: usize,
    list: &'static str,
    index: usize,
    found: Option<usize>,
    resource: String,
    patch: &P,
    address: &[&str],
    diags: &mut Vec<Diagnostic>,
    items: fn(&mut Desired) -> &mut Vec<Sourced<T>>,
) where
    T: serde::Serialize + serde::de::DeserializeOwned,
    P: serde::Serialize,
{
    let Some(found) = found else {
        let later = format!(
            "patch of {resource}, which no earlier file declares: a patch changes a resource declared in a file given before it (`-f base.yaml -f overlay.yaml`); check the address and the order of the files"
        );
        diags.push(desired.at(
            part,
            &["patches", list, &index.to_string()],
            false,
            Code::Patch,
            later,
        ));
        return;
    };
    let Ok(Value::Object(fields)) = serde_json::to_value(patch) else {
        return;
    };
    let target = &mut items(desired)[found];
    let (decl_part, decl_index) = (target.part, target.index);
    let Ok(Value::Object(mut value)) = serde_json::to_value(&target.value) else {
        return;
    };
    let mut set = Vec::new();
    for (name, v) in fields {
        if address.contains(&name.as_str()) {
            continue;
        }
        let mut names = Vec::new();
        if name == "attributes"
            && let Value::Object(add) = v
        {
            let attrs = value
                .entry("attributes")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(attrs) = attrs {
                for (k, val) in add {
                    names.push(k.clone());
                    attrs.insert(k, val);
                }
            }
        } else {
            value.insert(name.clone(), v);
        }
        set.push((name, names));
    }
    match serde_json::from_value::<T>(Value::Object(value)) {
        Ok(patched) => target.value = patched,
        Err(e) => {
            diags.push(desired.at(
                part,
                &["patches", list, &index.to_string()],
                false,
                Code::Schema,
                format!("the patch of {resource} does not make a valid resource: {e}"),
            ));
            return;
        }
    }
    for (field, names) in set {
        desired.overrides.insert(
            (decl_part, list, decl_index, field),
            PatchAt {
                part,
                index,
                resource: resource.clone(),
                names,
            },
        );
    }
}

/// An environment made of fixed pairs (tests, and `${VAR}` defaults).
pub fn env_from(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = vec![
            "callbackUrl".to_string(),
            "apiProducts".to_string(),
            "scopes".to_string(),
        ];
        assert_eq!(
            suggest("callbackURL", &known).as_deref(),
            Some("callbackUrl")
        );
        assert_eq!(
            suggest("apiProduct", &known).as_deref(),
            Some("apiProducts")
        );
        assert_eq!(suggest("zzz", &known), None);
        let people = vec![
            "bob@example.com".to_string(),
            "alice@example.com".to_string(),
        ];
        assert_eq!(suggest("carol@example.com", &people), None);
        assert_eq!(
            suggest("alcie@example.com", &people).as_deref(),
            Some("alice@example.com")
        );
    }

    fn load_files(files: &[(&str, &str)]) -> (Desired, Vec<Diagnostic>) {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            paths.push(p);
        }
        let mut diags = Vec::new();
        let d = load(&paths, &env_from(&[]), &mut diags);
        (d, diags)
    }

    const BASE: &str = "version: 1\nowner: o\ndevelopers:\n  - {email: a@x.io, firstName: A, lastName: B, attributes: {k1: v1, k2: v2}}\nproducts:\n  - {name: p, scopes: [s], quota: {limit: 1, timeUnit: minute}}\napps:\n  - {name: w, developer: a@x.io, callbackUrl: https://a.x.io/cb, apiProducts: [p]}\n";

    #[test]
    fn patches_replace_fields_and_merge_attributes() {
        let overlay = "version: 1\npatches:\n  developers:\n    - {email: a@x.io, lastName: C, attributes: {k2: new, k3: v3}}\n  products:\n    - {name: p, quota: {limit: 9, timeUnit: hour}}\n  apps:\n    - {developer: a@x.io, name: w, callbackUrl: https://b.x.io/cb}\n";
        let (d, diags) = load_files(&[("a.yaml", BASE), ("b.yaml", overlay)]);
        assert!(diags.is_empty(), "{diags:?}");
        let dev = &d.developers[0].value;
        assert_eq!(
            (dev.first_name.as_str(), dev.last_name.as_str()),
            ("A", "C")
        );
        let attrs: Vec<(&str, &str)> = dev
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(attrs, [("k1", "v1"), ("k2", "new"), ("k3", "v3")]);
        assert_eq!(d.products[0].value.quota.as_ref().unwrap().limit, 9);
        assert_eq!(d.products[0].value.scopes, ["s"], "fields not patched stay");
        assert_eq!(
            d.apps[0].value.callback_url.as_deref(),
            Some("https://b.x.io/cb")
        );
        // Diagnostics about a patched field point at the patch, with the declaration related.
        let at = d.at(
            0,
            &["apps", "0", "callbackUrl"],
            false,
            Code::CallbackUrl,
            "bad".into(),
        );
        assert!(at.file.ends_with("b.yaml"), "{at:?}");
        assert_eq!(at.related.len(), 1);
        assert!(at.related[0].file.ends_with("a.yaml"));
        // An attribute the patch did not set stays at the declaration.
        let at = d.at(
            0,
            &["developers", "0", "attributes", "k1"],
            true,
            Code::Attribute,
            "x".into(),
        );
        assert!(at.file.ends_with("a.yaml"), "{at:?}");
    }

    #[test]
    fn a_patch_applies_only_to_earlier_files() {
        let overlay =
            "version: 1\npatches:\n  apps:\n    - {developer: a@x.io, name: w, notes: n}\n";
        let (_, diags) = load_files(&[("a.yaml", overlay), ("b.yaml", BASE)]);
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].code, Code::Patch);
        assert!(
            diags[0].message.contains("no earlier file declares"),
            "{}",
            diags[0].message
        );
    }

    #[test]
    fn known_fields_follow_refs() {
        let fields = known_fields(&Value::Null, &["apps".into(), "0".into()]);
        assert!(fields.contains(&"callbackUrl".to_string()), "{fields:?}");
        let fields = known_fields(
            &Value::Null,
            &["apps".into(), "0".into(), "credentials".into(), "0".into()],
        );
        assert!(fields.contains(&"expiresIn".to_string()), "{fields:?}");
    }
}
