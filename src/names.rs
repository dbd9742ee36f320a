//! Apigee's naming rules (spec/apigee-api.md §3.9, §4.8): the one copy that config validation,
//! the registry store (so the local backend) and `registrar serve` all use, so that what
//! `validate` accepts is what the platforms accept.

fn shorten(s: &str) -> String {
    if s.chars().count() > 24 {
        format!("{}…", s.chars().take(24).collect::<String>())
    } else {
        s.to_string()
    }
}

/// A valid email address (the platform's natural key for developers).
pub fn check_email(email: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid email `{email}`: {why}"));
    let Some((local, domain)) = email.rsplit_once('@') else {
        return bad("it needs an `@`");
    };
    if local.is_empty() || local.len() > 64 {
        return bad("the part before `@` must have 1 to 64 characters");
    }
    if local
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "@,;:<>()[]\\\"".contains(c))
    {
        return bad("the part before `@` has a character email does not allow");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return bad("dots in the part before `@` must stand between other characters");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.len() > 63
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    {
        return bad(
            "the domain must be names of letters, digits and `-` joined by dots, like `example.com`",
        );
    }
    Ok(())
}

fn allowed_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.' | '#' | '$' | '%')
}

/// App names: letters, digits, space and `_ - . # $ %`, beginning with a letter or digit
/// (Apigee X naming rules, which Edge also accepts), at most 255 characters.
pub fn check_app_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("app name must not be empty".into());
    }
    if name.chars().count() > 255 {
        return Err(format!(
            "app name `{}` is longer than 255 characters",
            shorten(name)
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "app name `{name}` must begin with a letter or digit"
        ));
    }
    if let Some(c) = name.chars().find(|c| !allowed_name_char(*c)) {
        return Err(format!(
            "app name `{name}` has `{c}`: use letters, digits, space and `_ - . # $ %`"
        ));
    }
    Ok(())
}

/// Product names: letters, digits, space and `_ - . # $ %`, at most 100 characters, not
/// ending in white space.
pub fn check_product_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("product name must not be empty".into());
    }
    if name.chars().count() > 100 {
        return Err(format!(
            "product name `{}` is longer than 100 characters",
            shorten(name)
        ));
    }
    if let Some(c) = name.chars().find(|c| !allowed_name_char(*c)) {
        return Err(format!(
            "product name `{name}` has `{c}`: use letters, digits, space and `_ - . # $ %`"
        ));
    }
    if name.ends_with(' ') || name.starts_with(' ') {
        return Err(format!(
            "product name `{name}` must not begin or end with a space"
        ));
    }
    Ok(())
}

/// Credential ids: lowercase letters, digits, `-` and `_`, at most 63 characters (they name
/// files in the secrets store).
pub fn check_credential_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "credential id `{id}` must be 1 to 63 lowercase letters, digits, `-` or `_`, beginning with a letter or digit"
        ))
    }
}

/// The prefix of the product that locks a config's resources on an Apigee org.
pub const LOCK_PRODUCT_PREFIX: &str = "registrar-lock-";

/// The name of the lock product of the config whose `owner` is `owner`:
/// `registrar-lock-<owner>` when the owner is a valid product name of at most 60 characters
/// without spaces; otherwise the owner's allowed characters (spaces and others as `-`, at most
/// 48) and 8 hex digits of its SHA-256, so that different owners never share a lock. At most
/// 75 characters: a takeover token ([`lock_takeover_name`]) still fits the product limit.
pub fn lock_product_name(owner: &str) -> String {
    use sha2::{Digest, Sha256};
    let plain = !owner.is_empty()
        && owner.chars().count() <= 60
        && owner.chars().all(|c| c != ' ' && allowed_name_char(c));
    if plain {
        return format!("{LOCK_PRODUCT_PREFIX}{owner}");
    }
    let cleaned: String = owner
        .chars()
        .map(|c| {
            if c != ' ' && allowed_name_char(c) {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    let digest = Sha256::digest(owner.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{LOCK_PRODUCT_PREFIX}{cleaned}-{hex}")
}

/// The product that one process creates to take over the expired lock `stale_id` of
/// `lock_name`: only the process that creates it may delete that lock.
pub fn lock_takeover_name(lock_name: &str, stale_id: &str) -> String {
    let short: String = stale_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect();
    format!("{lock_name}-takeover-{short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(check_email("alice@example.com").is_ok());
        assert!(check_email("a.b+tag@sub.example.co").is_ok());
        // What email allows before the `@`, Apigee too: `/`, `'`, `%`, `+`, `=`, `!` ….
        assert!(check_email("o'neil+ops/team%1=x!y@example.com").is_ok());
        for bad in [
            "alice",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@-x.com",
            "a..b@example.com",
            "a@exa_mple.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(check_app_name("checkout-web v2.1").is_ok());
        assert!(check_app_name("-x").is_err());
        assert!(check_app_name("a/b").is_err());
        assert!(check_product_name("payments-read").is_ok());
        assert!(check_product_name("p ").is_err());
        assert!(check_product_name(&"p".repeat(101)).is_err());
        assert!(check_credential_id("primary").is_ok());
        assert!(check_credential_id("Primary").is_err());
        assert!(check_credential_id("../x").is_err());
    }

    #[test]
    fn lock_product_names() {
        assert_eq!(lock_product_name("payments"), "registrar-lock-payments");
        let odd = [
            "payments platform",
            "a/b",
            "ü",
            &"o".repeat(61),
            "a b",
            "a-b",
        ];
        let names: Vec<String> = odd.iter().map(|o| lock_product_name(o)).collect();
        for n in &names {
            assert!(check_product_name(n).is_ok() && n.len() <= 75, "{n}");
            let token = lock_takeover_name(n, "0a1b2c3d-4e5f-6789-abcd-ef0123456789");
            assert!(check_product_name(&token).is_ok(), "{token}");
        }
        assert_ne!(names[4], names[5], "`a b` and `a-b` must not share a lock");
    }
}
