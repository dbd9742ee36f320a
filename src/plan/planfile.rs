//! Saved plans (`plan --out FILE`, `apply FILE`): the plan, the target it was made for, and a
//! precondition per touched resource that apply re-checks before changing anything.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::diff::observe;
use super::matching::{Declared, KeyMatch};
use super::{PLAN_FORMAT_VERSION, Plan, Precondition};
use crate::error::HintExt;
use crate::model::Actual;
pub use crate::target::Target;

/// Marks a file as a registrar plan.
pub const PLAN_KIND: &str = "registrar-plan";

/// A plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    /// Always [`PLAN_KIND`].
    pub kind: String,
    /// Where the plan applies.
    pub target: Target,
    /// Declared credentials, for matching keys when re-checking.
    pub credentials: Vec<Declared>,
    /// The plan.
    pub plan: Plan,
}

impl SavedPlan {
    /// Writes the plan file atomically.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("failed to write plan file `{}`", path.display()))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(path)
            .map_err(|e| e.error)
            .with_context(|| format!("failed to write plan file `{}`", path.display()))?;
        Ok(())
    }

    /// Reads a plan file, refusing other files and other format versions.
    pub fn load(path: &Path) -> anyhow::Result<SavedPlan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read plan file `{}`", path.display()))
            .hint("make one with `registrar plan --out FILE`, then apply it with `registrar apply FILE`")?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not a registrar plan (not JSON)", path.display()))
            .hint("make one with `registrar plan --out FILE`")?;
        if value.get("kind").and_then(|k| k.as_str()) != Some(PLAN_KIND) {
            return Err(crate::error::hinted(
                format!("`{}` is not a registrar plan", path.display()),
                "make one with `registrar plan --out FILE`",
            ));
        }
        let version = value
            .pointer("/plan/formatVersion")
            .and_then(|v| v.as_u64());
        if version != Some(u64::from(PLAN_FORMAT_VERSION)) {
            return Err(crate::error::hinted(
                format!(
                    "`{}` has plan format version {}, this registrar reads version {PLAN_FORMAT_VERSION}",
                    path.display(),
                    version.map_or("(none)".into(), |v| v.to_string())
                ),
                "make the plan again with this registrar",
            ));
        }
        serde_json::from_value(value)
            .with_context(|| format!("`{}` is a damaged registrar plan", path.display()))
            .hint("make the plan again")
    }

    /// The resources whose state no longer matches the plan's preconditions, each with what changed.
    /// `keys` matches the keys read now to [`SavedPlan::credentials`].
    pub fn stale(&self, actual: &Actual, keys: &KeyMatch<'_>) -> Vec<String> {
        let now = observe(actual, keys);
        let mut stale = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for c in &self.plan.changes {
            if !seen.insert(&c.address) {
                continue;
            }
            let current = now.get(&c.address).cloned().unwrap_or(Precondition::Absent);
            let same = match (&c.precondition, &current) {
                (Precondition::Absent, Precondition::Absent) => true,
                (
                    Precondition::Unchanged {
                        last_modified_at: Some(a),
                        ..
                    },
                    Precondition::Unchanged {
                        last_modified_at: Some(b),
                        ..
                    },
                ) => a == b,
                (
                    Precondition::Unchanged { fingerprint: a, .. },
                    Precondition::Unchanged { fingerprint: b, .. },
                ) => a == b,
                _ => false,
            };
            if !same {
                let what = match (&c.precondition, &current) {
                    (Precondition::Absent, _) => "now exists",
                    (_, Precondition::Absent) => "no longer exists",
                    _ => "changed since the plan was made",
                };
                stale.push(format!("{} {what}", c.address));
            }
        }
        stale
    }
}
