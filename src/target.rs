//! Where registrar acts: which platform (kind, flavour, URL, org, database) and where the
//! secrets of that platform are kept. One type each for the config, the CLI, saved plans,
//! the HTTP client and `registrar serve`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Which platform to talk to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// The embedded registry (SQLite), the default.
    #[default]
    Local,
    /// Apigee X or hybrid.
    Apigee,
    /// Apigee Edge.
    ApigeeEdge,
    /// apaleo, which has no client API: a guided checklist, verified at its token endpoint.
    Apaleo,
}

impl BackendKind {
    /// The Apigee flavour of this kind; `None` for non-Apigee backends.
    pub fn flavor(self) -> Option<Flavor> {
        match self {
            BackendKind::Apigee => Some(Flavor::X),
            BackendKind::ApigeeEdge => Some(Flavor::Edge),
            BackendKind::Local | BackendKind::Apaleo => None,
        }
    }

    /// The spelling users type (`--backend`, `backend.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::Apigee => "apigee",
            BackendKind::ApigeeEdge => "apigee-edge",
            BackendKind::Apaleo => "apaleo",
        }
    }
}

/// Which Apigee: the two differ in URL, JSON encoding, errors and quota. The client speaks
/// it and `registrar serve` plays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Apigee X or hybrid (`apigee.googleapis.com`).
    X,
    /// Apigee Edge (`api.enterprise.apigee.com`).
    Edge,
}

impl Flavor {
    /// The public management API root (paths continue with `/v1/organizations/{org}`).
    pub fn default_base_url(self) -> &'static str {
        match self {
            Flavor::X => "https://apigee.googleapis.com",
            Flavor::Edge => "https://api.enterprise.apigee.com",
        }
    }

    /// The management API quota, requests per minute (X: 6,000; Edge: 10,000).
    pub fn quota_per_minute(self) -> u32 {
        match self {
            Flavor::X => 6_000,
            Flavor::Edge => 10_000,
        }
    }

    /// The default request budget: 80% of the quota, per second.
    pub fn default_rate_limit(self) -> f64 {
        f64::from(self.quota_per_minute()) * 0.8 / 60.0
    }

    /// Human name.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::X => "Apigee X",
            Flavor::Edge => "Apigee Edge",
        }
    }
}

/// Where the platform is: enough to build its backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Platform {
    /// `local`, `apigee` or `apigee-edge`.
    pub backend: BackendKind,
    /// Base URL (HTTP backends).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
    /// Organization.
    pub org: String,
    /// SQLite file (local backend).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub db: Option<PathBuf>,
    /// Per-request timeout of HTTP backends (`--timeout`; `None`: the backend's default). A
    /// setting of the run, never saved with a plan.
    #[serde(skip)]
    pub timeout: Option<std::time::Duration>,
}

/// The target a store belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetRecord {
    /// `local`, `apigee` or `apigee-edge`.
    pub backend: String,
    /// Where the platform is: its URL, or the local registry's file (relative to the config).
    pub location: String,
    /// Organization.
    pub org: String,
}

impl std::fmt::Display for TargetRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} `{}` org `{}`", self.backend, self.location, self.org)
    }
}

/// Where the secrets of a platform are kept: enough to open the secrets store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretsAt {
    /// The secrets directory.
    pub secrets_dir: PathBuf,
    /// age recipients of the secrets store.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub recipients: Vec<String>,
    /// The local identity used when there are no recipients.
    pub local_identity: PathBuf,
    /// The target the store belongs to (it refuses any other).
    pub store_of: TargetRecord,
}

/// Where a plan applies: the platform and its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// The platform.
    #[serde(flatten)]
    pub platform: Platform,
    /// Its secrets.
    #[serde(flatten)]
    pub secrets: SecretsAt,
}

impl Target {
    /// The same target with its paths relative to `base` (the config's directory) where they
    /// lie below it, so that a saved plan applies in another checkout of the same config.
    pub fn relative_to(self, base: &Path) -> Target {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let base = match base.as_os_str().is_empty() {
            true => std::env::current_dir().unwrap_or_default(),
            false => abs(base),
        };
        self.map_paths(|p| {
            let p = abs(&p);
            p.strip_prefix(&base).map(Path::to_path_buf).unwrap_or(p)
        })
    }

    /// The same target with its relative paths resolved against `base`.
    pub fn resolved(self, base: &Path) -> Target {
        self.map_paths(|p| if p.is_absolute() { p } else { base.join(p) })
    }

    /// Paths that differ between `self` and `other` (the same target resolved another way):
    /// what, and both paths.
    pub fn path_differences(&self, other: &Target) -> Vec<(&'static str, PathBuf, PathBuf)> {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut out = Vec::new();
        let mut check = |what, a: Option<&PathBuf>, b: Option<&PathBuf>| {
            if let (Some(a), Some(b)) = (a, b)
                && abs(a) != abs(b)
            {
                out.push((what, a.clone(), b.clone()));
            }
        };
        check(
            "registry",
            self.platform.db.as_ref(),
            other.platform.db.as_ref(),
        );
        check(
            "secrets store",
            Some(&self.secrets.secrets_dir),
            Some(&other.secrets.secrets_dir),
        );
        check(
            "local identity",
            Some(&self.secrets.local_identity),
            Some(&other.secrets.local_identity),
        );
        out
    }

    fn map_paths(mut self, f: impl Fn(PathBuf) -> PathBuf) -> Target {
        self.platform.db = self.platform.db.map(&f);
        self.secrets.secrets_dir = f(self.secrets.secrets_dir);
        self.secrets.local_identity = f(self.secrets.local_identity);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_serializes_flat_as_saved_plans_always_had_it() {
        let t = Target {
            platform: Platform {
                backend: BackendKind::ApigeeEdge,
                url: None,
                org: "o".into(),
                db: None,
                timeout: None,
            },
            secrets: SecretsAt {
                secrets_dir: "s".into(),
                recipients: vec![],
                local_identity: "i".into(),
                store_of: TargetRecord {
                    backend: "apigee-edge".into(),
                    location: "https://api.enterprise.apigee.com".into(),
                    org: "o".into(),
                },
            },
        };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"backend": "apigee-edge", "org": "o", "secretsDir": "s", "localIdentity": "i",
                "storeOf": {"backend": "apigee-edge", "location": "https://api.enterprise.apigee.com", "org": "o"}})
        );
        assert_eq!(serde_json::from_value::<Target>(v).unwrap(), t);
    }

    #[test]
    fn saved_paths_are_relative_to_the_config_and_resolve_elsewhere() {
        let t = Target {
            platform: Platform {
                backend: BackendKind::Local,
                url: None,
                org: "local".into(),
                db: Some("/repo/a/.registrar/registry.db".into()),
                timeout: None,
            },
            secrets: SecretsAt {
                secrets_dir: "/repo/a/secrets".into(),
                recipients: vec![],
                local_identity: "/elsewhere/identity.txt".into(),
                store_of: TargetRecord {
                    backend: "local".into(),
                    location: ".registrar/registry.db".into(),
                    org: "local".into(),
                },
            },
        };
        let saved = t.clone().relative_to(Path::new("/repo/a"));
        assert_eq!(
            saved.platform.db.as_deref(),
            Some(Path::new(".registrar/registry.db"))
        );
        assert_eq!(saved.secrets.secrets_dir, Path::new("secrets"));
        assert_eq!(
            saved.secrets.local_identity,
            Path::new("/elsewhere/identity.txt")
        );
        let there = saved.resolved(Path::new("/ci/b"));
        assert_eq!(
            there.platform.db.as_deref(),
            Some(Path::new("/ci/b/.registrar/registry.db"))
        );
        let diffs = there.path_differences(&t);
        let whats: Vec<&str> = diffs.iter().map(|d| d.0).collect();
        assert_eq!(whats, ["registry", "secrets store"]);
    }

    #[test]
    fn kinds_know_their_flavour() {
        assert_eq!(BackendKind::Apigee.flavor(), Some(Flavor::X));
        assert_eq!(BackendKind::ApigeeEdge.flavor(), Some(Flavor::Edge));
        assert_eq!(BackendKind::Local.flavor(), None);
    }
}
