//! `apply` on apaleo at a terminal: the checklist step by step. Each step is shown; the
//! person confirms it, skips it or stops. A step that issues a secret reads it without echo
//! (a bare line, or a `CLIENT_SECRET=…` line as `secrets set` takes, after a `CLIENT_ID=…`
//! line if one is pasted too), stores it encrypted at
//! once, verifies it at the token endpoint and says what to check when that fails. A client
//! whose steps are all done and verified is recorded as applied.

use std::io::{BufRead, Write};

use zeroize::Zeroizing;

use super::Session;
use crate::apaleo::plan::{Action, ClientPlan, Plan};
use crate::apaleo::steps::{Step, StepAction};
use crate::escape::Escaped;
use crate::model::Secret;
use crate::model::apaleo::STORE_DEVELOPER;
use crate::model::apaleo::SecretCheck;
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
    /// Reads a pasted secret without echo: a line, and the next one too when the first
    /// assigns a client id ([`is_id_line`]); [`parse_pasted`] reads them.
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

/// A `NAME=value` line (after an optional `export `) naming a client id or secret, with
/// the name lowercased and its `_` dropped, and the value unquoted; `None` for any other
/// line (a base64 secret's `=` padding is no assignment).
fn assignment(line: &str) -> Option<(String, &str)> {
    let line = line.trim();
    let line = line.strip_prefix("export ").map_or(line, str::trim_start);
    let (name, value) = line.split_once('=')?;
    let n: String = name
        .chars()
        .filter(|c| *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    const NAMES: [&str; 4] = ["clientsecret", "consumersecret", "clientid", "consumerkey"];
    NAMES
        .contains(&n.as_str())
        .then(|| (n, value.trim().trim_matches(|c| c == '\'' || c == '"')))
}

/// Whether a pasted line assigns a client id (`CLIENT_ID=…`, `client_id`, `CONSUMER_KEY`,
/// `consumerKey`, `export …`): the secret is on the next line.
pub fn is_id_line(line: &str) -> bool {
    assignment(line).is_some_and(|(n, _)| n == "clientid" || n == "consumerkey")
}

/// The secret of client `code` from what was pasted: a bare line, or the value of a
/// `CLIENT_SECRET=…` (also `client_secret`, `CONSUMER_SECRET`, `consumerSecret`,
/// `export …`) line, after an optional client id line, which must name `code`. `Ok(None)`:
/// nothing pasted; `Err`: what is wrong with the paste (never showing it).
pub fn parse_pasted(text: &str, code: &str) -> Result<Option<Secret>, String> {
    let mut secret = None;
    let mut id_only = false;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match assignment(line) {
            Some((n, v)) if n == "clientid" || n == "consumerkey" => {
                if v != code {
                    return Err(format!(
                        "the pasted client id is not `{code}`: paste the secret of `{code}`"
                    ));
                }
                id_only = true;
            }
            Some((_, v)) if secret.is_none() => {
                if v.is_empty() {
                    return Err("the pasted `CLIENT_SECRET=` line has no value".into());
                }
                secret = Some(Secret::new(v));
            }
            None if secret.is_none() => {
                let bare = line.strip_prefix("export ").map_or(line, str::trim_start);
                secret = Some(Secret::new(bare));
            }
            _ => return Err("more than one secret was pasted: paste one".into()),
        }
    }
    match secret {
        Some(s) => Ok(Some(s)),
        None if id_only => Err(
            "only a client id was pasted: paste the secret (alone, or the `CLIENT_SECRET=…` line after the id)".into(),
        ),
        None => Ok(None),
    }
}

/// One step as the walk shows it (the same lines as the plan's).
fn step_lines(step: &Step) -> String {
    let mut out = String::new();
    crate::apaleo::render::step_text(&mut out, step, "  ");
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
        SecretCheck::StoredForAnother => format!(
            "it was stored with another client id than `{code}`: paste the secret of `{code}`"
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
            prompt.say(&format!("  problem: {}\n", Escaped(&p.message)));
        }
        // Whether every step without a secret was confirmed: then the client is recorded,
        // with the secrets that verify.
        let mut confirmed = true;
        for (si, step) in c.steps.iter().enumerate() {
            prompt.say(&step_lines(step));
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
                        effect(session, step)?;
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
    let secret = match parse_pasted(&line, code) {
        Ok(Some(secret)) => secret,
        Ok(None) => return Ok(false),
        Err(why) => {
            prompt.say(&format!("  Not stored: {why}.\n"));
            return Ok(false);
        }
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
fn effect(session: &Session, step: &Step) -> anyhow::Result<()> {
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

/// Echo off on a file descriptor until dropped. A signal that ends the process meanwhile
/// (SIGINT from Ctrl-C, SIGTERM, SIGHUP, SIGQUIT) restores the terminal first: a handler
/// puts the saved settings back and re-raises the signal with its previous disposition.
struct NoEcho {
    fd: i32,
    saved: libc::termios,
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

/// The signals that restore the terminal before ending the process.
const RESTORE_ON: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// The descriptor the signal handler restores (-1: nothing). Set after [`RESTORE_COPY`] is
/// written and before the handler is installed; cleared on drop.
static RESTORE_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
/// The settings the handler puts back, readable without a lock (written before RESTORE_FD).
static mut RESTORE_COPY: std::mem::MaybeUninit<libc::termios> = std::mem::MaybeUninit::uninit();

extern "C" fn restore_and_reraise(sig: libc::c_int) {
    let fd = RESTORE_FD.swap(-1, std::sync::atomic::Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: RESTORE_COPY was written before RESTORE_FD was set (SeqCst) and is not
        // written while RESTORE_FD is set; tcsetattr is async-signal-safe.
        unsafe {
            let t = std::ptr::addr_of!(RESTORE_COPY).cast::<libc::termios>();
            libc::tcsetattr(fd, libc::TCSANOW, t);
        }
    }
    // SAFETY: signal and raise are async-signal-safe; the default disposition ends the
    // process as the signal would have.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
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
        // SAFETY: no handler reads RESTORE_COPY while RESTORE_FD is -1, which it is: one
        // guard at a time (the walk reads one secret at a time), cleared on drop.
        unsafe {
            std::ptr::addr_of_mut!(RESTORE_COPY).write(std::mem::MaybeUninit::new(saved));
        }
        RESTORE_FD.store(fd, std::sync::atomic::Ordering::SeqCst);
        let mut previous = Vec::new();
        for sig in RESTORE_ON {
            // SAFETY: sigaction structs are plain data; the handler is async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = restore_and_reraise as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) == 0 {
                    previous.push((sig, old));
                }
            }
        }
        t.c_lflag &= !libc::ECHO;
        t.c_lflag |= libc::ECHONL;
        let guard = NoEcho {
            fd,
            saved,
            previous,
        };
        // SAFETY: as above; t is a valid termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
            return None;
        }
        Some(guard)
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new` on the same descriptor, then the
        // signal dispositions `new` replaced.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
            RESTORE_FD.store(-1, std::sync::atomic::Ordering::SeqCst);
            for (sig, old) in &self.previous {
                libc::sigaction(*sig, old, std::ptr::null_mut());
            }
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
        let mut line = self.line()?;
        // A `CLIENT_ID=…` line first: the secret is on the next one, read with echo still off.
        if is_id_line(&line) {
            self.say("  (client id read; now the secret): ");
            let next = self.line()?;
            line.push_str(&next);
        }
        drop(guard);
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pasted(text: &str) -> Option<String> {
        parse_pasted(text, "bot")
            .unwrap()
            .map(|s| s.expose().to_string())
    }

    #[test]
    fn pasted_lines_take_the_secrets_set_formats() {
        assert_eq!(pasted("  abc \n").as_deref(), Some("abc"));
        assert_eq!(pasted("CLIENT_SECRET=xyz").as_deref(), Some("xyz"));
        assert_eq!(pasted("export client_secret='x y'").as_deref(), Some("x y"));
        assert_eq!(pasted("consumerSecret=s").as_deref(), Some("s"));
        // A base64 secret with `=` padding is a secret, not an assignment.
        assert_eq!(pasted("YWJj=").as_deref(), Some("YWJj="));
        assert_eq!(pasted("\n"), None);
    }

    #[test]
    fn a_two_line_paste_stores_the_secret_not_the_id() {
        assert!(is_id_line("CLIENT_ID=bot"));
        assert!(is_id_line("export consumerKey=bot"));
        assert!(!is_id_line("CLIENT_SECRET=s"));
        assert!(!is_id_line("YWJj="));
        assert_eq!(
            pasted("CLIENT_ID=bot\nCLIENT_SECRET=the-secret\n").as_deref(),
            Some("the-secret")
        );
        assert_eq!(
            pasted("export CONSUMER_KEY=\"bot\"\nexport CONSUMER_SECRET='s2'").as_deref(),
            Some("s2")
        );
        // Another client's id, an id alone, two secrets: refused, never shown.
        let e = parse_pasted("CLIENT_ID=other\nCLIENT_SECRET=s", "bot").unwrap_err();
        assert!(e.contains("`bot`") && !e.contains("other"), "{e}");
        assert!(parse_pasted("CLIENT_ID=bot", "bot").is_err());
        let e = parse_pasted("CLIENT_SECRET=s1\nCLIENT_SECRET=s2", "bot").unwrap_err();
        assert!(!e.contains("s1") && !e.contains("s2"), "{e}");
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod walk_tests;
