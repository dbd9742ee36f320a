//! `registrar drift` output: text (coloured on a terminal), JSON (versioned, one entry per
//! address and class) and markdown for an issue body. Like the plan's renderers these only
//! format: a report holds no secret (keys appear by credential id and fingerprint), and every
//! value from the config or the platform is escaped.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::{DriftClass, Entry, Report, Summary};
use crate::escape::Escaped;
use crate::plan::render::{MARKDOWN_LIMIT, field_lines, md_escape};

/// The style of a class on a terminal: config as a plan change, drift loud.
pub fn class_style(class: DriftClass) -> Style {
    let c = match class {
        DriftClass::Config => AnsiColor::Yellow,
        DriftClass::Secret | DriftClass::Conflict | DriftClass::Removed => AnsiColor::Red,
        DriftClass::Platform | DriftClass::Unmanaged => AnsiColor::Magenta,
    };
    Style::new().bold().fg_color(Some(c.into()))
}

/// `1 platform, 2 config`: the non-zero counts, drift first.
pub fn counts(s: &Summary) -> String {
    let order = [
        DriftClass::Platform,
        DriftClass::Conflict,
        DriftClass::Secret,
        DriftClass::Unmanaged,
        DriftClass::Removed,
        DriftClass::Config,
    ];
    let parts: Vec<String> = order
        .iter()
        .filter(|c| s.get(**c) > 0)
        .map(|c| format!("{} {}", s.get(*c), c.as_str()))
        .collect();
    parts.join(", ")
}

/// What an entry is about, in a few words: its fields, else its message, else its actions.
fn what(e: &Entry) -> String {
    if !e.fields.is_empty() {
        let mut names: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
        names.dedup();
        return names.join(", ");
    }
    if let Some(m) = &e.message {
        return m.clone();
    }
    e.actions
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The lines under an entry's heading: its fields, then its message.
fn detail_lines(e: &Entry) -> Vec<String> {
    let mut out: Vec<String> = e.fields.iter().flat_map(field_lines).collect();
    if let Some(m) = &e.message {
        out.push(format!("# {}", Escaped(m)));
    }
    out
}

/// The report as text; `color` adds ANSI styles.
pub fn text(report: &Report, color: bool) -> String {
    let paint = |s: &str, st: Style| {
        if color {
            format!("{}{s}{}", st.render(), st.render_reset())
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    if report.owner.is_empty() {
        let _ = writeln!(out, "registrar drift for {}\n", Escaped(&report.backend));
    } else {
        let _ = writeln!(
            out,
            "registrar drift for {} (owner `{}`)\n",
            Escaped(&report.backend),
            Escaped(&report.owner)
        );
    }
    if report.entries.is_empty() {
        let _ = writeln!(
            out,
            "In sync: the platform and the secrets store match the config."
        );
        return out;
    }
    for e in &report.entries {
        let class = paint(&format!("{:<9}", e.class.as_str()), class_style(e.class));
        let _ = writeln!(out, "{class} {}", Escaped(&e.address));
        for line in detail_lines(e) {
            let _ = writeln!(out, "    {line}");
        }
    }
    let _ = writeln!(out, "\nClasses:");
    for class in DriftClass::ALL {
        if report.summary.get(class) > 0 {
            let _ = writeln!(out, "  {:<9} {}", class.as_str(), class.meaning());
        }
    }
    let verdict = if report.summary.drifted() > 0 {
        "drifted"
    } else {
        "config changes pending"
    };
    let line = format!("Drift: {} ({verdict}).", counts(&report.summary));
    let _ = writeln!(out, "\n{}", paint(&line, Style::new().bold()));
    out
}

/// The report as JSON ([`super::DRIFT_FORMAT_VERSION`]).
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("reports serialize");
    s.push('\n');
    s
}

/// The report as markdown for an issue body, at most [`MARKDOWN_LIMIT`] characters.
pub fn markdown(report: &Report) -> String {
    markdown_limited(report, MARKDOWN_LIMIT)
}

fn markdown_limited(report: &Report, limit: usize) -> String {
    let mut out = String::new();
    if report.entries.is_empty() {
        let _ = writeln!(
            out,
            "### registrar drift: in sync\n\n`{}` and the secrets store match the config (owner `{}`).",
            md_escape(&report.backend),
            md_escape(&report.owner)
        );
        return out;
    }
    let _ = writeln!(
        out,
        "### registrar drift: {}\n\nTarget: `{}` · owner `{}`\n",
        counts(&report.summary),
        md_escape(&report.backend),
        md_escape(&report.owner)
    );
    if report.summary.drifted() > 0 {
        let _ = writeln!(
            out,
            "> [!WARNING]\n> {} difference{} came from outside the config: review before the next apply reverts or prunes {}.\n",
            report.summary.drifted(),
            if report.summary.drifted() == 1 {
                ""
            } else {
                "s"
            },
            if report.summary.drifted() == 1 {
                "it"
            } else {
                "them"
            }
        );
    }
    let tail_room = 1_500;
    let mut table = String::from("| Class | Resource | What |\n|---|---|---|\n");
    let mut shown = 0;
    for e in &report.entries {
        let row = format!(
            "| {} | `{}` | {} |\n",
            e.class.as_str(),
            md_escape(&e.address.to_string()),
            md_escape(&what(e))
        );
        if out.len() + table.len() + row.len() + tail_room > limit {
            break;
        }
        table.push_str(&row);
        shown += 1;
    }
    out.push_str(&table);
    if shown < report.entries.len() {
        let _ = writeln!(
            out,
            "\n_… {} more not listed: run `registrar drift` for all of them._",
            report.entries.len() - shown
        );
    }
    let mut details = String::new();
    for e in &report.entries[..shown] {
        let mut block = format!("! {} {}\n", e.class.as_str(), Escaped(&e.address));
        for line in detail_lines(e) {
            let _ = writeln!(block, "    {line}");
        }
        if out.len() + details.len() + block.len() + tail_room > limit {
            break;
        }
        details.push_str(&block);
    }
    if !details.is_empty() {
        let _ = write!(
            out,
            "\n<details><summary>Details</summary>\n\n```diff\n{details}```\n\n</details>\n"
        );
    }
    let _ = writeln!(out, "\n**Classes**\n");
    for class in DriftClass::ALL {
        if report.summary.get(class) > 0 {
            let _ = writeln!(
                out,
                "- `{}`: {}",
                class.as_str(),
                md_escape(class.meaning())
            );
        }
    }
    out
}
