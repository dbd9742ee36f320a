//! Keeps consumer keys and secrets out of errors: any word of a message that is a known key
//! or secret is replaced by its fingerprint. Only fingerprints are remembered, never values;
//! long mixed letter-and-digit words that look like generated keys are masked as well.

use std::collections::HashSet;
use std::sync::RwLock;

use crate::model::{Secret, fingerprint};

/// Words shorter than this are never masked by the shape heuristic.
const KEY_LIKE_MIN: usize = 32;

/// The fingerprints of every key and secret the backend has seen.
#[derive(Debug, Default)]
pub(crate) struct Redactor {
    known: RwLock<HashSet<String>>,
}

impl Redactor {
    /// Remembers a secret (by fingerprint) so that messages mentioning it are redacted.
    pub(crate) fn learn(&self, secret: &Secret) {
        if secret.expose().is_empty() {
            return;
        }
        let fp = secret.fingerprint();
        let known = self.known.read().map(|k| k.contains(&fp)).unwrap_or(false);
        if !known && let Ok(mut set) = self.known.write() {
            set.insert(fp);
        }
    }

    /// `message` with every known secret, and every word shaped like a generated key,
    /// replaced by its fingerprint.
    pub(crate) fn redact(&self, message: &str) -> String {
        let known = match self.known.read() {
            Ok(k) => k,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out = String::with_capacity(message.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            if !word.is_empty() {
                let fp = fingerprint(word.as_bytes());
                if known.contains(&fp) || key_like(word) {
                    out.push_str(&fp);
                } else {
                    out.push_str(word);
                }
                word.clear();
            }
        };
        for c in message.chars() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }
}

/// A long run of letters and digits, both present: what generated keys and secrets look
/// like, and what ordinary words, names and dashed UUIDs do not.
fn key_like(word: &str) -> bool {
    word.len() >= KEY_LIKE_MIN
        && word.chars().all(|c| c.is_ascii_alphanumeric())
        && word.chars().any(|c| c.is_ascii_digit())
        && word.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_become_fingerprints() {
        let r = Redactor::default();
        let key = Secret::new("Xk2_short-key");
        r.learn(&key);
        let msg = r.redact("ConsumerKey Xk2_short-key already exists (\"Xk2_short-key\")");
        assert!(!msg.contains("Xk2_short-key"), "{msg}");
        assert_eq!(
            msg,
            format!(
                "ConsumerKey {fp} already exists (\"{fp}\")",
                fp = key.fingerprint()
            )
        );
    }

    #[test]
    fn key_shaped_words_are_masked_even_if_unknown() {
        let r = Redactor::default();
        let k = "F91jQrfX6CKhyEheXFBL3gxxxxx0123456";
        let msg = r.redact(&format!("Invalid consumer key {k} for app my-app"));
        assert!(!msg.contains(k), "{msg}");
        assert!(msg.ends_with("for app my-app"), "{msg}");
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let r = Redactor::default();
        let text = "App named checkout-web does not exist under alice@example.com \
                    (developer 4707ceee-1234-abcd-9f00-0123456789ab)";
        assert_eq!(r.redact(text), text);
    }
}
