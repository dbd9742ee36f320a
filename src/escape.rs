//! Values from input or from the platform, made safe for text output: control characters,
//! line and paragraph separators and bidirectional overrides are written as escapes (`\n`,
//! `\r`, `\t`, `\u{1b}`), so a value can neither forge a line (a second `file:line:col:`) nor
//! send a sequence to the terminal, nor reorder what is shown around it. Every other character,
//! backslash included, is written as it is: ordinary output is unchanged. JSON output has its
//! own escaping and does not use this.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// Whether `c` is written as an escape.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

fn write_escaped(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    let mut rest = s;
    while let Some(i) = rest.find(needs_escape) {
        out.write_str(&rest[..i])?;
        let c = rest[i..].chars().next().expect("found a char at i");
        match c {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c => write!(out, "\\u{{{:x}}}", u32::from(c))?,
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.write_str(rest)
}

/// `s` with [the characters that need it](needs_escape) escaped; borrowed when none do.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    write_escaped(&mut out, s).expect("writing to a String");
    Cow::Owned(out)
}

/// Displays a value with [the characters that need it](needs_escape) escaped:
/// `format!("failed: {}", Escaped(&message))`.
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Out<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Out<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                write_escaped(self.0, s)
            }
        }
        write!(Out(f), "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_text_is_unchanged() {
        for s in [
            "",
            "alice@example.com",
            "payments-read",
            r"C:\dir ^\d+$",
            "café → ✓ 日本",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
            assert_eq!(Escaped(s).to_string(), s);
        }
    }

    #[test]
    fn controls_separators_and_overrides_are_escaped() {
        assert_eq!(
            escape("a\nx.yaml:1:1: forged\r\tb"),
            "a\\nx.yaml:1:1: forged\\r\\tb"
        );
        assert_eq!(escape("\u{1b}[31mred\u{7}"), "\\u{1b}[31mred\\u{7}");
        assert_eq!(escape("\u{9b}2J\u{7f}\0"), "\\u{9b}2J\\u{7f}\\u{0}");
        assert_eq!(escape("abc\u{202e}fed\u{2028}"), "abc\\u{202e}fed\\u{2028}");
        assert_eq!(
            Escaped(format_args!("{}: {}", "k\n", 1)).to_string(),
            "k\\n: 1"
        );
    }

    #[test]
    fn escaped_text_has_no_character_that_needs_escaping() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let e = escape(&all);
        assert!(!e.contains(needs_escape));
        assert!(!e.contains('\n'));
    }
}
