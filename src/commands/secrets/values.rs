//! The two commands that handle secret values at the terminal: `secrets show` (the only
//! command that prints them, to stdout only) and `secrets set` (reads them from stdin and
//! never echoes them). Buffers holding values are [`Zeroizing`] and allocated at their
//! final size.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use serde::Serialize;
use zeroize::Zeroizing;

use super::{Context, require_identity};
use crate::cli::{SecretFormat, SecretsSetArgs, SecretsShowArgs};
use crate::error::hinted;
use crate::model::Secret;
use crate::secrets::Identity;
use crate::secrets::index::KeyState;
use crate::secrets::store::StoredCredential;
use crate::units::now_ms;

/// Most bytes `secrets set` reads from stdin.
const MAX_STDIN: usize = 64 * 1024;

/// Runs `registrar secrets show`.
pub fn cmd_show(args: &SecretsShowArgs) -> anyhow::Result<ExitCode> {
    let identity = require_identity(args.identity.as_deref(), "secrets show")?;
    let ctx = Context::open(&args.store)?;
    let (developer, ids) = ctx.resolve_app(&args.app, args.developer.as_deref())?;
    let identity = Identity::from_file(identity)?;
    let mut entries: Vec<_> = ctx
        .store
        .app_entries(&developer, &args.app)
        .into_iter()
        .filter(|e| e.state == KeyState::Active)
        .filter(|e| args.key.as_ref().is_none_or(|k| *k == e.id))
        .collect();
    entries.sort_by_key(|e| ids.iter().position(|i| *i == e.id).unwrap_or(usize::MAX));
    if entries.is_empty() {
        let what = match &args.key {
            Some(k) => format!(
                "no stored key `{k}` for app `{}` of `{developer}`",
                args.app
            ),
            None => format!("no stored keys for app `{}` of `{developer}`", args.app),
        };
        return Err(hinted(
            what,
            format!(
                "credentials of the app: {}; `registrar secrets list` shows what is stored, `registrar apply` issues keys",
                ids.join(", ")
            ),
        ));
    }
    let mut shown = Vec::with_capacity(entries.len());
    for e in &entries {
        shown.push((e.id.clone(), ctx.store.read_entry(&identity, e)?));
    }
    let text = match args.format {
        SecretFormat::Env => render_env(&shown),
        SecretFormat::Json => render_json(&developer, &args.app, &shown),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&text)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `CONSUMER_KEY=…` / `CONSUMER_SECRET=…` lines; with several keys the names end in the
/// credential id (`CONSUMER_KEY_PRIMARY`).
fn render_env(creds: &[(String, StoredCredential)]) -> Zeroizing<Vec<u8>> {
    let size: usize = creds
        .iter()
        .map(|(id, c)| {
            4 * (c.consumer_key.expose().len() + c.consumer_secret.expose().len())
                + 2 * id.len()
                + 64
        })
        .sum();
    let mut out = Zeroizing::new(Vec::with_capacity(size));
    for (id, c) in creds {
        let suffix = if creds.len() == 1 {
            String::new()
        } else {
            let s: String = id
                .chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() {
                        ch.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("_{s}")
        };
        for (name, value) in [
            ("CONSUMER_KEY", &c.consumer_key),
            ("CONSUMER_SECRET", &c.consumer_secret),
        ] {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(suffix.as_bytes());
            out.push(b'=');
            push_shell_quoted(&mut out, value.expose());
            out.push(b'\n');
        }
    }
    out
}

/// Appends `value`, single-quoted if it holds anything a shell would interpret.
fn push_shell_quoted(out: &mut Vec<u8>, value: &str) {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.,:/+=@%".contains(&b));
    if plain {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    out.push(b'\'');
    for b in value.bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

/// A JSON array of `{developer, app, id, consumerKey, consumerSecret, issuedAt, expiresAt}`.
fn render_json(
    developer: &str,
    app: &str,
    creds: &[(String, StoredCredential)],
) -> Zeroizing<Vec<u8>> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Shown<'a> {
        developer: &'a str,
        app: &'a str,
        id: &'a str,
        consumer_key: &'a str,
        consumer_secret: &'a str,
        issued_at: i64,
        expires_at: Option<i64>,
    }
    let items: Vec<Shown<'_>> = creds
        .iter()
        .map(|(id, c)| Shown {
            developer,
            app,
            id,
            consumer_key: c.consumer_key.expose(),
            consumer_secret: c.consumer_secret.expose(),
            issued_at: c.issued_at,
            expires_at: c.expires_at,
        })
        .collect();
    // JSON escapes at most 6 bytes per byte; pretty printing adds bounded indentation.
    let size: usize = items
        .iter()
        .map(|s| {
            6 * (s.developer.len()
                + s.app.len()
                + s.id.len()
                + s.consumer_key.len()
                + s.consumer_secret.len())
                + 256
        })
        .sum::<usize>()
        + 16;
    let mut out = Zeroizing::new(Vec::with_capacity(size));
    serde_json::to_writer_pretty(&mut *out, &items).expect("serializing to memory cannot fail");
    out.push(b'\n');
    out
}

/// Runs `registrar secrets set`: a consumer key and secret from stdin into the store.
pub fn cmd_set(args: &SecretsSetArgs) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(hinted(
            "`secrets set` reads the consumer key and secret from stdin, which is a terminal",
            "pipe them in: `printf '%s\\n%s\\n' \"$KEY\" \"$SECRET\" | registrar secrets set APP --key ID`, \
             or redirect a file of `CONSUMER_KEY=…` and `CONSUMER_SECRET=…` lines",
        ));
    }
    let ctx = Context::open(&args.store)?;
    let (developer, ids) = ctx.resolve_app(&args.app, args.developer.as_deref())?;
    if !ids.contains(&args.key) {
        return Err(hinted(
            format!("app `{}` has no credential `{}`", args.app, args.key),
            format!("its credentials: {}", ids.join(", ")),
        ));
    }
    let mut input = Zeroizing::new(Vec::with_capacity(MAX_STDIN + 1));
    stdin
        .lock()
        .take(MAX_STDIN as u64 + 1)
        .read_to_end(&mut input)?;
    if input.len() > MAX_STDIN {
        anyhow::bail!(
            "stdin holds more than {MAX_STDIN} bytes: expected a consumer key and a secret"
        );
    }
    let parsed = parse_input(&input)?;
    let cred = StoredCredential {
        consumer_key: parsed.key,
        consumer_secret: parsed.secret,
        issued_at: parsed.issued_at.unwrap_or_else(now_ms),
        expires_at: parsed.expires_at,
    };
    if developer == crate::model::apaleo::STORE_DEVELOPER
        && ctx
            .store
            .index()
            .rotation(&developer, &args.app, &args.key)
            .is_some()
    {
        // An apaleo rotation: the new secret becomes active, the old one is kept (and
        // verified) through the overlap; a later checklist step deletes it.
        let o = ctx
            .store
            .complete_rotation(&developer, &args.app, &args.key, &cred, now_ms())?;
        println!(
            "Stored the new secret of `{}` (secret {}){}.",
            o.active.address(),
            o.active.consumer_secret_fingerprint,
            o.retiring
                .map(|r| format!(
                    "; the old one (secret {}) is kept through the overlap",
                    r.consumer_secret_fingerprint
                ))
                .unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let stored = ctx
        .store
        .app_entries(&developer, &args.app)
        .into_iter()
        .find(|e| e.id == args.key && e.state == KeyState::Active);
    let (key_fp, secret_fp) = (
        cred.consumer_key.fingerprint(),
        cred.consumer_secret.fingerprint(),
    );
    let replaced = match stored {
        Some(e)
            if e.consumer_key_fingerprint == key_fp
                && e.consumer_secret_fingerprint == secret_fp =>
        {
            println!(
                "Key `{}` is stored already (consumer key {key_fp}): nothing changed.",
                e.address()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Some(e) if !args.force => {
            return Err(hinted(
                format!(
                    "`{}` already holds a key (consumer key {}, secret {}); refusing to replace it",
                    e.address(),
                    e.consumer_key_fingerprint,
                    e.consumer_secret_fingerprint
                ),
                "on a platform that shows a secret once, the stored one may be the only copy: \
                 pass `--force` to replace it anyway",
            ));
        }
        Some(e) => Some(e.consumer_key_fingerprint),
        None => None,
    };
    let entry = ctx.store.store(&developer, &args.app, &args.key, &cred)?;
    println!(
        "Stored key `{}` in `{}` (consumer key {}, secret {}){}.",
        entry.address(),
        ctx.store.dir().join(&entry.file).display(),
        entry.consumer_key_fingerprint,
        entry.consumer_secret_fingerprint,
        replaced
            .map(|fp| format!(", replacing consumer key {fp}"))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// What one `NAME=value` line sets.
enum Field {
    Key,
    Secret,
    IssuedAt,
    ExpiresAt,
}

fn field(name: &str) -> Option<Field> {
    let n: String = name
        .chars()
        .filter(|c| *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    match n.as_str() {
        "consumerkey" | "clientid" => Some(Field::Key),
        "consumersecret" | "clientsecret" => Some(Field::Secret),
        "issuedat" => Some(Field::IssuedAt),
        "expiresat" => Some(Field::ExpiresAt),
        _ => None,
    }
}

/// `export NAME=value` (a shell line) reads as `NAME=value`.
fn strip_export(line: &str) -> &str {
    line.strip_prefix("export ").map_or(line, str::trim_start)
}

/// Whether a line looks like a shell assignment `NAME=value` rather than a bare key or
/// secret (`=` padding of a base64 secret does not count).
fn looks_like_assignment(line: &str) -> bool {
    let line = strip_export(line);
    line.split_once('=').is_some_and(|(name, value)| {
        let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && (name.contains('_') || name.chars().all(|c| !c.is_ascii_lowercase()));
        name_ok && !value.trim().is_empty() && !value.trim().chars().all(|c| c == '=')
    })
}

/// Parses stdin: two lines (consumer key, then secret), or `CONSUMER_KEY=…`,
/// `CONSUMER_SECRET=…` and optionally `ISSUED_AT=<ms>` / `EXPIRES_AT=<ms>` lines (also `consumerKey`,
/// `client_id`, `client_secret`). Errors never contain the input.
fn parse_input(input: &[u8]) -> anyhow::Result<Parsed> {
    let text =
        std::str::from_utf8(input).map_err(|_| anyhow::anyhow!("stdin is not UTF-8 text"))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let usage = "give two lines (consumer key, then secret) or `CONSUMER_KEY=…` and `CONSUMER_SECRET=…` lines";
    if lines.is_empty() {
        return Err(hinted(
            "stdin was empty: no consumer key or secret to store",
            usage,
        ));
    }
    let is_field = |l: &str| {
        strip_export(l)
            .split_once('=')
            .is_some_and(|(n, _)| field(n.trim()).is_some())
    };
    if !is_field(lines[0].1) {
        if let Some((n, _)) = lines.iter().find(|(_, l)| looks_like_assignment(l)) {
            return Err(hinted(
                format!(
                    "line {n} of stdin looks like `NAME=value` with a name registrar does not know"
                ),
                "name the values `CONSUMER_KEY` and `CONSUMER_SECRET`, or give the bare key and secret on two lines",
            ));
        }
        if lines.len() != 2 {
            return Err(hinted(
                format!("expected 2 lines on stdin, got {}", lines.len()),
                usage,
            ));
        }
        return Ok(Parsed {
            key: Secret::new(lines[0].1),
            secret: Secret::new(lines[1].1),
            issued_at: None,
            expires_at: None,
        });
    }
    let (mut key, mut secret, mut issued, mut expires) = (None, None, None, None);
    for (n, line) in lines {
        let Some((name, value)) = strip_export(line).split_once('=') else {
            return Err(hinted(
                format!("line {n} of stdin is not `NAME=value`"),
                usage,
            ));
        };
        // Copied into each `Secret` at its exact size; this buffer is zeroized on drop.
        let value = Zeroizing::new(unquote(value.trim()));
        let value = value.as_str();
        match field(name.trim()) {
            Some(Field::Key) => key = Some(Secret::new(value)),
            Some(Field::Secret) => secret = Some(Secret::new(value)),
            Some(Field::IssuedAt) => issued = Some(millis(value, n, "ISSUED_AT")?),
            Some(Field::ExpiresAt) => expires = Some(millis(value, n, "EXPIRES_AT")?),
            None => {
                // Never echo the name: a secret with `=` padding would split into one.
                return Err(hinted(
                    format!(
                        "line {n} of stdin sets a name registrar does not know (expected CONSUMER_KEY, CONSUMER_SECRET, ISSUED_AT or EXPIRES_AT)"
                    ),
                    usage,
                ));
            }
        }
    }
    match (key, secret) {
        (Some(k), Some(s)) if !k.expose().is_empty() && !s.expose().is_empty() => Ok(Parsed {
            key: k,
            secret: s,
            issued_at: issued,
            expires_at: expires,
        }),
        (Some(k), _) if k.expose().is_empty() => {
            Err(hinted("the consumer key on stdin is empty", usage))
        }
        (Some(_), Some(_)) => Err(hinted("the consumer secret on stdin is empty", usage)),
        (None, _) => Err(hinted("stdin has no `CONSUMER_KEY=` line", usage)),
        (_, None) => Err(hinted("stdin has no `CONSUMER_SECRET=` line", usage)),
    }
}

/// What `secrets set` read from stdin.
struct Parsed {
    key: Secret,
    secret: Secret,
    issued_at: Option<i64>,
    expires_at: Option<i64>,
}

/// A `NAME=<milliseconds since the epoch>` value (not secret: safe to name in errors).
fn millis(value: &str, line: usize, name: &str) -> anyhow::Result<i64> {
    value
        .parse::<i64>()
        .map_err(|_| anyhow::anyhow!("line {line}: `{name}` must be milliseconds since the epoch"))
}

/// Strips one pair of matching quotes, undoing `'\''` inside single quotes (as
/// `secrets show --format env` writes them).
fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        return v[1..v.len() - 1].replace("'\\''", "'");
    }
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        return v[1..v.len() - 1].to_string();
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(k: &str, s: &str) -> StoredCredential {
        StoredCredential {
            consumer_key: Secret::new(k),
            consumer_secret: Secret::new(s),
            issued_at: 1,
            expires_at: None,
        }
    }

    #[test]
    fn two_lines_or_named_lines() {
        let p = parse_input(b"ck-1\ncs-1\n").unwrap();
        assert_eq!(
            (p.key.expose(), p.secret.expose(), p.expires_at),
            ("ck-1", "cs-1", None)
        );
        let p = parse_input(
            b"# from the portal\nCONSUMER_KEY=ck-2\nconsumerSecret='c s=2'\nISSUED_AT=5\nEXPIRES_AT=99\n",
        )
        .unwrap();
        assert_eq!((p.key.expose(), p.secret.expose()), ("ck-2", "c s=2"));
        assert_eq!((p.issued_at, p.expires_at), (Some(5), Some(99)));
        let p = parse_input(b"client_id=a\nclient_secret=b64+/==\n").unwrap();
        assert_eq!(p.secret.expose(), "b64+/==");
    }

    #[test]
    fn bad_input_errors_do_not_echo_values() {
        for input in [
            &b""[..],
            b"\n\n",
            b"only-one-line-SEKRIT",
            b"a\nb\nSEKRIT",
            b"CONSUMER_KEY=SEKRIT\n",
            b"CONSUMER_KEY=SEKRIT\nCONSUMER_SECRET=\n",
            b"CONSUMER_KEY=SEKRIT\nSEKRIT-line\n",
            b"CONSUMER_KEY=SEKRIT\nCONSUMER_SECRET=x\nPASSWORD=SEKRIT\n",
            // A base64 secret split at its padding must not be echoed as a name.
            b"CONSUMER_KEY=a\nCONSUMER_SECRET=b\nSEKRITbase64==\n",
            // Shell lines with unknown names are refused, not stored as a literal key.
            b"export CLIENT_KEY=SEKRIT\nexport CLIENT_SEC=SEKRIT\n",
        ] {
            let err = parse_input(input).err().unwrap();
            let text = crate::error::render(&err);
            assert!(!text.contains("SEKRIT"), "{text}");
            assert!(text.contains("hint:"), "{text}");
        }
    }

    #[test]
    fn export_lines_and_padding() {
        let p = parse_input(b"export CONSUMER_KEY=ck\nexport CONSUMER_SECRET=cs\n").unwrap();
        assert_eq!((p.key.expose(), p.secret.expose()), ("ck", "cs"));
        let p = parse_input(b"ck-1\nQUJD==\n").unwrap();
        assert_eq!(
            p.secret.expose(),
            "QUJD==",
            "base64 padding is not an assignment"
        );
    }

    #[test]
    fn env_output_round_trips_through_set() {
        let one = render_env(&[("default".into(), cred("ck", "it's a secret"))]);
        assert_eq!(
            std::str::from_utf8(&one).unwrap(),
            "CONSUMER_KEY=ck\nCONSUMER_SECRET='it'\\''s a secret'\n"
        );
        let p = parse_input(&one).unwrap();
        assert_eq!((p.key.expose(), p.secret.expose()), ("ck", "it's a secret"));
        let two = render_env(&[
            ("primary".into(), cred("a", "b")),
            ("old-1".into(), cred("c", "d")),
        ]);
        assert_eq!(
            std::str::from_utf8(&two).unwrap(),
            "CONSUMER_KEY_PRIMARY=a\nCONSUMER_SECRET_PRIMARY=b\nCONSUMER_KEY_OLD_1=c\nCONSUMER_SECRET_OLD_1=d\n"
        );
    }

    #[test]
    fn json_output_holds_values_and_times() {
        let out = render_json("d@x", "app", &[("default".into(), cred("ck\"", "cs"))]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["consumerKey"], "ck\"");
        assert_eq!(v[0]["consumerSecret"], "cs");
        assert_eq!(v[0]["id"], "default");
        assert_eq!(v[0]["expiresAt"], serde_json::Value::Null);
    }
}
