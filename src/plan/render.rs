//! Plan rendering: text (coloured on a terminal), JSON (versioned), markdown (PR comments,
//! under 60,000 characters). Renderers only format: plans hold no secret values. Text and
//! markdown escape every value that comes from the config or the platform (names, attribute
//! values, reasons, notes) with [`crate::escape`]: one cannot forge a line, close the diff
//! fence or reach the terminal.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use serde_json::Value;

use super::{Action, Change, Counts, FieldChange, Flag, Plan};
use crate::escape::{Escaped, escape};

/// GitHub's comment limit is 65,536 characters; stay well below it.
pub const MARKDOWN_LIMIT: usize = 60_000;

fn symbol(action: Action) -> char {
    match action {
        Action::Create | Action::Mint => '+',
        Action::Delete => '-',
        _ => '~',
    }
}

fn style(action: Action) -> Style {
    let c = match action {
        Action::Create | Action::Mint => AnsiColor::Green,
        Action::Delete | Action::Revoke => AnsiColor::Red,
        _ => AnsiColor::Yellow,
    };
    Style::new().fg_color(Some(c.into()))
}

fn value(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        // Debug quoting already escapes most; the rest (bidi overrides) here.
        Some(Value::String(s)) => escape(&format!("{s:?}")).into_owned(),
        Some(other) => escape(&other.to_string()).into_owned(),
    }
}

/// Lines describing one field change; multi-line strings are shown as a line diff.
pub(crate) fn field_lines(f: &FieldChange) -> Vec<String> {
    let multi = |v: &Option<Value>| {
        v.as_ref()
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains('\n'))
    };
    if multi(&f.before) || multi(&f.after) {
        let before = f
            .before
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or_default();
        let after = f.after.as_ref().and_then(Value::as_str).unwrap_or_default();
        let mut out = vec![format!("{}:", Escaped(&f.field))];
        for change in similar::TextDiff::from_lines(before, after).iter_all_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Equal => ' ',
            };
            out.push(format!(
                "  {sign} {}",
                Escaped(change.value().trim_end_matches('\n'))
            ));
        }
        return out;
    }
    let field = Escaped(&f.field);
    match (&f.before, &f.after) {
        (None, after) => vec![format!("{field}: {}", value(after))],
        (before, None) => vec![format!("{field}: {} → (removed)", value(before))],
        (before, after) => vec![format!("{field}: {} → {}", value(before), value(after))],
    }
}

fn header(change: &Change) -> String {
    let mut h = head(change);
    for (words, _) in loud(change) {
        h.push_str(&format!("  [{words}]"));
    }
    h
}

/// `~ app alice@example.com/web  (update)`: a change's line without its flags.
fn head(change: &Change) -> String {
    format!(
        "{} {}  ({})",
        symbol(change.action),
        Escaped(&change.address),
        change.action.as_str()
    )
}

/// What a reviewer must not miss about a change, each with its own style: minting (magenta),
/// revoking or deleting live credentials (red), re-enabling a revoked one (yellow).
fn loud(change: &Change) -> Vec<(String, Style)> {
    let bold = |c: AnsiColor| Style::new().bold().fg_color(Some(c.into()));
    let mut out = Vec::new();
    if change.mints {
        out.push(("mints a credential".to_string(), bold(AnsiColor::Magenta)));
    }
    for f in &change.flags {
        let color = match f {
            Flag::ReEnables => AnsiColor::Yellow,
            _ => AnsiColor::Red,
        };
        out.push((f.describe(), bold(color)));
    }
    out
}

fn summary_line(c: Counts) -> String {
    let mints = if c.mints > 0 {
        format!(
            " ({} mint{} a credential)",
            c.mints,
            if c.mints == 1 { "s" } else { "" }
        )
    } else {
        String::new()
    };
    format!(
        "Plan: {} to create{mints}, {} to change, {} to delete{}{}.",
        c.create,
        c.change,
        c.delete,
        live_clause(c),
        stores_clause(c)
    )
}

/// ` (revokes N live credentials, deletes N, re-enables N)` when any, else nothing.
pub fn live_clause(c: Counts) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut parts = Vec::new();
    if c.revokes > 0 {
        parts.push(format!(
            "revokes {} live credential{}",
            c.revokes,
            plural(c.revokes)
        ));
    }
    if c.deletes_live > 0 {
        parts.push(format!(
            "deletes {} live credential{}",
            c.deletes_live,
            plural(c.deletes_live)
        ));
    }
    if c.re_enables > 0 {
        parts.push(format!(
            "re-enables {} revoked credential{}",
            c.re_enables,
            plural(c.re_enables)
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// `, N secret(s) to store` when the store lacks keys, `, N unmanaged key(s)`/`app(s)` when
/// managed parents hold what the config does not declare, `, N removed from the config` when
/// owned resources are no longer declared, `, N secret(s) out of step` when the store and the
/// platform disagree; else nothing.
fn stores_clause(c: Counts) -> String {
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!(", 1 {one}")
        } else {
            format!(", {n} {many}")
        }
    };
    let mut s = String::new();
    for (n, one, many) in [
        (c.store, "secret to store", "secrets to store"),
        (c.unmanaged, "unmanaged key", "unmanaged keys"),
        (c.unmanaged_apps, "unmanaged app", "unmanaged apps"),
        (
            c.removed,
            "removed from the config (kept without `--prune`)",
            "removed from the config (kept without `--prune`)",
        ),
        (c.secrets, "secret out of step", "secrets out of step"),
    ] {
        if n > 0 {
            s.push_str(&plural(n, one, many));
        }
    }
    s
}

/// The plan's drift: every entry of its report but the `config` ones.
fn drift_entries(plan: &Plan) -> Vec<super::drift::Entry> {
    super::drift::report_of(plan, |class| class != super::DriftClass::Config).entries
}

/// Why entries are listed under "Drift".
const DRIFT_WHY: &str = "changed outside registrar since the last apply, or no longer in the config; the changes below revert what the config manages";

/// Why a secret is listed under "Secrets to store".
const STORES_WHY: &str =
    "the platform has these keys and the secrets store lacks their secrets: apply stores them";

/// The plan as text; `color` adds ANSI styles.
pub fn text(plan: &Plan, color: bool) -> String {
    let mut out = String::new();
    write_text(&mut out, plan, color);
    out
}

/// [`text`] written to `out` as it is made: a plan of tens of thousands of changes is not
/// held whole in memory (`commands` streams it to stdout).
pub fn write_text(out: &mut impl std::fmt::Write, plan: &Plan, color: bool) {
    let paint = |s: &str, st: Style| {
        if color {
            format!("{}{s}{}", st.render(), st.render_reset())
        } else {
            s.to_string()
        }
    };
    let _ = writeln!(
        out,
        "registrar plan for {} (owner `{}`)",
        Escaped(&plan.backend),
        Escaped(&plan.owner)
    );
    let drift = drift_entries(plan);
    if !drift.is_empty() {
        let _ = writeln!(out, "\nDrift ({DRIFT_WHY}):");
        for e in &drift {
            let class = paint(
                &format!("{:<9}", e.class.as_str()),
                super::drift::render::class_style(e.class),
            );
            let what: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
            let what = if what.is_empty() {
                e.message.as_deref().map(|m| format!("  # {}", Escaped(m)))
            } else {
                Some(format!("  ({})", Escaped(&what.join(", "))))
            };
            let _ = writeln!(
                out,
                "  ! {class} {}{}",
                Escaped(&e.address),
                what.unwrap_or_default()
            );
        }
    }
    if !plan.differs() {
        let _ = writeln!(out, "\nNo changes. The platform matches the config.");
    } else if plan.changes.is_empty() && plan.unmanaged.is_empty() && plan.removed.is_empty() {
        let _ = writeln!(out, "\nThe platform matches the config.");
    } else if plan.changes.is_empty() {
        let _ = writeln!(out, "\nNothing to change without `--prune`.");
    } else {
        let _ = out.write_char('\n');
        for c in &plan.changes {
            let mut line = paint(&head(c), style(c.action));
            for (words, st) in loud(c) {
                line.push_str(&format!("  {}", paint(&format!("[{words}]"), st)));
            }
            let _ = writeln!(out, "{line}");
            if let Some(r) = &c.reason {
                let _ = writeln!(out, "    # {}", Escaped(r));
            }
            for f in &c.fields {
                for line in field_lines(f) {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
    }
    if !plan.stores.is_empty() {
        let _ = writeln!(out, "\nSecrets to store ({STORES_WHY}):");
        for st in &plan.stores {
            let line = format!("+ {}  (store {})", st.address, st.consumer_key_fingerprint);
            let _ = writeln!(out, "  {}", paint(&line, style(Action::Create)));
        }
    }
    if !plan.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for n in &plan.notes {
            let _ = writeln!(out, "  {}: {}", Escaped(&n.address), Escaped(&n.message));
        }
    }
    if plan.differs() {
        let c = plan.counts();
        let _ = writeln!(out, "\n{}", paint(&summary_line(c), Style::new().bold()));
        if c.mints > 0 {
            let warn = "Changes marked [mints a credential] issue new client secrets: apply stores them encrypted; distribute them with `registrar secrets show`.";
            let _ = writeln!(
                out,
                "{}",
                paint(warn, Style::new().fg_color(Some(AnsiColor::Magenta.into())))
            );
        }
    }
}

/// The plan as JSON: the plan itself plus a `summary` of counts.
pub fn json(plan: &Plan) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        #[serde(flatten)]
        plan: &'a Plan,
        summary: Counts,
        /// The plan's drift: `registrar drift`'s entries of every class but `config`.
        drift: Vec<super::drift::Entry>,
    }
    let mut s = serde_json::to_string_pretty(&Doc {
        plan,
        summary: plan.counts(),
        drift: drift_entries(plan),
    })
    .expect("plans serialize");
    s.push('\n');
    s
}

/// Escapes a value for markdown text and table cells.
pub(crate) fn md_escape(s: &str) -> String {
    escape(s).replace('|', "\\|").replace('`', "'")
}

/// The plan as markdown for a pull-request comment, at most [`MARKDOWN_LIMIT`] characters.
pub fn markdown(plan: &Plan) -> String {
    markdown_limited(plan, MARKDOWN_LIMIT)
}

fn markdown_limited(plan: &Plan, limit: usize) -> String {
    let c = plan.counts();
    let mut head = String::new();
    if !plan.differs() {
        let _ = writeln!(
            head,
            "### registrar plan: no changes\n\n`{}` matches the config (owner `{}`).",
            md_escape(&plan.backend),
            md_escape(&plan.owner)
        );
    } else {
        let _ = writeln!(
            head,
            "### registrar plan: {} to create, {} to change, {} to delete{}{}\n",
            c.create,
            c.change,
            c.delete,
            live_clause(c),
            stores_clause(c)
        );
        let _ = writeln!(
            head,
            "Target: `{}` · owner `{}`\n",
            md_escape(&plan.backend),
            md_escape(&plan.owner)
        );
        if c.mints > 0 {
            let _ = writeln!(
                head,
                "> [!WARNING]\n> {} change{} mint{} a credential: new client secrets are issued and stored encrypted.\n",
                c.mints,
                if c.mints == 1 { "" } else { "s" },
                if c.mints == 1 { "s" } else { "" }
            );
        }
    }
    let drift: Vec<String> = drift_entries(plan)
        .iter()
        .map(|e| {
            let what: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
            let what = if what.is_empty() {
                e.message.clone().unwrap_or_default()
            } else {
                what.join(", ")
            };
            format!(
                "- **{}** `{}`: {}\n",
                e.class.as_str(),
                md_escape(&e.address.to_string()),
                md_escape(&what)
            )
        })
        .collect();
    md_list(&mut head, "Drift", DRIFT_WHY, &drift, limit);
    if !drift.is_empty() {
        head.push('\n');
    }
    let mut table = String::new();
    let mut details = String::new();
    if !plan.changes.is_empty() {
        table.push_str("| | Resource | Action |\n|---|---|---|\n");
    }
    let tail_room = 400;
    let mut shown_rows = 0;
    let mut shown_details = 0;
    for ch in &plan.changes {
        let flags: String = loud(ch)
            .into_iter()
            .map(|(words, _)| format!(" ⚠ **{words}**"))
            .collect();
        let row = format!(
            "| {} | `{}` | {}{flags} |\n",
            symbol(ch.action),
            md_escape(&ch.address.to_string()),
            ch.action.as_str(),
        );
        if head.len() + table.len() + row.len() + tail_room > limit {
            break;
        }
        table.push_str(&row);
        shown_rows += 1;
    }
    for ch in &plan.changes {
        let mut block = format!("{}\n", header(ch));
        if let Some(r) = &ch.reason {
            let _ = writeln!(block, "    # {}", Escaped(r));
        }
        for f in &ch.fields {
            for line in field_lines(f) {
                let _ = writeln!(block, "    {line}");
            }
        }
        if head.len() + table.len() + details.len() + block.len() + tail_room + 120 > limit {
            break;
        }
        details.push_str(&block);
        shown_details += 1;
    }
    let mut out = head;
    out.push_str(&table);
    if shown_rows < plan.changes.len() {
        let _ = writeln!(
            out,
            "\n_… {} more change{} not listed: the plan is too long for a comment. Run `registrar plan` for all of it._",
            plan.changes.len() - shown_rows,
            if plan.changes.len() - shown_rows == 1 {
                ""
            } else {
                "s"
            }
        );
    }
    if !details.is_empty() {
        let _ = write!(
            out,
            "\n<details><summary>Details ({shown_details} of {} changes)</summary>\n\n```diff\n{details}```\n",
            plan.changes.len()
        );
        if shown_details < plan.changes.len() {
            let _ = writeln!(
                out,
                "\n_Details of {} more changes cut to fit the comment._",
                plan.changes.len() - shown_details
            );
        }
        out.push_str("\n</details>\n");
    }
    let stores: Vec<String> = plan
        .stores
        .iter()
        .map(|st| {
            format!(
                "- `{}` ({})\n",
                md_escape(&st.address.to_string()),
                md_escape(&st.consumer_key_fingerprint)
            )
        })
        .collect();
    md_list(&mut out, "Secrets to store", STORES_WHY, &stores, limit);
    if !plan.notes.is_empty() {
        let mut notes = format!(
            "\n<details><summary>Notes ({})</summary>\n\n",
            plan.notes.len()
        );
        let mut cut = 0;
        for n in &plan.notes {
            let line = format!(
                "- `{}`: {}\n",
                md_escape(&n.address.to_string()),
                md_escape(&n.message)
            );
            if out.len() + notes.len() + line.len() + 200 > limit {
                cut += 1;
                continue;
            }
            notes.push_str(&line);
        }
        if cut > 0 {
            let _ = writeln!(notes, "- _… {cut} more notes cut to fit the comment._");
        }
        notes.push_str("\n</details>\n");
        out.push_str(&notes);
    }
    out
}

/// A collapsed list section (`title (N)`, then why, then the lines that fit in `limit`).
fn md_list(out: &mut String, title: &str, why: &str, lines: &[String], limit: usize) {
    if lines.is_empty() {
        return;
    }
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
    let mut block = format!(
        "<details><summary>{title} ({})</summary>\n\n_{}._\n\n",
        lines.len(),
        md_escape(why)
    );
    let mut cut = 0;
    for line in lines {
        if out.len() + block.len() + line.len() + 400 > limit {
            cut += 1;
            continue;
        }
        block.push_str(line);
    }
    if cut > 0 {
        let _ = writeln!(block, "- _… {cut} more cut to fit the comment._");
    }
    block.push_str("\n</details>\n");
    out.push_str(&block);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Developer, DeveloperStatus};
    use crate::op::Op;
    use crate::plan::{Address, Note, PLAN_FORMAT_VERSION, Precondition};
    use serde_json::json;

    fn plan(n: usize) -> Plan {
        let changes = (0..n)
            .map(|i| {
                let email = format!("dev{i}@example.com");
                Change {
                    address: Address::developer(&email),
                    action: Action::Create,
                    fields: vec![FieldChange {
                        field: "firstName".into(),
                        before: None,
                        after: Some(json!("Dev")),
                        class: None,
                    }],
                    mints: false,
                    flags: vec![],
                    reason: None,
                    class: None,
                    restamp: None,
                    op: Box::new(Op::CreateDeveloper {
                        developer: Developer {
                            email,
                            first_name: "Dev".into(),
                            last_name: "X".into(),
                            user_name: "x".into(),
                            status: DeveloperStatus::Active,
                            attributes: Default::default(),
                        },
                    }),
                    precondition: Precondition::Absent,
                }
            })
            .collect();
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            registrar_version: "0".into(),
            backend: "local".into(),
            owner: "team".into(),
            changes,
            stores: vec![],
            unmanaged: vec![],
            removed: vec![],
            secrets: vec![],
            notes: vec![],
            key_stamps: vec![],
        }
    }

    #[test]
    fn text_without_color_has_no_escape_codes() {
        let t = text(&plan(2), false);
        assert!(!t.contains('\u{1b}'));
        assert!(t.contains("+ developer dev0@example.com  (create)"));
        assert!(t.contains("Plan: 2 to create, 0 to change, 0 to delete."));
        assert!(text(&plan(1), true).contains('\u{1b}'));
    }

    #[test]
    fn multi_line_fields_are_line_diffs() {
        let f = FieldChange {
            field: "description".into(),
            before: Some(json!("a\nb\n")),
            after: Some(json!("a\nc\n")),
            class: None,
        };
        assert_eq!(
            field_lines(&f),
            vec!["description:", "    a", "  - b", "  + c"]
        );
    }

    #[test]
    fn markdown_fits_the_limit_and_says_what_was_cut() {
        let mut p = plan(5_000);
        p.notes = (0..500)
            .map(|i| Note {
                address: Address::developer(&format!("n{i}@x.com")),
                message: "note".into(),
            })
            .collect();
        let md = markdown(&p);
        assert!(md.len() <= MARKDOWN_LIMIT, "{}", md.len());
        assert!(md.contains("more changes not listed"), "{md}");
        assert!(md.contains("<details>"));
        let small = markdown(&plan(3));
        assert!(!small.contains("not listed"));
        assert!(small.contains("Details (3 of 3 changes)"));
    }

    #[test]
    fn values_from_outside_are_escaped_in_text_and_markdown() {
        let evil = "x\nregistry.yaml:1:1: forged \u{1b}[2J\u{7}\u{202e}";
        let mut p = plan(1);
        p.owner = evil.into();
        p.backend = evil.into();
        let c = &mut p.changes[0];
        c.address = Address::developer(evil);
        c.reason = Some(evil.into());
        c.fields = vec![
            // A multi-line value is shown as a line diff, every line indented and signed; a
            // value on one line is one line.
            FieldChange {
                field: format!("attributes.{evil}"),
                before: Some(json!("y \u{1b}[2J\u{7}\u{202e}\r")),
                after: None,
                class: None,
            },
            FieldChange {
                field: "description".into(),
                before: Some(json!("a\nb\u{1b}]0;title\u{7}\n")),
                after: Some(json!("a\n")),
                class: None,
            },
        ];
        p.notes = vec![Note {
            address: Address::developer(evil),
            message: evil.into(),
        }];
        let mut benign = p.clone();
        benign.owner = "x".into();
        benign.backend = "x".into();
        benign.changes[0].address = Address::developer("x");
        benign.changes[0].reason = Some("x".into());
        benign.changes[0].fields[0].field = "attributes.x".into();
        benign.changes[0].fields[0].before = Some(json!("x"));
        benign.changes[0].fields[1].before = Some(json!("a\nb\n"));
        benign.notes[0].address = Address::developer("x");
        benign.notes[0].message = "x".into();
        for (out, same) in [
            (text(&p, false), text(&benign, false)),
            (markdown(&p), markdown(&benign)),
        ] {
            assert_eq!(out.lines().count(), same.lines().count(), "{out}");
            assert!(!out.contains("\nregistry.yaml:1:1"), "{out}");
            for line in out.lines() {
                assert!(!line.contains(crate::escape::needs_escape), "{line:?}");
            }
            assert!(out.contains("\\u{1b}"), "{out}");
        }
    }

    #[test]
    fn loud_flags_have_their_own_style() {
        let mut p = plan(1);
        p.changes[0].mints = true;
        p.changes[0].flags.push(Flag::RevokesLive { keys: 3 });
        let shown = text(&p, true);
        let bold = |c: AnsiColor| {
            Style::new()
                .bold()
                .fg_color(Some(c.into()))
                .render()
                .to_string()
        };
        assert!(
            shown.contains(&format!("{}[mints a credential]", bold(AnsiColor::Magenta))),
            "{shown:?}"
        );
        assert!(
            shown.contains(&format!(
                "{}[revokes 3 live credentials]",
                bold(AnsiColor::Red)
            )),
            "{shown:?}"
        );
        let plain = text(&p, false);
        assert!(plain.contains("(revokes 3 live credentials)"), "{plain}");
        let v: Value = serde_json::from_str(&json(&p)).unwrap();
        assert_eq!(v["changes"][0]["flags"][0]["flag"], "revokes-live");
        assert_eq!(v["summary"]["revokes"], 3);
    }

    #[test]
    fn json_is_versioned() {
        let v: Value = serde_json::from_str(&json(&plan(1))).unwrap();
        assert_eq!(v["formatVersion"], PLAN_FORMAT_VERSION);
        assert_eq!(v["summary"]["create"], 1);
        assert_eq!(v["changes"][0]["op"]["op"], "create-developer");
    }
}
