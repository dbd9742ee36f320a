//! Renderings of the apaleo plan: text (a terminal), markdown (a pull request) and JSON (the
//! checklist for tools), and the checklist alone (what `apply` prints without a terminal).
//! Values from the config are escaped; the plan holds no secret, so none can be shown.

use std::fmt::Write;

use super::plan::{Action, ClientPlan, Plan, Proof};
use super::steps::Step;
use crate::escape::Escaped;

fn sign(a: Action) -> &'static str {
    match a {
        Action::Create => "+",
        Action::Update => "~",
        Action::Delete => "-",
        Action::Drift => "!",
        Action::Confirm => "~",
        Action::Unverified => "?",
        Action::InSync => "=",
    }
}

fn what(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::Drift => "drift",
        Action::Confirm => "verified; to confirm what registrar cannot read back",
        Action::Unverified => "unverified (no identity to read the stored secrets)",
        Action::InSync => "in sync",
    }
}

fn proof(p: Proof) -> &'static str {
    match p {
        Proof::Verified => "verified",
        Proof::Failed => "FAILED",
        Proof::Unchecked => "unchecked",
        Proof::DeclaredOnly => "declared only",
    }
}

fn header(plan: &Plan) -> String {
    let mut out = format!(
        "apaleo account `{}` (verified at {})\n",
        Escaped(&plan.account),
        Escaped(&plan.token_endpoint)
    );
    if let Some(why) = &plan.unverified {
        let _ = writeln!(out, "Not verified: {}", Escaped(why));
    }
    out
}

/// One step as text: `N. first line`, the other lines aligned under it, each line
/// indented by `indent` (shared by the plan, the checklist and apply's walk).
pub fn step_text(out: &mut String, s: &Step, indent: &str) {
    let mut lines = s.instructions.iter();
    if let Some(first) = lines.next() {
        let _ = writeln!(out, "{indent}{}. {}", s.number, Escaped(first));
    }
    let pad = " ".repeat(s.number.to_string().len() + 2);
    for l in lines {
        let _ = writeln!(out, "{indent}{pad}{}", Escaped(l));
    }
}

fn steps_text(out: &mut String, steps: &[Step], indent: &str) {
    for s in steps {
        step_text(out, s, indent);
    }
}

/// The line that says how many clients were left unverified, if any.
pub fn unverified_line(plan: &Plan) -> Option<String> {
    let n = plan.summary.unverified;
    (n > 0).then(|| {
        format!(
            "{n} client{} unverified (no identity to read the stored secrets: set REGISTRAR_IDENTITY)",
            if n == 1 { "" } else { "s" }
        )
    })
}

fn client_text(out: &mut String, c: &ClientPlan) {
    let _ = writeln!(
        out,
        "\n{} {} ({} client): {}",
        sign(c.action),
        Escaped(&c.code),
        c.kind.as_str(),
        what(c.action)
    );
    for f in &c.fields {
        let _ = writeln!(
            out,
            "    {:<13} {:<14}{}",
            f.field.as_str(),
            proof(f.proof),
            Escaped(&f.detail)
        );
    }
    for p in &c.problems {
        let _ = writeln!(out, "    problem: {}", Escaped(&p.message));
    }
    if !c.steps.is_empty() {
        out.push_str("  Steps:\n");
        steps_text(out, &c.steps, "    ");
    }
}

fn summary_line(plan: &Plan) -> String {
    let s = &plan.summary;
    let mut out = if plan.has_steps() || s.drift > 0 {
        let confirm = if s.confirm > 0 {
            format!(", {} to confirm", s.confirm)
        } else {
            String::new()
        };
        format!(
            "Plan: {} to create, {} to update, {} to delete, {} drifted{confirm}; {} manual step{}.\n",
            s.create,
            s.update,
            s.delete,
            s.drift,
            s.steps,
            if s.steps == 1 { "" } else { "s" }
        )
    } else if s.unverified == 0 {
        format!(
            "No changes: {} client{} in sync.\n",
            s.in_sync,
            if s.in_sync == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    if let Some(line) = unverified_line(plan) {
        out.push_str(&line);
        out.push_str(".\n");
    }
    out
}

/// The plan as text.
pub fn text(plan: &Plan) -> String {
    let mut out = header(plan);
    for c in &plan.clients {
        client_text(&mut out, c);
    }
    if !plan.notes.is_empty() {
        out.push('\n');
        for n in &plan.notes {
            let _ = writeln!(out, "note: {}", Escaped(n));
        }
    }
    out.push('\n');
    out.push_str(&summary_line(plan));
    out
}

/// The checklist alone: what a person does in the dashboard, client by client.
pub fn checklist(plan: &Plan) -> String {
    let mut out = format!(
        "Checklist for apaleo account `{}`: {} manual step{}.\n",
        Escaped(&plan.account),
        plan.summary.steps,
        if plan.summary.steps == 1 { "" } else { "s" }
    );
    for c in plan.clients.iter().filter(|c| !c.steps.is_empty()) {
        let _ = writeln!(
            out,
            "\n{} ({} client, {}):",
            Escaped(&c.code),
            c.kind.as_str(),
            what(c.action)
        );
        for p in &c.problems {
            let _ = writeln!(out, "  problem: {}", Escaped(&p.message));
        }
        steps_text(&mut out, &c.steps, "  ");
    }
    out
}

/// Escapes text for a markdown table cell or list item.
fn md(s: &str) -> String {
    Escaped(s)
        .to_string()
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The plan as markdown, for a pull-request comment.
pub fn markdown(plan: &Plan) -> String {
    let mut out = format!(
        "### apaleo account `{}`\n\n{}",
        md(&plan.account),
        summary_line(plan)
    );
    if let Some(why) = &plan.unverified {
        let _ = writeln!(out, "\n> Not verified: {}", md(why));
    }
    for c in &plan.clients {
        let _ = writeln!(
            out,
            "\n#### {} `{}` ({} client): {}\n",
            sign(c.action),
            md(&c.code),
            c.kind.as_str(),
            what(c.action)
        );
        if !c.fields.is_empty() {
            out.push_str("| field | how known | detail |\n|---|---|---|\n");
            for f in &c.fields {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    f.field.as_str(),
                    proof(f.proof),
                    md(&f.detail)
                );
            }
        }
        for p in &c.problems {
            let _ = writeln!(out, "\n**Problem:** {}", md(&p.message));
        }
        if !c.steps.is_empty() {
            out.push_str("\nSteps in the apaleo dashboard:\n\n");
            for s in &c.steps {
                let mut lines = s.instructions.iter();
                if let Some(first) = lines.next() {
                    let _ = writeln!(out, "- [ ] **{}.** {}", s.number, md(first));
                }
                for l in lines {
                    let _ = writeln!(out, "  - {}", md(l));
                }
            }
        }
    }
    for n in &plan.notes {
        let _ = writeln!(out, "\n_Note:_ {}", md(n));
    }
    out
}

/// The plan as JSON: the machine-readable checklist.
pub fn json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).expect("a plan serializes");
    s.push('\n');
    s
}
