//! Error replies of both flavours, decoded into [`BackendError`]: X's Google-style
//! `{"error":{code,message,status,details[].violations[].type}}`, Edge's
//! `{code,message,contexts}` and Edge's gateway `{"fault":{faultstring,detail.errorcode}}`.

use serde_json::Value;

use crate::backend::BackendError;
use crate::error::Hinted;

/// What the platform said: its legacy error code (if any) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlatformError {
    /// Edge-style code, e.g. `developer.service.DeveloperDoesNotExist` (X: the first
    /// violation's type).
    pub code: Option<String>,
    /// Human-readable message.
    pub message: String,
}

impl PlatformError {
    /// `code: message`, or just the message.
    pub(crate) fn text(&self) -> String {
        match &self.code {
            Some(code) if !self.message.contains(code.as_str()) => {
                format!("{code}: {}", self.message)
            }
            _ => self.message.clone(),
        }
    }
}

fn string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Decodes an error body of either flavour; anything else (an HTML error page, plain text)
/// becomes its first line, cut to 200 characters, or the status's reason phrase.
pub(crate) fn decode(status: u16, body: &[u8]) -> PlatformError {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(err) = v.get("error").filter(|e| e.is_object()) {
            let code = err
                .get("details")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| d.get("violations").and_then(Value::as_array))
                .flatten()
                .find_map(|viol| viol.get("type").and_then(string));
            let message = err
                .get("message")
                .and_then(string)
                .or_else(|| err.get("status").and_then(string))
                .unwrap_or_else(|| reason(status));
            return PlatformError { code, message };
        }
        if let Some(fault) = v.get("fault") {
            return PlatformError {
                code: fault.pointer("/detail/errorcode").and_then(string),
                message: fault
                    .get("faultstring")
                    .and_then(string)
                    .unwrap_or_else(|| reason(status)),
            };
        }
        if v.get("code").is_some() || v.get("message").is_some() {
            return PlatformError {
                code: v.get("code").and_then(string),
                message: v
                    .get("message")
                    .and_then(string)
                    .unwrap_or_else(|| reason(status)),
            };
        }
    }
    let text = String::from_utf8_lossy(body);
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('<'));
    PlatformError {
        code: None,
        message: first
            .map(|l| l.chars().take(200).collect())
            .unwrap_or_else(|| reason(status)),
    }
}

/// `HTTP 404 Not Found`.
fn reason(status: u16) -> String {
    let phrase = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("HTTP {status} {phrase}").trim_end().to_string()
}

/// The hint of authentication failures.
pub(crate) const AUTH_HINT: &str = "set APIGEE_TOKEN to a valid token (Apigee X: \
`gcloud auth print-access-token`), or APIGEE_USERNAME and APIGEE_PASSWORD for Apigee Edge \
basic authentication";

/// A final (non-retryable) HTTP failure as a [`BackendError`]. `what` names the resource
/// for not-found and conflict errors; `redact` masks secrets in the platform's words.
pub(crate) fn classify(
    status: u16,
    what: &str,
    error: &PlatformError,
    redact: impl Fn(&str) -> String,
) -> BackendError {
    match status {
        401 | 403 => BackendError::Auth(Hinted::new(
            format!(
                "Apigee refused the credentials (HTTP {status}: {})",
                redact(&error.text())
            ),
            AUTH_HINT,
        )),
        404 => BackendError::NotFound(format!("{what} ({})", redact(&error.message))),
        409 if error.message.contains("already exists") => BackendError::Conflict(what.into()),
        409 => BackendError::Conflict(format!("{what} ({})", redact(&error.message))),
        _ => BackendError::Rejected {
            status,
            message: redact(&error.text()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_error_with_violation_type() {
        let body = br#"{"error": {"code": 409, "message": "ConsumerKey already exists", "status": "ABORTED",
          "details": [{"@type": "type.googleapis.com/google.rpc.PreconditionFailure",
            "violations": [{"type": "keymanagement.service.ConsumerKeyAlreadyExists", "subject": "x", "description": "d"}]},
            {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "1828"}]}}"#;
        let e = decode(409, body);
        assert_eq!(
            e.code.as_deref(),
            Some("keymanagement.service.ConsumerKeyAlreadyExists")
        );
        assert_eq!(
            e.text(),
            "keymanagement.service.ConsumerKeyAlreadyExists: ConsumerKey already exists"
        );
        let plain = decode(400, br#"{"error":{"code":400,"message":"email address has to be lowercase","status":"INVALID_ARGUMENT"}}"#);
        assert_eq!(plain.text(), "email address has to be lowercase");
    }

    #[test]
    fn edge_error_and_fault() {
        let e = decode(
            409,
            br#"{"code": "keymanagement.service.app_already_exists", "message": "App with name ABC already exists", "contexts": []}"#,
        );
        assert_eq!(
            e.code.as_deref(),
            Some("keymanagement.service.app_already_exists")
        );
        assert_eq!(e.message, "App with name ABC already exists");
        let f = decode(
            401,
            br#"{"fault":{"faultstring":"Invalid access token","detail":{"errorcode":"oauth.v2.InvalidAccessToken"}}}"#,
        );
        assert_eq!(
            f.text(),
            "oauth.v2.InvalidAccessToken: Invalid access token"
        );
    }

    #[test]
    fn html_and_empty_bodies() {
        let e = decode(
            404,
            b"<!DOCTYPE html>\n<html lang=en>\n<title>Error 404 (Not Found)!!1</title>",
        );
        assert_eq!(e.message, "HTTP 404 Not Found");
        assert_eq!(decode(502, b"").message, "HTTP 502 Bad Gateway");
        assert_eq!(decode(500, b"upstream died\n").message, "upstream died");
    }

    #[test]
    fn statuses_map_to_backend_errors() {
        let e = |code: Option<&str>, message: &str| PlatformError {
            code: code.map(str::to_string),
            message: message.to_string(),
        };
        let same = |s: &str| s.to_string();
        let gone = e(
            Some("developer.service.AppDoesNotExist"),
            "App named b does not exist",
        );
        let nf = classify(404, "app `a/b`", &gone, same);
        assert_eq!(
            nf.to_string(),
            "app `a/b` (App named b does not exist) not found"
        );
        let dup = e(None, "App with name b already exists");
        assert_eq!(
            classify(409, "app `a/b`", &dup, same).to_string(),
            "app `a/b` already exists"
        );
        let taken = e(None, "ConsumerKey is taken");
        assert!(
            matches!(classify(409, "x", &taken, same), BackendError::Conflict(m) if m == "x (ConsumerKey is taken)")
        );
        let bad = e(
            Some("keymanagement.service.InvalidScopes"),
            "Invalid scopes",
        );
        assert!(
            matches!(classify(400, "x", &bad, same), BackendError::Rejected { status: 400, message }
            if message == "keymanagement.service.InvalidScopes: Invalid scopes")
        );
        for s in [401, 403] {
            let BackendError::Auth(h) = classify(s, "x", &e(None, "denied"), same) else {
                panic!("{s} is an auth error")
            };
            let text = h.hint();
            assert!(
                text.contains("APIGEE_TOKEN") && text.contains("APIGEE_USERNAME"),
                "{text}"
            );
        }
        let masked = classify(400, "x", &e(None, "key K1 is bad"), |s| {
            s.replace("K1", "sha256:…")
        });
        assert!(!masked.to_string().contains("K1"));
    }
}
