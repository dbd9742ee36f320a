//! The per-field report of a client: what a token request proved (verified or failed),
//! what it could have proved but did not (unchecked), and what apaleo cannot show at all
//! (declared-only).

use std::collections::BTreeSet;

use super::plan::{FieldReport, Input, Proof};
use crate::model::apaleo::{Client, Field, SecretCheck, StoredSecret};

/// Per field of `d`, how the plan knows it: verified by a token request, failed, unchecked,
/// or declared-only.
pub(super) fn report(
    input: &Input<'_>,
    d: &Client,
    r: Option<&Client>,
    secrets: &[StoredSecret],
    missing: &BTreeSet<String>,
    granted: Option<(&[String], Option<&str>)>,
) -> Vec<FieldReport> {
    let works = secrets.iter().any(StoredSecret::works);
    let checked = secrets.iter().any(|s| s.check.is_some());
    let why_unchecked = || match input.unverified {
        Some(why) => why.to_string(),
        None if checked && !works => "no token: every stored secret is refused".to_string(),
        None if secrets.is_empty() => "no stored secret to verify with".to_string(),
        None => "not checked".to_string(),
    };
    let mut out = Vec::new();
    for &field in Field::of(d.kind) {
        let (proof, detail) = if !field.verifiable(d.kind) {
            let value = match field {
                Field::Name => d.name.clone(),
                Field::LogoUrl => d.logo_url.clone().unwrap_or_else(|| "(none)".into()),
                Field::RedirectUris => d.redirect_uris.join(", "),
                Field::Pii => d.pii.unwrap_or(false).to_string(),
                Field::Scopes => d.scopes.join(", "),
                _ => String::new(),
            };
            let whence = match r {
                Some(r) if r.unconfirmed.contains(&field) => "as declared; not confirmed yet",
                Some(_) => "as recorded",
                None => "as declared",
            };
            (
                Proof::DeclaredOnly,
                format!("{value} ({whence}; apaleo cannot read it back)"),
            )
        } else {
            match field {
                Field::Code if works => (
                    Proof::Verified,
                    "the token endpoint accepts its credentials".into(),
                ),
                Field::Code if checked => (
                    Proof::Failed,
                    "the token endpoint refuses every stored secret".into(),
                ),
                Field::Secrets => {
                    let mut parts = Vec::new();
                    let mut proof = Proof::Verified;
                    for s in &d.secrets {
                        let stored: Vec<&StoredSecret> =
                            secrets.iter().filter(|x| x.id == s.id).collect();
                        if stored.is_empty() {
                            parts.push(format!("{}: not stored", s.id));
                            if proof == Proof::Verified {
                                proof = Proof::Unchecked;
                            }
                        }
                        for x in stored {
                            let due = x.overlap_over(input.now_ms);
                            if due && x.check == Some(SecretCheck::Refused) {
                                parts.push(format!(
                                    "{} (old): deleted after the overlap, as asked",
                                    s.id
                                ));
                                continue;
                            }
                            let what = match &x.check {
                                Some(c) if c.works() => "works",
                                Some(SecretCheck::Refused) => {
                                    proof = Proof::Failed;
                                    "refused"
                                }
                                Some(SecretCheck::StoredForAnother) => {
                                    proof = Proof::Failed;
                                    "stored for another client"
                                }
                                Some(_) => {
                                    proof = Proof::Failed;
                                    "unexpected answer"
                                }
                                None => {
                                    if proof == Proof::Verified {
                                        proof = Proof::Unchecked;
                                    }
                                    "not checked"
                                }
                            };
                            let old = match (x.retiring, due) {
                                (true, false) => " (old, in overlap)",
                                (true, true) => " (old, overlap over)",
                                _ => "",
                            };
                            parts.push(format!("{}{old}: {what}", s.id));
                        }
                    }
                    if d.secrets.is_empty() {
                        proof = Proof::Unchecked;
                        parts.push("none declared".into());
                    }
                    (proof, parts.join("; "))
                }
                Field::Scopes if !missing.is_empty() => (
                    Proof::Failed,
                    format!(
                        "not granted: {}",
                        missing.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ),
                Field::Scopes if granted.is_some() => {
                    let identity = d.identity_scopes();
                    let mut detail = format!("granted: {}", d.verifiable_scopes().join(", "));
                    if !identity.is_empty() {
                        detail.push_str(&format!(
                            "; declared only (not for client credentials): {}",
                            identity.join(", ")
                        ));
                    }
                    (Proof::Verified, detail)
                }
                Field::Account => match granted {
                    Some((_, Some(a))) if a == input.account => (Proof::Verified, a.to_string()),
                    Some((_, Some(a))) => (Proof::Failed, format!("{a}, not {}", input.account)),
                    Some((_, None)) => (
                        Proof::Unchecked,
                        "the account API did not answer the token".into(),
                    ),
                    None if !missing.is_empty() => (
                        Proof::Unchecked,
                        "no token: a declared scope is missing".into(),
                    ),
                    _ => (Proof::Unchecked, why_unchecked()),
                },
                _ => (Proof::Unchecked, why_unchecked()),
            }
        };
        out.push(FieldReport {
            field,
            proof,
            detail,
        });
    }
    out
}
