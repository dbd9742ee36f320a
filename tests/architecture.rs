//! The layering rules of ARCHITECTURE.md that a text search can check: a module never
//! imports one of the layers above it. Each rule names the directories (or files) under
//! `src/` it covers and the `crate::` paths they must not use.

use std::path::{Path, PathBuf};

/// `(covered, forbidden)`: files under `covered` must not mention `crate::<forbidden>`.
const RULES: &[(&str, &[&str])] = &[
    // The vocabulary imports nothing above it (apaleo's types live in `model::apaleo`).
    (
        "model",
        &[
            "apaleo", "config", "plan", "backend", "registry", "server", "commands", "secrets",
        ],
    ),
    // The config knows no platform and no plan: apaleo's shared types are `model::apaleo`.
    (
        "config",
        &[
            "apaleo", "plan", "backend", "registry", "server", "commands",
        ],
    ),
    // Only the commands make an apaleo plan; the backend, registry and stand-in share the
    // vocabulary only.
    ("backend", &["apaleo", "plan", "commands"]),
    (
        "registry",
        &["apaleo", "plan", "config", "backend", "commands"],
    ),
    (
        "server",
        &["apaleo", "plan", "config", "backend", "commands"],
    ),
    // The apaleo plan is pure: no backend, store, registry or command.
    (
        "apaleo",
        &[
            "backend", "secrets", "registry", "server", "commands", "plan", "config",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn layers_import_nothing_above_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for (covered, forbidden) in RULES {
        let mut files = Vec::new();
        rust_files(&src.join(covered), &mut files);
        let single = src.join(format!("{covered}.rs"));
        if single.is_file() {
            files.push(single);
        }
        assert!(!files.is_empty(), "no source under src/{covered}");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for m in *forbidden {
                    for prefix in [format!("crate::{m}::"), format!("crate::{m};")] {
                        if code.contains(&prefix) {
                            broken.push(format!(
                                "{}:{}: `{}` uses `crate::{m}`",
                                f.strip_prefix(&src).unwrap().display(),
                                n + 1,
                                line.trim()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layering broken (see ARCHITECTURE.md):\n{}",
        broken.join("\n")
    );
}
