//! The dashboard steps a person follows for each change: what [`super::plan`] asks for,
//! as data (the JSON checklist) and as the lines people read (where to click, what to
//! type, which scopes to tick, which secret to add and how to store it).

use serde::Serialize;

use crate::model::apaleo::{Client, ClientKind};

/// What a step asks the person to do, with the values they need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum StepAction {
    /// Register a new client.
    #[serde(rename_all = "camelCase")]
    CreateClient {
        /// Connect or simple.
        kind: ClientKind,
        /// The client code.
        code: String,
        /// The client name.
        name: String,
        /// Connect only.
        #[serde(skip_serializing_if = "Option::is_none")]
        logo_url: Option<String>,
        /// Connect only.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        redirect_uris: Vec<String>,
        /// Simple only.
        #[serde(skip_serializing_if = "Option::is_none")]
        pii: Option<bool>,
        /// Scopes to tick.
        scopes: Vec<String>,
        /// Only if a check found the client gone.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        only_if_missing: bool,
    },
    /// Change fields of a client.
    #[serde(rename_all = "camelCase")]
    EditClient {
        /// The client code.
        code: String,
        /// A new name.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// A new logo URL.
        #[serde(skip_serializing_if = "Option::is_none")]
        logo_url: Option<String>,
        /// The full new list of redirect URIs.
        #[serde(skip_serializing_if = "Option::is_none")]
        redirect_uris: Option<Vec<String>>,
        /// A new PII flag.
        #[serde(skip_serializing_if = "Option::is_none")]
        pii: Option<bool>,
        /// Scopes to tick.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tick: Vec<String>,
        /// Scopes to untick.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        untick: Vec<String>,
        /// The full list of scopes after the change.
        scopes: Vec<String>,
    },
    /// Add a secret; apaleo shows it once; registrar stores it as `secretId`.
    #[serde(rename_all = "camelCase")]
    AddSecret {
        /// The client code.
        code: String,
        /// registrar's id for it.
        secret_id: String,
        /// The description to type.
        description: String,
        /// It replaces the stored one (a rotation, or a refused secret).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        replaces: bool,
        /// A rotation: the old secret stays valid through the overlap.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        rotation: bool,
    },
    /// A secret was issued but is not in the store: paste it if it is at hand.
    #[serde(rename_all = "camelCase")]
    StoreSecret {
        /// The client code.
        code: String,
        /// registrar's id for it.
        secret_id: String,
    },
    /// Delete a secret in the dashboard.
    #[serde(rename_all = "camelCase")]
    DeleteSecret {
        /// The client code.
        code: String,
        /// registrar's id for it.
        secret_id: String,
        /// The description of the secret to delete, when registrar knows it.
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// After a rotation: delete the secret added before this time (RFC 3339); the
        /// newer one stays.
        #[serde(skip_serializing_if = "Option::is_none")]
        older_than: Option<String>,
    },
    /// Delete a client in the dashboard.
    #[serde(rename_all = "camelCase")]
    DeleteClient {
        /// The client code.
        code: String,
    },
    /// Confirm fields registrar cannot read back: the client exists (verification proves
    /// it), but nobody confirmed that these are as declared. Only the fields to confirm are
    /// present.
    #[serde(rename_all = "camelCase")]
    ConfirmClient {
        /// The client code.
        code: String,
        /// The declared name.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The declared logo URL.
        #[serde(skip_serializing_if = "Option::is_none")]
        logo_url: Option<String>,
        /// The declared redirect URIs.
        #[serde(skip_serializing_if = "Option::is_none")]
        redirect_uris: Option<Vec<String>>,
        /// The declared PII flag.
        #[serde(skip_serializing_if = "Option::is_none")]
        pii: Option<bool>,
        /// The declared scopes (those a token request cannot prove).
        #[serde(skip_serializing_if = "Option::is_none")]
        scopes: Option<Vec<String>>,
    },
    /// Look at a client in the dashboard: verification found a problem.
    #[serde(rename_all = "camelCase")]
    CheckClient {
        /// The client code.
        code: String,
        /// What verification found.
        problem: String,
    },
}

/// One step of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Position in the whole checklist, from 1.
    pub number: usize,
    /// The client it is about.
    pub client: String,
    /// What to do.
    #[serde(flatten)]
    pub action: StepAction,
    /// The step as people read it, one line each.
    pub instructions: Vec<String>,
}

impl StepAction {
    /// The step for creating `c` (without its secrets: those are `AddSecret` steps).
    pub fn create(c: &Client, only_if_missing: bool) -> StepAction {
        StepAction::CreateClient {
            kind: c.kind,
            code: c.code.clone(),
            name: c.name.clone(),
            logo_url: c.logo_url.clone(),
            redirect_uris: c.redirect_uris.clone(),
            pii: c.pii,
            scopes: c.scopes.clone(),
            only_if_missing,
        }
    }

    /// Whether carrying out the step issues a secret that registrar must store.
    pub fn captures(&self) -> Option<(&str, &str)> {
        match self {
            StepAction::AddSecret {
                code, secret_id, ..
            }
            | StepAction::StoreSecret { code, secret_id } => Some((code, secret_id)),
            _ => None,
        }
    }

    /// The lines a person reads.
    pub fn instructions(&self, kind: ClientKind) -> Vec<String> {
        let list = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                v.join(", ")
            }
        };
        let menu = match kind {
            ClientKind::Connect => "Apps → Connected apps → Add store app",
            ClientKind::Simple => "Apps → Connected apps → Add custom app",
        };
        match self {
            StepAction::CreateClient {
                code,
                name,
                logo_url,
                redirect_uris,
                pii,
                scopes,
                only_if_missing,
                ..
            } => {
                let mut out = vec![if *only_if_missing {
                    format!("Only if `{code}` is gone: in the apaleo dashboard open {menu}.")
                } else {
                    format!("In the apaleo dashboard open {menu}.")
                }];
                out.push(format!("Client code: {code}"));
                out.push(format!("Client name: {name}"));
                if let Some(l) = logo_url {
                    out.push(format!("Logo URL: {l}"));
                }
                for u in redirect_uris {
                    out.push(format!(
                        "Redirect URI: {u}   (exactly; a trailing `/` matters)"
                    ));
                }
                if let Some(p) = pii {
                    out.push(format!(
                        "Personally identifiable information: {}",
                        if *p { "tick it" } else { "leave it unticked" }
                    ));
                }
                out.push(format!("Tick scopes: {}", list(scopes)));
                out.push("Save.".into());
                out
            }
            StepAction::EditClient {
                code,
                name,
                logo_url,
                redirect_uris,
                pii,
                tick,
                untick,
                ..
            } => {
                let mut out = vec![format!(
                    "In the apaleo dashboard open Apps → Connected apps → `{code}` and edit it."
                )];
                if let Some(n) = name {
                    out.push(format!("Client name: {n}"));
                }
                if let Some(l) = logo_url {
                    out.push(format!("Logo URL: {l}"));
                }
                if let Some(us) = redirect_uris {
                    out.push(format!("Redirect URIs, exactly these: {}", list(us)));
                }
                if let Some(p) = pii {
                    out.push(format!(
                        "Personally identifiable information: {}",
                        if *p { "tick it" } else { "untick it" }
                    ));
                }
                if !tick.is_empty() {
                    out.push(format!("Tick scopes: {}", list(tick)));
                }
                if !untick.is_empty() {
                    out.push(format!("Untick scopes: {}", list(untick)));
                }
                if kind == ClientKind::Connect && (!tick.is_empty() || !untick.is_empty()) {
                    out.push(
                        "A store app's scope change needs re-certification, and hotels must consent again."
                            .into(),
                    );
                }
                out.push("Save.".into());
                out
            }
            StepAction::AddSecret {
                code,
                secret_id,
                description,
                replaces,
                rotation,
            } => {
                let mut out = vec![
                    format!(
                        "In the apaleo dashboard open Apps → Connected apps → `{code}` → Add secret."
                    ),
                    format!("Description: {description}"),
                    "Save, and copy the secret from the popup (apaleo shows it once).".into(),
                ];
                let force = if *replaces && !*rotation {
                    " --force"
                } else {
                    ""
                };
                out.push(format!(
                    "Store it: `registrar apply` on a terminal asks for it; or pipe it into `registrar secrets set {code} --key {secret_id}{force}` (client id, then secret)."
                ));
                if *rotation {
                    out.push(
                        "Keep the old secret until the overlap ends: a later step deletes it."
                            .into(),
                    );
                }
                out
            }
            StepAction::StoreSecret { code, secret_id } => vec![
                format!(
                    "The secret `{secret_id}` of `{code}` was issued but is not in the secrets store."
                ),
                format!(
                    "If you still have it, pipe it into `registrar secrets set {code} --key {secret_id}`; if it is lost, `registrar rotate {code} --key {secret_id}` adds a new one."
                ),
            ],
            StepAction::DeleteSecret {
                code,
                description,
                older_than,
                ..
            } => {
                let mut out = vec![format!(
                    "In the apaleo dashboard open Apps → Connected apps → `{code}` → Secrets."
                )];
                match (description, older_than) {
                    (_, Some(t)) => out.push(format!(
                        "The rotation's overlap is over: delete the old secret, added before {t}; keep the newer one."
                    )),
                    (Some(d), None) => out.push(format!("Delete the secret described `{d}`.")),
                    (None, None) => out.push("Delete the secret.".into()),
                }
                out
            }
            StepAction::DeleteClient { code } => vec![format!(
                "In the apaleo dashboard open Apps → Connected apps → `{code}` and delete the app."
            )],
            StepAction::ConfirmClient {
                code,
                name,
                logo_url,
                redirect_uris,
                pii,
                scopes,
            } => {
                let mut out = vec![format!(
                    "In the apaleo dashboard open Apps → Connected apps → `{code}`: registrar cannot read these back, so confirm they are so (correct and save any that differ):"
                )];
                if let Some(n) = name {
                    out.push(format!("Client name: {n}"));
                }
                if let Some(l) = logo_url {
                    out.push(format!(
                        "Logo URL: {}",
                        if l.is_empty() { "(none)" } else { l }
                    ));
                }
                if let Some(us) = redirect_uris {
                    out.push(format!("Redirect URIs, exactly these: {}", list(us)));
                }
                if let Some(p) = pii {
                    out.push(format!(
                        "Personally identifiable information: {}",
                        if *p { "ticked" } else { "unticked" }
                    ));
                }
                if let Some(sc) = scopes {
                    out.push(format!("Scopes ticked: {}", list(sc)));
                }
                out.push("`registrar apply` on a terminal records them once you confirm.".into());
                out
            }
            StepAction::CheckClient { code, problem } => vec![
                format!("Verification: {problem}"),
                format!(
                    "In the apaleo dashboard open Apps → Connected apps and look for `{code}`."
                ),
            ],
        }
    }
}
