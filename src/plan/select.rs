//! `--select`: which addresses a plan keeps. A pattern matches whole addresses: `KIND PATH`
//! (`app alice@example.com/checkout-web`), a bare `PATH` of any kind, or a bare `KIND` (every
//! resource of that kind); `*` (any run of characters) and `?` (one character) are wildcards
//! only where written (`app */checkout-*`, `key alice@example.com/web/*`). apaleo's clients
//! are `client CODE`.

use crate::model::{Address, Kind};

/// One `--select` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// As given, for messages.
    pub pattern: String,
    kind: Option<Kind>,
    path: String,
}

impl Selector {
    /// Parses a pattern: an optional kind word, then the path (glob).
    pub fn parse(pattern: &str) -> Selector {
        let trimmed = pattern.trim();
        let kinds = [
            ("developer", Kind::Developer),
            ("product", Kind::Product),
            ("app", Kind::App),
            ("key", Kind::Key),
            ("client", Kind::Client),
        ];
        let kind_of = |word: &str| kinds.iter().find(|(w, _)| *w == word).map(|(_, k)| *k);
        let (kind, path) = match trimmed.split_once(' ') {
            Some((word, rest)) => match kind_of(word) {
                Some(k) => (Some(k), rest.trim()),
                None => (None, trimmed),
            },
            // A kind alone: every resource of that kind.
            None => match kind_of(trimmed) {
                Some(k) => (Some(k), "*"),
                None => (None, trimmed),
            },
        };
        Selector {
            pattern: pattern.to_string(),
            kind,
            path: path.to_string(),
        }
    }

    /// Whether the pattern names this kind (or any kind).
    pub fn may_match(&self, kind: Kind) -> bool {
        self.kind.is_none_or(|k| k == kind)
    }

    /// Whether the pattern matches the whole address.
    pub fn matches(&self, address: &Address) -> bool {
        self.may_match(address.kind()) && glob(&self.path, &address.path())
    }
}

/// Whether `text` matches the glob `pattern` whole (`*`: any run, `?`: one character).
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // The classic linear two-pointer match with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyId;

    #[test]
    fn patterns_match_whole_addresses() {
        let app = |d: &str, a: &str| Address::app(d, a);
        let one = Selector::parse("app-1");
        assert!(
            !one.matches(&app("a@x.io", "app-1")),
            "a bare path is the whole path"
        );
        assert!(Selector::parse("a@x.io/app-1").matches(&app("a@x.io", "app-1")));
        assert!(!Selector::parse("a@x.io/app-1").matches(&app("a@x.io", "app-10")));
        let glob = Selector::parse("app */checkout-*");
        assert!(glob.matches(&app("a@x.io", "checkout-web")));
        assert!(!glob.matches(&app("a@x.io", "refunds")));
        assert!(!glob.matches(&Address::credential("a@x.io", "checkout-web", "default")));
        let keys = Selector::parse("key a@x.io/web/*");
        assert!(keys.matches(&Address::key("a@x.io", "web", KeyId::credential("primary"))));
        assert!(Selector::parse("developer *").matches(&Address::developer("b@y.io")));
        assert!(Selector::parse("developer").matches(&Address::developer("b@y.io")));
        assert!(Selector::parse("developer ").matches(&Address::developer("b@y.io")));
        assert!(!Selector::parse("developer *").matches(&Address::product("p")));
        assert!(
            Selector::parse("product pay?ents-read").matches(&Address::product("payments-read"))
        );
    }

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("*@x.io/*", "a/b@x.io/app"));
        assert!(!glob("ab", "abc"));
    }
}
