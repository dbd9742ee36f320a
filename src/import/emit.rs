//! The YAML text of an [`Import`]: one file, or a directory split by kind or by developer.
//! Deterministic (sorted resources, sorted attributes, no times), with the schema modeline,
//! a header naming what was left out, and a `# not expressed:` comment above each resource
//! the config cannot fully say. `$` is written `$$`, so that no platform value is read back
//! as a `${VAR}` reference. Every resource's lines are recorded, so that a diagnostic of the
//! config check can be traced back to the resource.

use serde::Serialize;
use serde_json::Value;

use super::{Import, Item, Remark};
use crate::config::model::{BackendConfig, SecretsConfig};
use crate::escape::Escaped;
use crate::model::Address;

/// How the config is split into files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One file.
    Single,
    /// A directory: `registrar.yaml` (settings), `developers.yaml`, `products.yaml`, `apps.yaml`.
    ByKind,
    /// A directory: `registrar.yaml`, `products.yaml`, and per developer
    /// `developer-EMAIL.yaml` with the developer and its apps.
    ByDeveloper,
}

/// The file name of the schema written beside the config, which the modeline names.
pub const SCHEMA_FILE: &str = "registry.schema.json";

/// The second line of every file import writes: how a re-import recognizes its own files.
pub const MARK: &str = "# Written by `registrar import`";

/// The settings at the top of the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The owner stamp.
    pub owner: String,
    /// The backend section, if the target is not the default local one.
    pub backend: Option<BackendConfig>,
    /// The secrets section, if recipients were given.
    pub secrets: Option<SecretsConfig>,
    /// Where it was read from (the backend's description).
    pub source: String,
}

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Its name: relative to the output directory, or the one file's name.
    pub name: String,
    /// Its text.
    pub text: String,
    /// The lines (from 1, inclusive) of each resource it declares.
    pub spans: Vec<(Address, usize, usize)>,
}

struct Writer {
    file: File,
    line: usize,
}

impl Writer {
    fn new(name: &str, settings: &Settings, what: &str) -> Writer {
        let mut w = Writer {
            file: File {
                name: name.to_string(),
                text: String::new(),
                spans: Vec::new(),
            },
            line: 0,
        };
        w.comment(&format!("yaml-language-server: $schema={SCHEMA_FILE}"));
        w.raw(&format!(
            "{MARK} from {}: {what}.\n",
            Escaped(&settings.source)
        ));
        w
    }

    fn raw(&mut self, text: &str) {
        self.line += text.matches('\n').count();
        self.file.text.push_str(text);
    }

    fn comment(&mut self, text: &str) {
        self.raw(&format!("# {}\n", Escaped(text)));
    }

    fn settings(&mut self, settings: &Settings) {
        self.raw("version: 1\n");
        self.raw(&yaml(&serde_json::json!({ "owner": settings.owner })));
        if let Some(b) = &settings.backend {
            self.raw(&yaml(&serde_json::json!({ "backend": b })));
        }
        if let Some(s) = &settings.secrets {
            self.raw(&yaml(&serde_json::json!({ "secrets": s })));
        }
    }

    fn section<T: Serialize>(&mut self, key: &str, items: &[&Item<T>]) {
        if items.is_empty() {
            return;
        }
        self.raw(&format!("{key}:\n"));
        for item in items {
            for r in &item.remarks {
                self.comment(&format!("not expressed: {r}"));
            }
            let start = self.line + 1;
            self.raw(&yaml(&[&item.value]));
            self.file
                .spans
                .push((item.address.clone(), start, self.line));
        }
    }

    fn left_out(&mut self, left_out: &[Remark]) {
        if left_out.is_empty() {
            return;
        }
        self.comment(&format!(
            "Not imported ({}), see the summary of `registrar import`:",
            left_out.len()
        ));
        for r in left_out {
            self.comment(&format!("  {}: {}", r.address, r.message));
        }
    }
}

/// YAML of a value, with every `$` doubled (the loader reads `$$` as `$`).
fn yaml<T: Serialize + ?Sized>(value: &T) -> String {
    let mut v = serde_json::to_value(value).expect("config values serialize");
    escape_dollars(&mut v);
    serde_yaml::to_string(&v).expect("JSON values serialize as YAML")
}

fn escape_dollars(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Array(items) => items.iter_mut().for_each(escape_dollars),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('$')) {
                let old = std::mem::take(map);
                for (k, mut val) in old {
                    escape_dollars(&mut val);
                    map.insert(k.replace('$', "$$"), val);
                }
            } else {
                map.values_mut().for_each(escape_dollars);
            }
        }
        _ => {}
    }
}

fn count(n: usize, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

/// The files of `import` in `layout`; `single` names the one file of [`Layout::Single`].
pub fn emit(import: &Import<'_>, settings: &Settings, layout: Layout, single: &str) -> Vec<File> {
    let developers: Vec<_> = import.developers.iter().collect();
    let products: Vec<_> = import.products.iter().collect();
    let apps: Vec<_> = import.apps.iter().collect();
    let what = format!(
        "{}, {}, {}, {}",
        count(developers.len(), "developer"),
        count(products.len(), "product"),
        count(apps.len(), "app"),
        count(import.keys.len(), "key")
    );
    let secrets_note = "Secrets are not in this config: they are stored encrypted in the secrets store (`registrar secrets list`).";
    match layout {
        Layout::Single => {
            let mut w = Writer::new(single, settings, &what);
            w.comment(secrets_note);
            w.left_out(&import.left_out);
            w.settings(settings);
            w.section("developers", &developers);
            w.section("products", &products);
            w.section("apps", &apps);
            vec![w.file]
        }
        Layout::ByKind => {
            let mut main = Writer::new("registrar.yaml", settings, &what);
            main.comment(secrets_note);
            main.left_out(&import.left_out);
            main.settings(settings);
            let mut files = vec![main.file];
            for (name, key) in [
                ("developers.yaml", "developers"),
                ("products.yaml", "products"),
                ("apps.yaml", "apps"),
            ] {
                let mut w = Writer::new(name, settings, key);
                w.raw("version: 1\n");
                match key {
                    "developers" => w.section(key, &developers),
                    "products" => w.section(key, &products),
                    _ => w.section(key, &apps),
                }
                files.push(w.file);
            }
            files
        }
        Layout::ByDeveloper => {
            let mut main = Writer::new("registrar.yaml", settings, &what);
            main.comment(secrets_note);
            main.left_out(&import.left_out);
            main.settings(settings);
            let mut files = vec![main.file];
            let mut w = Writer::new("products.yaml", settings, "products");
            w.raw("version: 1\n");
            w.section("products", &products);
            files.push(w.file);
            // Developers in the config, then those whose apps alone are imported.
            let mut emails: Vec<&str> = developers
                .iter()
                .map(|d| d.value.email.as_str())
                .chain(apps.iter().map(|a| a.value.developer.as_str()))
                .collect();
            emails.sort();
            emails.dedup();
            let mut names: Vec<String> = Vec::new();
            for email in emails {
                let name = unique(developer_file(email), &names);
                names.push(name.clone());
                let mut w = Writer::new(&name, settings, &format!("developer {email}"));
                w.raw("version: 1\n");
                let d: Vec<_> = developers
                    .iter()
                    .copied()
                    .filter(|d| d.value.email == email)
                    .collect();
                let a: Vec<_> = apps
                    .iter()
                    .copied()
                    .filter(|a| a.value.developer == email)
                    .collect();
                w.section("developers", &d);
                w.section("apps", &a);
                files.push(w.file);
            }
            files
        }
    }
}

/// `developer-EMAIL.yaml`, with characters that are awkward in file names replaced by `_`.
fn developer_file(email: &str) -> String {
    let safe: String = email
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_' | '+') {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("developer-{safe}.yaml")
}

/// `name`, or `name` with `-2`, `-3`, … before `.yaml` when taken (emails differing in case).
fn unique(name: String, taken: &[String]) -> String {
    if !taken.contains(&name) {
        return name;
    }
    let stem = name.trim_end_matches(".yaml");
    (2..)
        .map(|n| format!("{stem}-{n}.yaml"))
        .find(|n| !taken.contains(n))
        .expect("some suffix is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_doubled_in_values_and_keys() {
        let v = serde_json::json!({"a$b": ["x$", "y"], "n": 1});
        let text = yaml(&v);
        assert!(text.contains("a$$b"), "{text}");
        assert!(text.contains("x$$"), "{text}");
    }

    #[test]
    fn developer_files_are_safe_and_unique() {
        assert_eq!(
            developer_file("Ann+ops@Example.com"),
            "developer-ann+ops@example.com.yaml"
        );
        assert_eq!(developer_file("a/b@x.io"), "developer-a_b@x.io.yaml");
        let taken = vec!["developer-a@x.io.yaml".to_string()];
        assert_eq!(
            unique("developer-a@x.io.yaml".into(), &taken),
            "developer-a@x.io-2.yaml"
        );
    }
}
