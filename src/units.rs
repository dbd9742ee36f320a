//! Units as users write them, parsed and shown in one place: durations (`90d`, `12h`,
//! `1d12h`, `30m`, `45s`, `250ms`, `2w`), rates (`100/s`, `4800/min`), and the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the epoch: the one clock of registrar.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Parses a rate such as `100/s` or `4800/min` into requests per second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let bad = || format!("invalid rate `{s}`");
    let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
    let n: f64 = n.trim().parse().map_err(|_| bad())?;
    if !(n.is_finite() && n > 0.0) {
        return Err(bad());
    }
    match unit.trim() {
        "s" | "sec" | "second" => Ok(n),
        "m" | "min" | "minute" => Ok(n / 60.0),
        _ => Err(bad()),
    }
}

/// Parses a duration such as `90d`, `1d12h` or `50ms`. Units: `ms`, `s`, `m`, `h`, `d`, `w`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration `{s}`: use a number and a unit (ms, s, m, h, d, w), e.g. `90d`, `12h`, `1d12h`"
        )
    };
    let text = s.trim();
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u128 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let ms_per: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = total
            .checked_add(n.checked_mul(ms_per).ok_or_else(bad)?)
            .ok_or_else(bad)?;
    }
    u64::try_from(total)
        .map(Duration::from_millis)
        .map_err(|_| bad())
}

/// Parses a key lifetime: a duration, or `never` (→ `None`).
pub fn parse_expiry(s: &str) -> Result<Option<Duration>, String> {
    if s.trim() == "never" {
        return Ok(None);
    }
    match parse_duration(s) {
        Ok(d) if d.is_zero() => Err(format!(
            "invalid key lifetime `{s}`: it must be longer than zero, or `never`"
        )),
        Ok(d) => Ok(Some(d)),
        Err(e) => Err(format!("{e}, or `never`")),
    }
}

/// Shows a duration in milliseconds as users write it: `90d`, `12h`, `1d12h`, `50ms`.
pub fn show_ms(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        for (text, ms) in [
            ("90d", 90 * 86_400_000),
            ("12h", 43_200_000),
            ("1d12h", 129_600_000),
            ("50ms", 50),
            ("2w", 1_209_600_000),
            ("45s", 45_000),
            ("30m", 1_800_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_input() {
        for text in [
            "",
            "d",
            "10",
            "10y",
            "1.5h",
            "-1d",
            "h1",
            "99999999999999999999999d",
        ] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn shows_as_written() {
        for text in ["90d", "12h", "1d12h", "50ms", "30m", "1s"] {
            assert_eq!(
                show_ms(parse_duration(text).unwrap().as_millis() as u64),
                text
            );
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100/s"), Ok(100.0));
        assert_eq!(parse_rate(" 4800 / min"), Ok(80.0));
        for bad in ["100", "0/s", "-1/s", "x/s", "10/h", "inf/s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expiry() {
        assert_eq!(parse_expiry("never"), Ok(None));
        assert_eq!(parse_expiry("1h"), Ok(Some(Duration::from_secs(3600))));
        assert!(parse_expiry("0d").is_err());
        assert!(parse_expiry("soon").unwrap_err().contains("or `never`"));
    }
}
