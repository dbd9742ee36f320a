//! The HTTP client both flavours share: authentication, the rate limiter, request counting,
//! retries with backoff, error decoding and redacted request logs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::backend::BackendError;
use crate::error::Hinted;
use crate::model::Secret;

use super::encode::{Path, segment};
use super::errors::{self, AUTH_HINT};
use super::ratelimit::RateLimiter;
use super::redact::Redactor;
use super::retry::{self, RetryPolicy};
use super::{ApigeeConfig, Auth, Flavor};

/// What a request carries.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// Nothing.
    Empty,
    /// A JSON document.
    Json(Value),
    /// `?action=…` with an empty `application/octet-stream` body.
    Action(&'static str),
}

/// One management API call.
#[derive(Clone)]
pub(crate) struct Request {
    method: Method,
    path: Path,
    query: Vec<(&'static str, String)>,
    body: Body,
    /// The resource, for not-found and conflict errors (never a key's value).
    what: String,
}

impl Request {
    fn new(method: Method, path: Path, body: Body, what: impl Into<String>) -> Request {
        Request {
            method,
            path,
            query: Vec::new(),
            body,
            what: what.into(),
        }
    }

    /// `GET path`.
    pub(crate) fn get(path: Path, what: impl Into<String>) -> Request {
        Request::new(Method::GET, path, Body::Empty, what)
    }

    /// `POST path` with a JSON body.
    pub(crate) fn post(path: Path, body: Value, what: impl Into<String>) -> Request {
        Request::new(Method::POST, path, Body::Json(body), what)
    }

    /// `PUT path` with a JSON body.
    pub(crate) fn put(path: Path, body: Value, what: impl Into<String>) -> Request {
        Request::new(Method::PUT, path, Body::Json(body), what)
    }

    /// `DELETE path`.
    pub(crate) fn delete(path: Path, what: impl Into<String>) -> Request {
        Request::new(Method::DELETE, path, Body::Empty, what)
    }

    /// `POST path?action=…` (octet-stream, empty body).
    pub(crate) fn action(path: Path, action: &'static str, what: impl Into<String>) -> Request {
        Request::new(Method::POST, path, Body::Action(action), what)
    }

    /// Adds a query parameter.
    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.query.push((name, value.into()));
        self
    }

    /// Path and query as sent (keys redacted), for tests.
    #[cfg(test)]
    pub(crate) fn target(&self) -> String {
        let query: Vec<(&str, &str)> = self.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        match encoded.is_empty() {
            true => self.path.redacted(),
            false => format!("{}?{encoded}", self.path.redacted()),
        }
    }

    /// The resource this request is about, for messages.
    pub(crate) fn what(&self) -> &str {
        &self.what
    }
}

/// How one attempt ended. (No `Debug`: bodies hold keys and secrets.)
pub(crate) enum Attempt {
    /// 2xx, with the JSON body if there was one.
    Done(Option<Value>),
    /// A transient failure worth retrying.
    Retry {
        /// What happened (redacted).
        message: String,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
        /// Whether the server may have carried out the request anyway (its reply was lost).
        maybe_applied: bool,
        /// Whether the request could not connect at all.
        unreachable: bool,
    },
    /// A final failure.
    Fail(BackendError),
}

/// The end of a call with retries. (No `Debug`: bodies hold keys and secrets.)
pub(crate) struct Sent {
    /// The final result.
    pub result: Result<Option<Value>, BackendError>,
    /// Whether an earlier, failed attempt may have been carried out by the server: a
    /// conflict or not-found now may be that attempt's doing.
    pub maybe_applied_before: bool,
}

/// How a request that got no answer in time is described (the start of its message).
pub(crate) const TIMED_OUT: &str = "timed out";

/// The shared HTTP client of one backend.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    flavor: Flavor,
    limiter: Option<RateLimiter>,
    policy: RetryPolicy,
    timeout: Duration,
    requests: AtomicUsize,
    redactor: Redactor,
}

impl Client {
    /// A client for `config`.
    pub(crate) fn new(config: &ApigeeConfig) -> Result<Client, BackendError> {
        let parsed = url::Url::parse(&config.base_url)
            .map_err(|e| BackendError::Other(format!("invalid Apigee URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(BackendError::Other(format!(
                "invalid Apigee URL `{parsed}`: expected http or https"
            )));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(BackendError::Auth(Hinted::new(
                "the Apigee URL must not carry credentials",
                AUTH_HINT,
            )));
        }
        if config.org.is_empty() {
            return Err(BackendError::Setup(Hinted::new(
                "no Apigee organization given",
                "pass `--org`",
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("registrar/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BackendError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: format!(
                "{}/v1/organizations/{}",
                config.base_url.trim_end_matches('/'),
                segment(&config.org)
            ),
            auth: config.auth.clone(),
            flavor: config.flavor,
            limiter: RateLimiter::new(config.effective_rate_limit()),
            policy: RetryPolicy::new(config.max_attempts),
            timeout: config.timeout,
            requests: AtomicUsize::new(0),
            redactor: Redactor::default(),
        })
    }

    /// The flavour spoken.
    pub(crate) fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// HTTP requests sent so far (retries included).
    pub(crate) fn requests_made(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Remembers a key or secret so that error messages never show it.
    pub(crate) fn learn(&self, secret: &Secret) {
        self.redactor.learn(secret);
    }

    /// Sends with retries; only the final result.
    pub(crate) async fn send(&self, req: &Request) -> Result<Option<Value>, BackendError> {
        self.send_tracked(req, None).await.result
    }

    /// Sends with retries; `tally`, if given, counts the HTTP requests too.
    pub(crate) async fn send_tracked(&self, req: &Request, tally: Option<&AtomicUsize>) -> Sent {
        let mut maybe_applied_before = false;
        let mut attempt = 1;
        loop {
            let result = match self.attempt(req, tally).await {
                Attempt::Done(v) => Ok(v),
                Attempt::Fail(e) => Err(e),
                Attempt::Retry {
                    message,
                    retry_after,
                    maybe_applied,
                    unreachable,
                } => {
                    if attempt >= self.policy.max_attempts {
                        Err(gave_up(attempt, message, unreachable))
                    } else {
                        maybe_applied_before |= maybe_applied;
                        self.backoff(req, attempt, retry_after, &message).await;
                        attempt += 1;
                        continue;
                    }
                }
            };
            return Sent {
                result,
                maybe_applied_before,
            };
        }
    }

    /// The retry budget.
    pub(crate) fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Sleeps before the retry that follows failed attempt `attempt`.
    pub(crate) async fn backoff(
        &self,
        req: &Request,
        attempt: u32,
        retry_after: Option<Duration>,
        why: &str,
    ) {
        let delay = self.policy.delay(attempt, retry_after, retry::jitter());
        crate::feedback::retry();
        // Silence is worse than noise: the first time a server accepts and does not answer,
        // say so (once per run; every retry is in the debug log).
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if why.starts_with(TIMED_OUT) && !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "no answer from the server in {} ({} {}); trying again, up to {} attempts per request",
                humantime::format_duration(self.timeout),
                req.method,
                req.path.redacted(),
                self.policy.max_attempts
            );
        }
        tracing::debug!(
            method = %req.method,
            path = %req.path.redacted(),
            attempt,
            delay_ms = delay.as_millis() as u64,
            "retrying: {why}"
        );
        tokio::time::sleep(delay).await;
    }

    /// One HTTP request: waits for the rate limiter, counts, sends, classifies the outcome.
    pub(crate) async fn attempt(&self, req: &Request, tally: Option<&AtomicUsize>) -> Attempt {
        if let Some(limiter) = &self.limiter {
            limiter.acquire().await;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        crate::feedback::attempt();
        if let Some(t) = tally {
            t.fetch_add(1, Ordering::Relaxed);
        }
        let started = Instant::now();
        let mut builder = self.http.request(
            req.method.clone(),
            format!("{}{}", self.base, req.path.encoded()),
        );
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        builder = match &req.body {
            Body::Empty => builder,
            Body::Json(v) => builder.json(v),
            Body::Action(action) => builder
                .query(&[("action", action)])
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(Vec::<u8>::new()),
        };
        builder = match &self.auth {
            Auth::Bearer(token) => builder.bearer_auth(token.expose()),
            Auth::Basic { username, password } => {
                builder.basic_auth(username, Some(password.expose()))
            }
        };
        let (status, outcome) = self.receive(req, builder.send().await).await;
        if status == Some(429) {
            crate::feedback::rate_limited();
        }
        tracing::debug!(
            method = %req.method,
            path = %req.path.redacted(),
            status = %status.map_or_else(|| "-".to_string(), |s| s.to_string()),
            ms = started.elapsed().as_millis() as u64,
            "apigee request"
        );
        outcome
    }

    /// Reads status and body and classifies them; a transport failure becomes a retry.
    async fn receive(
        &self,
        req: &Request,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> (Option<u16>, Attempt) {
        let response = match sent {
            Ok(r) => r,
            Err(e) => return (None, self.transport(e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::retry_after(status, Some(v)));
        let body = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => {
                let message = match self.transport(e) {
                    Attempt::Retry { message, .. } => message,
                    _ => "the reply broke off".to_string(),
                };
                let retry = Attempt::Retry {
                    message: format!("HTTP {status}, then {message}"),
                    retry_after,
                    maybe_applied: true,
                    unreachable: false,
                };
                return (Some(status), retry);
            }
        };
        if retry::retryable_status(status) {
            let message = self.redactor.redact(&errors::decode(status, &body).text());
            if let Some(retry) = retry_for(status, message, retry_after) {
                return (Some(status), retry);
            }
        }
        (Some(status), self.classify(req, status, &body))
    }

    /// A transport error (timeout, connection, broken body) as a retry. Its text is built
    /// without the URL, which may hold a consumer key.
    fn transport(&self, e: reqwest::Error) -> Attempt {
        let timed_out = e.is_timeout();
        let connect = e.is_connect();
        let mut detail = String::new();
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = source {
            detail = s.to_string();
            source = s.source();
        }
        let what = if timed_out {
            format!(
                "{TIMED_OUT} after {}",
                humantime::format_duration(self.timeout)
            )
        } else if connect {
            "connection failed".to_string()
        } else {
            e.without_url().to_string()
        };
        let message = if detail.is_empty() || timed_out {
            what
        } else {
            format!("{what}: {detail}")
        };
        Attempt::Retry {
            message: self.redactor.redact(&message),
            retry_after: None,
            // A refused connection sent nothing; anything later may have reached the server.
            maybe_applied: !connect,
            unreachable: connect,
        }
    }

    /// A complete reply as the attempt's outcome.
    fn classify(&self, req: &Request, status: u16, body: &[u8]) -> Attempt {
        if (200..300).contains(&status) {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Attempt::Done(None);
            }
            return match serde_json::from_slice(body) {
                Ok(v) => Attempt::Done(Some(v)),
                Err(e) => Attempt::Fail(BackendError::Other(format!(
                    "invalid JSON in the reply about {}: {e}",
                    req.what
                ))),
            };
        }
        let error = errors::decode(status, body);
        Attempt::Fail(errors::classify(status, &req.what, &error, |m| {
            self.redactor.redact(m)
        }))
    }
}

/// The retry a retryable status calls for, `None` when it is final after all: removing a
/// product a key does not have answers 500 "APIProduct is not associated with consumer key".
fn retry_for(status: u16, message: String, retry_after: Option<Duration>) -> Option<Attempt> {
    if !retry::retryable_status(status)
        || (status == 500 && message.contains("is not associated with"))
    {
        return None;
    }
    Some(Attempt::Retry {
        message: format!("HTTP {status}: {message}"),
        retry_after,
        // A 429 was refused before any work; anything else may have been half done.
        maybe_applied: status != 429,
        unreachable: false,
    })
}

/// The error of a request that failed every attempt: unreachable if the last attempt could
/// not connect.
pub(crate) fn gave_up(attempts: u32, message: String, unreachable: bool) -> BackendError {
    if unreachable {
        BackendError::Unreachable { attempts, message }
    } else {
        BackendError::Transient { attempts, message }
    }
}

/// The error for a missing or unusable credential environment.
pub(crate) fn missing_credentials() -> BackendError {
    BackendError::Auth(Hinted::new("no Apigee credentials", AUTH_HINT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_replies_are_retried() {
        let wait = Some(Duration::from_secs(2));
        let Some(Attempt::Retry {
            retry_after,
            maybe_applied,
            message,
            ..
        }) = retry_for(429, "slow down".into(), wait)
        else {
            panic!("429 is retried")
        };
        assert_eq!((retry_after, maybe_applied), (wait, false));
        assert_eq!(message, "HTTP 429: slow down");
        assert!(matches!(
            retry_for(503, "down".into(), None),
            Some(Attempt::Retry {
                maybe_applied: true,
                ..
            })
        ));
        let not_on_key = "APIProduct is not associated with consumer key".to_string();
        assert!(retry_for(500, not_on_key, None).is_none());
        for final_status in [400, 401, 403, 404, 409] {
            assert!(
                retry_for(final_status, "no".into(), wait).is_none(),
                "{final_status}"
            );
        }
    }

    #[test]
    fn action_requests_name_keys_by_fingerprint() {
        let k = Secret::new("F91jQrfX6CKhyEheXFBL3gxxxxx");
        let req = Request::action(Path::key("a@x.com", "app", &k), "revoke", "key");
        assert!(matches!(req.body, Body::Action("revoke")));
        let target = req.target();
        assert!(!target.contains("F91jQ"), "{target}");
        assert_eq!(
            target,
            format!("/developers/a%40x.com/apps/app/keys/{}", k.fingerprint())
        );
    }
}
