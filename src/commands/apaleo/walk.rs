//! `apply` on apaleo at a terminal: the checklist step by step. Each step is shown; the
//! person confirms it, skips it or stops. A step that issues a secret reads it without echo
//! (a bare line, or a `CLIENT_SECRET=…` line as `secrets set` takes), stores it encrypted at
//! once, verifies it at the token endpoint and says what to check when that fails. A client
//! whose steps are all done and verified is recorded as applied.

use std::io::{BufRead, Write};

use zeroize::Zeroizing;

use super::Session;
use crate::apaleo::STORE_DEVELOPER;
use crate::apaleo::model::SecretCheck;
use crate::apaleo::plan::{Action, ClientPlan, Plan};
use crate::apaleo::steps::{Step, StepAction};
use crate::escape::Escaped;
use crate::model::Secret;
use crate::secrets::store::StoredCredential;

/// What the person answered to a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Done.
    Done,
    /// Not now.
    Skip,
    /// Stop the walk.
    Quit,
}

/// Talks to the person.
pub trait Prompt {
    /// Shows text (lines end in `\n`).
    fn say(&mut self, text: &str);
    /// Asks whether a step is done.
    fn ask(&mut self, question: &str) -> anyhow::Result<Reply>;
    /// Reads a line without echo: the pasted secret ([`parse_pasted`] reads it).
    fn secret(&mut self, question: &str) -> anyhow::Result<Zeroizing<String>>;
}

/// How a walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Steps done.
    pub done: usize,
    /// Steps not done (skipped, failed verification, or after a stop).
    pub pending: usize,
}

/// A secret from a pasted line: the line itself, or the value of a `CLIENT_SECRET=…` (also
/// `client_secret`, `CONSUMER_SECRET`, `consumerSecret`, `export …`) line.
pub fn parse_pasted(line: &str) -> Option<Secret> {
    let line = line.trim();
    let line = line.strip_prefix("export ").map_or(line, str::trim_start);
    if line.is_empty() {
        return None;
    }
    if let Some((name, value)) = line.split_once('=') {
        let n: String = name
            .chars()
            .filter(|c| *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        if matches!(n.as_str(), "clientsecret" | "consumersecret") {
            let v = value.trim().trim_matches(|c| c == '\'' || c == '"');
            return (!v.is_empty()).then(|| Secret::new(v));
        }
    }
    Some(Secret::new(line))
}

fn steps_text(step: &Step) -> String {
    let mut out = String::new();
    let pad = " ".repeat(step.number.to_string().len() + 2);
    for (i, l) in step.instructions.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("  {}. {}\n", step.number, Escaped(l)));
        } else {
            out.push_str(&format!("  {pad}{}\n", Escaped(l)));
        }
    }
    out
}

/// What to check when a secret just pasted does not verify.
fn advice(check: &SecretCheck, code: &str) -> String {
    match check {
        SecretCheck::Refused => format!(
            "apaleo refuses it (invalid_client): check that you copied the whole secret of `{code}` (not another app's), and that the app was saved"
        ),
        SecretCheck::MissingScopes { scopes } => format!(
            "the secret works, but these scopes are not granted: {}; tick them in the app and save",
            scopes.join(", ")
        ),
        SecretCheck::Unexpected { detail } => {
            format!("the token endpoint answered {detail}; check the app's kind and settings")
        }
        _ => String::new(),
    }
}

/// Walks the plan's steps with `prompt`.
pub async fn walk(
    session: &Session,
    plan: &Plan,
    prompt: &mut dyn Prompt,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::default();
    prompt.say(&format!(
        "{} manual step{} for apaleo account `{}`. For each: do it in the dashboard, then answer y (done), s (skip) or q (stop).\n",
        plan.summary.steps,
        if plan.summary.steps == 1 { "" } else { "s" },
        Escaped(&plan.account)
    ));
    let clients: Vec<&ClientPlan> = plan
        .clients
        .iter()
        .filter(|c| !c.steps.is_empty())
        .collect();
    for (ci, c) in clients.iter().enumerate() {
        prompt.say(&format!(
            "\n{} ({} client):\n",
            Escaped(&c.code),
            c.kind.as_str()
        ));
        for p in &c.problems {
            prompt.say(&format!("  problem: {}\n", Escaped(p)));
        }
        // Whether every step without a secret was confirmed: then the client is recorded,
        // with the secrets that verify.
        let mut confirmed = true;
        for (si, step) in c.steps.iter().enumerate() {
            prompt.say(&steps_text(step));
            let optional = matches!(
                step.action,
                StepAction::CreateClient {
                    only_if_missing: true,
                    ..
                }
            );
            let done = if let Some((code, id)) = step.action.captures() {
                capture(session, c, step, code, id, prompt).await?
            } else {
                let question = if optional {
                    "  Done, or not needed? [y/q] "
                } else {
                    "  Done? [y/s/q] "
                };
                match prompt.ask(question)? {
                    Reply::Done => {
                        effect(session, c, step)?;
                        true
                    }
                    Reply::Skip if optional => true,
                    Reply::Skip => {
                        confirmed = false;
                        false
                    }
                    Reply::Quit => {
                        let left_here = c.steps.len() - si;
                        let later: usize = clients[ci + 1..].iter().map(|c| c.steps.len()).sum();
                        outcome.pending += left_here + later;
                        prompt.say(&format!(
                            "Stopped: {} step{} pending; `registrar apply` picks them up again.\n",
                            outcome.pending,
                            if outcome.pending == 1 { "" } else { "s" }
                        ));
                        return Ok(outcome);
                    }
                }
            };
            if done {
                outcome.done += 1;
            } else {
                outcome.pending += 1;
            }
        }
        if confirmed {
            finish(session, c, prompt).await?;
        }
    }
    prompt.say(&format!(
        "\n{} step{} done, {} pending.\n",
        outcome.done,
        if outcome.done == 1 { "" } else { "s" },
        outcome.pending
    ));
    Ok(outcome)
}

/// Reads, stores and verifies the secret a step issues. Returns whether it verified.
async fn capture(
    session: &Session,
    c: &ClientPlan,
    step: &Step,
    code: &str,
    id: &str,
    prompt: &mut dyn Prompt,
) -> anyhow::Result<bool> {
    let line = prompt.secret(&format!(
        "  Paste the secret of `{}` (stored as `{}`; input hidden, empty to skip): ",
        Escaped(code),
        Escaped(id)
    ))?;
    let Some(secret) = parse_pasted(&line) else {
        return Ok(false);
    };
    let cred = StoredCredential {
        consumer_key: Secret::new(code),
        consumer_secret: secret,
        issued_at: crate::units::now_ms(),
        expires_at: None,
    };
    let store = &session.store;
    let rotation = matches!(step.action, StepAction::AddSecret { rotation: true, .. })
        && store.index().rotation(STORE_DEVELOPER, code, id).is_some();
    let entry = if rotation {
        let o = store.complete_rotation(STORE_DEVELOPER, code, id, &cred, cred.issued_at)?;
        if o.retiring.is_some() {
            prompt.say(
                "  The previous secret is kept through the overlap; a later step deletes it.\n",
            );
        }
        o.active
    } else {
        store.store(STORE_DEVELOPER, code, id, &cred)?
    };
    prompt.say(&format!(
        "  Stored `{}` encrypted (secret {}).\n",
        entry.address(),
        entry.consumer_secret_fingerprint
    ));
    let Some(client) = &c.desired else {
        return Ok(true);
    };
    match session.check(client, &entry).await? {
        Some(check) if check.works() && !matches!(check, SecretCheck::MissingScopes { .. }) => {
            prompt.say("  Verified at the token endpoint.\n");
            Ok(true)
        }
        Some(check) => {
            prompt.say(&format!(
                "  Verification failed: {}.\n  It stays stored; `registrar plan` checks it again.\n",
                Escaped(&advice(&check, code))
            ));
            Ok(false)
        }
        None => {
            prompt.say(
                "  Not verified: no identity to decrypt the store (set REGISTRAR_IDENTITY).\n",
            );
            Ok(false)
        }
    }
}

/// What registrar does once a step without a secret is confirmed.
fn effect(session: &Session, c: &ClientPlan, step: &Step) -> anyhow::Result<()> {
    let store = &session.store;
    match &step.action {
        StepAction::DeleteSecret {
            code,
            secret_id,
            older_than,
            ..
        } => {
            if older_than.is_some() {
                for e in store.retiring() {
                    if e.developer == STORE_DEVELOPER && e.app == *code && e.id == *secret_id {
                        store.remove_retiring(&e)?;
                    }
                }
            } else {
                store.remove(STORE_DEVELOPER, code, secret_id)?;
            }
        }
        StepAction::DeleteClient { code } => {
            for e in store.app_entries(STORE_DEVELOPER, code) {
                if e.state == crate::secrets::index::KeyState::Retiring {
                    store.remove_retiring(&e)?;
                } else {
                    store.remove(STORE_DEVELOPER, code, &e.id)?;
                }
            }
            session
                .open_registry()?
                .apaleo_forget(&session.account, code)?;
            let _ = c;
        }
        _ => {}
    }
    Ok(())
}

/// After every step of a client without a secret was confirmed: records the client as
/// applied, with the declared secrets that are stored and verify at the token endpoint
/// (the others stay steps of the next plan).
async fn finish(session: &Session, c: &ClientPlan, prompt: &mut dyn Prompt) -> anyhow::Result<()> {
    if c.action == Action::Delete {
        prompt.say(&format!(
            "  `{}` is deleted and forgotten.\n",
            Escaped(&c.code)
        ));
        return Ok(());
    }
    let Some(client) = &c.desired else {
        return Ok(());
    };
    let mut record = client.clone();
    let mut kept = Vec::new();
    for s in &client.secrets {
        let entry = session
            .store
            .app_entries(STORE_DEVELOPER, &client.code)
            .into_iter()
            .find(|e| e.id == s.id && e.state == crate::secrets::index::KeyState::Active);
        let check = match &entry {
            Some(e) => session.check(client, e).await?,
            None => None,
        };
        match check {
            Some(check) if check.works() => {
                if let SecretCheck::MissingScopes { .. } = check {
                    prompt.say(&format!(
                        "  Still {}.\n",
                        Escaped(&advice(&check, &client.code))
                    ));
                }
                kept.push(s.clone());
            }
            Some(check) => prompt.say(&format!(
                "  Secret `{}` is not recorded: {}.\n",
                Escaped(&s.id),
                Escaped(&advice(&check, &client.code))
            )),
            None => prompt.say(&format!(
                "  Secret `{}` is not recorded: it is not stored and verified yet.\n",
                Escaped(&s.id)
            )),
        }
    }
    record.secrets = kept;
    session
        .open_registry()?
        .apaleo_record(&session.account, &record)?;
    let ids: Vec<&str> = record.secrets.iter().map(|s| s.id.as_str()).collect();
    prompt.say(&format!(
        "  Recorded `{}` as applied ({}).\n",
        Escaped(&client.code),
        if ids.is_empty() {
            "no secret verified yet".to_string()
        } else {
            format!("secrets: {}", ids.join(", "))
        }
    ));
    Ok(())
}

/// The terminal: questions on stderr, answers from `/dev/tty`, secrets read with echo off.
pub struct Terminal {
    tty: std::io::BufReader<std::fs::File>,
}

impl Terminal {
    /// Opens the controlling terminal.
    pub fn open() -> anyhow::Result<Terminal> {
        let f = std::fs::File::open("/dev/tty").map_err(|e| {
            crate::error::hinted(
                format!("cannot open the terminal: {e}"),
                "run apply without a terminal to print the checklist",
            )
        })?;
        Ok(Terminal {
            tty: std::io::BufReader::new(f),
        })
    }

    fn line(&mut self) -> anyhow::Result<Zeroizing<String>> {
        let mut s = Zeroizing::new(String::new());
        self.tty.read_line(&mut s)?;
        Ok(s)
    }
}

/// Echo off on a file descriptor until dropped.
struct NoEcho {
    fd: i32,
    saved: libc::termios,
}

impl NoEcho {
    fn new(fd: i32) -> Option<NoEcho> {
        // SAFETY: `termios` is plain data; tcgetattr fills it or fails.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is the open terminal; t is a valid termios to write into.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        t.c_lflag |= libc::ECHONL;
        // SAFETY: as above; t is a valid termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
            return None;
        }
        Some(NoEcho { fd, saved })
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new` on the same descriptor.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

impl Prompt for Terminal {
    fn say(&mut self, text: &str) {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(text.as_bytes());
        let _ = e.flush();
    }

    fn ask(&mut self, question: &str) -> anyhow::Result<Reply> {
        loop {
            self.say(question);
            let answer = self.line()?;
            match answer.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" | "d" | "done" => return Ok(Reply::Done),
                "s" | "skip" | "n" | "no" => return Ok(Reply::Skip),
                "q" | "quit" => return Ok(Reply::Quit),
                "" if answer.is_empty() => return Ok(Reply::Quit),
                _ => self.say("  Answer y (done), s (skip) or q (stop).\n"),
            }
        }
    }

    fn secret(&mut self, question: &str) -> anyhow::Result<Zeroizing<String>> {
        use std::os::fd::AsRawFd;
        self.say(question);
        let fd = self.tty.get_ref().as_raw_fd();
        let guard = NoEcho::new(fd);
        if guard.is_none() {
            anyhow::bail!("cannot turn the terminal's echo off: refusing to read a secret");
        }
        let line = self.line()?;
        drop(guard);
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_lines_take_the_secrets_set_formats() {
        assert_eq!(parse_pasted("  abc \n").unwrap().expose(), "abc");
        assert_eq!(parse_pasted("CLIENT_SECRET=xyz").unwrap().expose(), "xyz");
        assert_eq!(
            parse_pasted("export client_secret='x y'").unwrap().expose(),
            "x y"
        );
        assert_eq!(parse_pasted("consumerSecret=s").unwrap().expose(), "s");
        // A base64 secret with `=` padding is a secret, not an assignment.
        assert_eq!(parse_pasted("YWJj=").unwrap().expose(), "YWJj=");
        assert!(parse_pasted("\n").is_none());
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod walk_tests;
