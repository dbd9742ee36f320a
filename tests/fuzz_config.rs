//! Fuzzing config loading: mutated example configs and generated hostile shapes (deep
//! nesting, aliases, control characters, huge scalars, many keys) go through
//! `config::load_and_check`, which must never panic, abort or take long, and whose text
//! diagnostics must stay one line each, free of control characters.
//!
//! The normal test run does a fixed number of cases from a fixed seed, so it is repeatable. To
//! fuzz for longer: `REGISTRAR_FUZZ_SECS=600 cargo test --release --test fuzz_config --
//! --nocapture` (`REGISTRAR_FUZZ_SEED=N` picks the seed; a long run without one takes it from
//! the clock and prints it). The case being run is written to `fuzz-case-PID.yaml` in the
//! target directory first, so an abort leaves it behind.
//!
//! Hand-rolled rather than proptest: a few dozen lines of mutator, no new dependency.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use registrar::config::{self, validate::Known};

/// Cases in a normal test run.
const CASES: u64 = 300;
/// No case may take longer (a debug build on a busy machine; cases take milliseconds).
const CASE_BUDGET: Duration = Duration::from_secs(5);

/// SplitMix64: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// Mostly small numbers, sometimes large ones.
    fn size(&mut self, max: usize) -> usize {
        let bits = self.below(usize::BITS as usize - max.leading_zeros() as usize + 1);
        self.below(1 << bits).min(max)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Pieces of YAML that make interesting insertions.
const TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: *a",
    "[",
    "]",
    "{",
    "}",
    ", ",
    ": ",
    "- ",
    "? ",
    "\n",
    "\n  ",
    "  ",
    "\t",
    "\"",
    "'",
    "|\n",
    ">-\n",
    "!!str ",
    "!!int ",
    "!custom ",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "${X}",
    "${UNSET}",
    "${X:-d}",
    "$$",
    "${",
    "#",
    " # c",
    "~",
    "null",
    "true",
    "0x1F",
    "1e999",
    ".nan",
    "-",
    "\\",
    "\\e",
    "\\u202e",
    "\u{1b}[31m",
    "\u{7}",
    "\u{0}",
    "\r\n",
    "\u{202e}",
    "\u{2028}",
    "\u{feff}",
    "é",
    "日本",
    "apps:",
    "developers:",
    "products:",
    "credentials:",
    "attributes:",
    "name: x",
    "email: a@b.co",
    "version: 1",
    "owner: o",
    "apiProducts: [p]",
    "scopes: [s]",
    "expiresIn: 30d",
    "callbackUrl: http://x",
];

fn seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("registry.yaml")];
    collect(&root.join("examples"), &mut files);
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
}

/// One to eight random edits of a seed config.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = rng.pick(seeds).clone();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(b.len() + 1);
        match rng.below(9) {
            0 => {
                let end = (at + rng.size(64)).min(b.len());
                b.drain(at..end);
            }
            1 => {
                let end = (at + rng.size(200)).min(b.len());
                let piece = b[at..end].to_vec();
                for _ in 0..rng.size(50) {
                    b.splice(at..at, piece.iter().copied());
                }
            }
            2 | 3 => {
                let t = rng.pick(TOKENS).as_bytes().to_vec();
                b.splice(at..at, t);
            }
            4 => {
                if let Some(x) = b.get_mut(at) {
                    *x ^= 1 << rng.below(8);
                }
            }
            5 => {
                let n = rng.size(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, bytes);
            }
            6 => {
                // Splice in a piece of another seed.
                let other = rng.pick(seeds);
                let from = rng.below(other.len());
                let end = (from + rng.size(400)).min(other.len());
                b.splice(at..at, other[from..end].iter().copied());
            }
            7 => {
                // Re-indent a line.
                let line_start = b[..at]
                    .iter()
                    .rposition(|&c| c == b'\n')
                    .map_or(0, |i| i + 1);
                let spaces = vec![b' '; rng.size(12)];
                b.splice(line_start..line_start, spaces);
            }
            _ => {
                // Swap two lines.
                let text = String::from_utf8_lossy(&b).to_string();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                lines.swap(i, j);
                b = lines.join("\n").into_bytes();
            }
        }
    }
    b
}

/// A hostile shape, sized at random (sometimes past the limits).
fn generate(rng: &mut Rng) -> Vec<u8> {
    let n = rng.size(30_000);
    let s = match rng.below(11) {
        0 => "- ".repeat(n) + "x\n",
        1 => (0..n.min(3_000))
            .map(|i| format!("{}k{}:\n", " ".repeat(i), i % 3))
            .collect(),
        2 => {
            let (open, close) = *rng.pick(&[("[", "]"), ("{a: ", "}"), ("[{a: ", "}]")]);
            format!("x: {}{}\n", open.repeat(n), close.repeat(n))
        }
        3 => {
            // An alias bomb of random width and depth.
            let (width, levels) = (1 + rng.below(12), 1 + rng.below(12));
            let mut s = format!("l0: &l0 [{}]\n", vec!["x"; width].join(", "));
            for l in 1..=levels {
                let items = vec![format!("*l{}", l - 1); width].join(", ");
                s.push_str(&format!("l{l}: &l{l} [{items}]\n"));
            }
            s
        }
        4 => {
            // Aliases to mappings, merge keys, self-reference.
            format!(
                "version: 1\nowner: &o o\nbase: &b {{name: n, developer: d@x.co}}\napps:\n{}self: &s [*s]\n",
                "  - <<: *b\n    name: *o\n".repeat(n.min(5_000))
            )
        }
        5 => {
            // Control characters, raw and escaped, in every kind of scalar.
            let raw: String = (0..n.min(500))
                .map(|_| char::from_u32(rng.below(0x250) as u32).unwrap_or('\u{1b}'))
                .collect();
            let raw = raw.replace(['"', '\\'], "");
            format!(
                "version: 1\nowner: \"o\\n\\e[2J\\a\\0\\u202e\"\ndevelopers:\n  - email: \"{raw}@x.co\"\n    firstName: '{}'\n    lastName: |\n      {}\n",
                raw.replace('\'', "''"),
                raw.replace('\n', " ")
            )
        }
        6 => {
            // A huge scalar: plain, quoted or block.
            let big = "y".repeat(rng.size(600_000));
            match rng.below(3) {
                0 => format!("version: 1\nowner: {big}\n"),
                1 => format!("version: 1\nowner: \"{big}\"\n"),
                _ => format!("version: 1\nowner: o\nnotes: |\n  {big}\n"),
            }
        }
        7 => {
            // Many keys, some duplicated.
            (0..n)
                .map(|i| format!("k{}: {i}\n", rng.below(n.max(1))))
                .collect()
        }
        8 => {
            // A long flow list.
            format!("- [{}x]\n", "x, ".repeat(n * 10))
        }
        9 => {
            // Token soup.
            (0..rng.size(2_000)).map(|_| *rng.pick(TOKENS)).collect()
        }
        _ => {
            // Many documents.
            "version: 1\nowner: o\n---\n".repeat(n.min(10_000))
        }
    };
    s.into_bytes()
}

/// The environment of a case: `${X}` is set, and now and then the limits are lowered.
fn env(rng: &mut Rng) -> HashMap<String, String> {
    let mut env = HashMap::from([("X".to_string(), "value".to_string())]);
    if rng.below(4) == 0 {
        for var in [
            "REGISTRAR_MAX_CONFIG_BYTES",
            "REGISTRAR_MAX_YAML_NODES",
            "REGISTRAR_MAX_YAML_ALIASES",
            "REGISTRAR_MAX_YAML_DEPTH",
            "REGISTRAR_MAX_YAML_LOOKAHEAD",
        ] {
            if rng.below(2) == 0 {
                env.insert(var.into(), rng.size(5_000).to_string());
            }
        }
    }
    env
}

/// Loads one case; fails the test (naming the case file) on a panic, a slow load, or a text
/// diagnostic that is not one clean line.
fn run_case(
    path: &Path,
    bytes: &[u8],
    env: &HashMap<String, String>,
    case: u64,
) -> (Duration, Outcome) {
    std::fs::write(path, bytes).unwrap();
    let files = vec![path.to_path_buf()];
    let started = Instant::now();
    let result = std::panic::catch_unwind(|| {
        let (desired, diags) = config::load_and_check(&files, env, &Known::default());
        if diags.is_empty() {
            let _ = desired.state();
            let _ = desired.summary();
        }
        diags
    });
    let took = started.elapsed();
    let keep = || {
        let kept = path.with_file_name(format!("fuzz-failure-{case}.yaml"));
        std::fs::copy(path, &kept).unwrap();
        kept.display().to_string()
    };
    let diags = match result {
        Ok(d) => d,
        Err(_) => panic!(
            "case {case} panicked (env {env:?}); input kept in {}",
            keep()
        ),
    };
    assert!(
        took < CASE_BUDGET,
        "case {case} took {took:?} (env {env:?}); input kept in {}",
        keep()
    );
    for d in &diags {
        let line = d.to_string();
        assert!(
            d.line >= 1 && d.column >= 1 && !line.contains(registrar::escape::needs_escape),
            "case {case}: diagnostic {line:?}; input kept in {}",
            keep()
        );
    }
    let outcome = if diags.is_empty() {
        Outcome::Valid
    } else if diags.iter().any(|d| d.code == config::Code::Limit) {
        Outcome::Limit
    } else {
        Outcome::Diagnostics
    };
    (took, outcome)
}

/// What a case came to, for the tally.
#[derive(Clone, Copy)]
enum Outcome {
    Valid,
    Limit,
    Diagnostics,
}

#[test]
fn config_loading_survives_fuzzing() {
    let secs: Option<u64> = std::env::var("REGISTRAR_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    let seed: u64 = std::env::var("REGISTRAR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| match secs {
            Some(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
            None => 13,
        });
    let deadline = secs.map(|s| Instant::now() + Duration::from_secs(s));
    let seeds = seeds();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    // Per process: two runs at once (a long one and the suite) must not share the file.
    let path = dir.join(format!("fuzz-case-{}.yaml", std::process::id()));
    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut case, mut slowest) = (0u64, (Duration::ZERO, 0));
    let mut tally = [0u64; 3];
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if case >= CASES => break,
            _ => {}
        }
        let bytes = if rng.below(3) == 0 {
            generate(&mut rng)
        } else {
            mutate(&mut rng, &seeds)
        };
        let env = env(&mut rng);
        let (took, outcome) = run_case(&path, &bytes, &env, case);
        tally[outcome as usize] += 1;
        if took > slowest.0 {
            slowest = (took, case);
        }
        case += 1;
    }
    eprintln!(
        "fuzz_config: {case} cases from seed {seed} in {:.1?}, none failed ({} valid, {} over a \
         limit, {} with other diagnostics); slowest case {} took {:.1?}",
        started.elapsed(),
        tally[0],
        tally[1],
        tally[2],
        slowest.1,
        slowest.0
    );
}
