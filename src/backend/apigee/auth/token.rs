//! Access tokens that expire: the cache every refreshing credential shares, and the OAuth
//! token endpoint's reply (RFC 6749 §5.1).

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::model::Secret;

/// How long before its expiry a token is replaced: a request started with it must still be
/// accepted when it arrives (and a management API request may take up to `--timeout`).
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// A bearer token and when it stops working.
pub(crate) struct Token {
    /// The token.
    pub value: Secret,
    /// When to stop using it (`None`: no expiry was given).
    pub expires_at: Option<Instant>,
}

impl Token {
    /// A token that `expires_in` seconds from `now`.
    pub fn new(value: Secret, expires_in: Option<i64>, now: Instant) -> Token {
        Token {
            value,
            expires_at: expires_in.map(|s| now + Duration::from_secs(s.max(0) as u64)),
        }
    }

    /// Whether it is time to replace the token: within [`REFRESH_MARGIN`] of its expiry.
    pub fn is_stale(&self, now: Instant) -> bool {
        self.expires_at
            .is_some_and(|at| at.saturating_duration_since(now) <= REFRESH_MARGIN)
    }
}

/// A token endpoint's successful reply (also the shape of Google's STS and the Edge login
/// service). No `Debug`: it holds the tokens.
#[derive(Deserialize)]
pub(crate) struct TokenReply {
    /// The access token.
    pub access_token: String,
    /// Seconds until it expires.
    #[serde(default, deserialize_with = "crate::json::int64")]
    pub expires_in: Option<i64>,
    /// A refresh token (Edge login service).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// A token endpoint's error reply (`{"error", "error_description"}`), for messages: it
/// never holds a credential.
#[derive(Deserialize)]
struct ErrorReply {
    error: Option<String>,
    error_description: Option<String>,
}

/// What a failed token request says, for an error message: the OAuth error and its
/// description, else the HTTP status.
pub(crate) fn describe_failure(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorReply>(body) {
        Ok(ErrorReply {
            error: Some(error),
            error_description,
        }) => match error_description {
            Some(d) if !d.is_empty() => format!("HTTP {status}, {error}: {d}"),
            _ => format!("HTTP {status}, {error}"),
        },
        _ => format!("HTTP {status}"),
    }
}

/// POSTs a form to a token endpoint (with an optional Basic client authentication) and reads
/// the reply. Errors are for messages and hold no credential.
pub(crate) async fn post_form(
    http: &reqwest::Client,
    url: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> Result<TokenReply, String> {
    let mut req = http
        .post(url)
        .form(form)
        .header("Accept", "application/json");
    if let Some((user, password)) = basic {
        req = req.basic_auth(user, Some(password));
    }
    read_reply(req.send().await).await
}

/// The reply of a token request, or why there is none.
pub(crate) async fn read_reply(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<TokenReply, String> {
    let response = sent.map_err(|e| transport(&e))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| transport(&e))?;
    if !(200..300).contains(&status) {
        return Err(describe_failure(status, &body));
    }
    serde_json::from_slice::<TokenReply>(&body)
        .map_err(|e| format!("HTTP {status} without an access token ({e})"))
}

/// A transport failure, without the URL.
fn transport(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    match detail.is_empty() {
        true => what.to_string(),
        false => format!("{what}: {detail}"),
    }
}

/// The HTTP client of token requests.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("registrar/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_stale_a_margin_before_they_expire() {
        let now = Instant::now();
        let hour = Token::new(Secret::new("t"), Some(3600), now);
        assert!(!hour.is_stale(now));
        assert!(!hour.is_stale(now + Duration::from_secs(3600 - 61)));
        assert!(hour.is_stale(now + Duration::from_secs(3600 - 60)));
        assert!(Token::new(Secret::new("t"), Some(30), now).is_stale(now));
        assert!(
            !Token::new(Secret::new("t"), None, now).is_stale(now + Duration::from_secs(1 << 30))
        );
    }

    #[test]
    fn failures_are_described_without_the_body() {
        let body = br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#;
        assert_eq!(
            describe_failure(400, body),
            "HTTP 400, invalid_grant: Invalid JWT Signature."
        );
        assert_eq!(
            describe_failure(502, b"<html>bad gateway</html>"),
            "HTTP 502"
        );
    }
}
