//! apaleo's identity server and API, as far as registrar can use them without a client API:
//! a token request per stored secret (RFC 6749: form body, HTTP Basic `client_id:secret`)
//! and `GET /account/v1/accounts/current` with a client-credentials token. What each
//! request proves is a [`SecretCheck`]; the secret is exposed only to build the request.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::BackendError;
use super::apigee::retry::{self, RetryPolicy};
use crate::model::Secret;
use crate::model::apaleo::{ClientKind, SecretCheck};

/// apaleo's identity server (the token endpoint is `/connect/token`).
pub const IDENTITY_URL: &str = "https://identity.apaleo.com";
/// apaleo's API (`/account/v1/accounts/current`).
pub const API_URL: &str = "https://api.apaleo.com";

/// Where the token endpoint and the API are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The identity server's root.
    pub identity: String,
    /// The API's root.
    pub api: String,
}

impl Endpoints {
    /// The real hosts, or both at `url` (`--url`, e.g. `registrar serve --flavor apaleo`).
    pub fn new(url: Option<&str>) -> Endpoints {
        match url {
            Some(u) => {
                let u = u.trim_end_matches('/').to_string();
                Endpoints {
                    identity: u.clone(),
                    api: u,
                }
            }
            None => Endpoints {
                identity: IDENTITY_URL.into(),
                api: API_URL.into(),
            },
        }
    }
}

/// An RFC 6749 error body.
#[derive(Debug, Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A token response (only what registrar reads).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    scope: Option<String>,
}

/// The account a token belongs to.
#[derive(Deserialize)]
struct Account {
    code: String,
}

/// What one token request answered: a token, or an RFC 6749 error. Anything else (a 5xx,
/// a 429, a body that is not RFC 6749 JSON) is a [`BackendError`]: an outage proves nothing
/// about a client.
enum Answer {
    Token {
        token: Secret,
        scopes: Vec<String>,
    },
    Error {
        error: String,
        description: Option<String>,
    },
}

/// The default per-request timeout (`--timeout` overrides it).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts per request by default (the first included): transient failures (connection
/// errors, timeouts, 408, 429, 5xx) are retried with backoff, honouring `Retry-After`.
pub const DEFAULT_ATTEMPTS: u32 = 6;

/// Makes verification requests.
#[derive(Debug, Clone)]
pub struct Verifier {
    http: reqwest::Client,
    endpoints: Endpoints,
    policy: RetryPolicy,
}

/// One HTTP reply, read whole.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
}

impl Verifier {
    /// A verifier for these endpoints; `timeout` bounds each request (`None`:
    /// [`DEFAULT_TIMEOUT`]).
    pub fn new(endpoints: Endpoints, timeout: Option<Duration>) -> Result<Verifier, BackendError> {
        let http = reqwest::Client::builder()
            .timeout(timeout.unwrap_or(DEFAULT_TIMEOUT))
            .user_agent(concat!("registrar/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BackendError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Verifier {
            http,
            endpoints,
            policy: RetryPolicy::new(DEFAULT_ATTEMPTS),
        })
    }

    /// With `attempts` per request in all (at least 1) and backoff starting at `base`.
    pub fn with_attempts(mut self, attempts: u32, base: Duration) -> Verifier {
        self.policy = RetryPolicy::new(attempts);
        self.policy.base = base;
        self
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Checks one secret of client `code`: a client-credentials token request (with
    /// `scopes` for a simple client). For a simple client whose scopes are refused, each
    /// scope is asked for alone to name the missing ones; with a token, the API is asked
    /// which account it belongs to. An answer that says nothing of the client (an outage,
    /// a rate limit, a page that is not the token endpoint's) is an error, after retries.
    pub async fn check(
        &self,
        kind: ClientKind,
        code: &str,
        secret: &Secret,
        scopes: &[String],
    ) -> Result<SecretCheck, BackendError> {
        match kind {
            ClientKind::Connect => Ok(match self.token(code, secret, &[]).await? {
                Answer::Error { error, .. } if error == "unauthorized_client" => {
                    SecretCheck::CredentialsAccepted
                }
                Answer::Error { error, .. } if error == "invalid_client" => SecretCheck::Refused,
                Answer::Token { .. } => SecretCheck::Unexpected {
                    detail: "the client-credentials grant was granted: the client is a simple client, not a connect client".into(),
                },
                Answer::Error { error, description } => SecretCheck::Unexpected {
                    detail: describe(&error, description.as_deref()),
                },
            }),
            ClientKind::Simple => match self.token(code, secret, scopes).await? {
                Answer::Token { token, scopes } => {
                    let account = self.account(&token).await?;
                    Ok(SecretCheck::Granted { scopes, account })
                }
                Answer::Error { error, .. } if error == "invalid_client" => {
                    Ok(SecretCheck::Refused)
                }
                Answer::Error { error, .. } if error == "invalid_scope" => {
                    let mut missing = Vec::new();
                    for s in scopes {
                        if let Answer::Error { error, .. } =
                            self.token(code, secret, std::slice::from_ref(s)).await?
                            && error == "invalid_scope"
                        {
                            missing.push(s.clone());
                        }
                    }
                    Ok(SecretCheck::MissingScopes { scopes: missing })
                }
                Answer::Error { error, description } => Ok(SecretCheck::Unexpected {
                    detail: describe(&error, description.as_deref()),
                }),
            },
        }
    }

    /// Sends the request `make` builds, retrying transient failures (connection errors,
    /// timeouts, 408, 429, 5xx) as [`RetryPolicy`] says, `Retry-After` honoured. Returns the
    /// first reply that is not transient; an error once the attempts are spent.
    async fn send(
        &self,
        url: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Reply, BackendError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.policy.max_attempts;
            let (failure, wait) = match make().send().await {
                Ok(reply) => {
                    let status = reply.status();
                    let after = reply
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry::retry_after(status.as_u16(), Some(v)));
                    match reply.bytes().await {
                        Ok(body) if !retry::retryable_status(status.as_u16()) => {
                            return Ok(Reply {
                                status,
                                body: body.to_vec(),
                            });
                        }
                        Ok(_) => (format!("`{url}` answered HTTP {status}"), after),
                        Err(e) => (format!("`{url}`: {}", e.without_url()), None),
                    }
                }
                Err(e) => (format!("`{url}`: {}", e.without_url()), None),
            };
            if last {
                return Err(BackendError::Transient {
                    attempts: attempt,
                    message: failure,
                });
            }
            let delay = self.policy.delay(attempt, wait, retry::jitter());
            tracing::info!(attempt, ?delay, "{failure}; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// `POST /connect/token` with `grant_type=client_credentials` (and `scope`).
    async fn token(
        &self,
        code: &str,
        secret: &Secret,
        scopes: &[String],
    ) -> Result<Answer, BackendError> {
        let url = format!("{}/connect/token", self.endpoints.identity);
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if !scopes.is_empty() {
            form.push(("scope", scopes.join(" ")));
        }
        let reply = self
            .send(&url, || {
                self.http
                    .post(&url)
                    .header(AUTHORIZATION, basic(code, secret))
                    .form(&form)
            })
            .await?;
        if reply.status == StatusCode::OK {
            return match serde_json::from_slice::<TokenResponse>(&reply.body) {
                Ok(t) => Ok(Answer::Token {
                    token: Secret::new(t.access_token),
                    scopes: t
                        .scope
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                }),
                Err(_) => Err(BackendError::Rejected {
                    status: 200,
                    message: format!(
                        "`{url}` answered 200 without a token (not an OAuth token endpoint?)"
                    ),
                }),
            };
        }
        match serde_json::from_slice::<OAuthError>(&reply.body) {
            Ok(e) => Ok(Answer::Error {
                error: e.error,
                description: e.error_description,
            }),
            Err(_) => Err(BackendError::Rejected {
                status: reply.status.as_u16(),
                message: format!(
                    "`{url}` answered HTTP {} without an OAuth error (RFC 6749): not the token endpoint, or a proxy in the way",
                    reply.status
                ),
            }),
        }
    }

    /// `GET /account/v1/accounts/current`: the account code, if the API answers it.
    async fn account(&self, token: &Secret) -> Result<Option<String>, BackendError> {
        let url = format!("{}/account/v1/accounts/current", self.endpoints.api);
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer -"));
        auth.set_sensitive(true);
        let reply = self
            .send(&url, || {
                self.http.get(&url).header(AUTHORIZATION, auth.clone())
            })
            .await?;
        if !reply.status.is_success() {
            tracing::warn!(status = %reply.status, "the account endpoint refused the token");
            return Ok(None);
        }
        Ok(serde_json::from_slice::<Account>(&reply.body)
            .ok()
            .map(|a| a.code))
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1), marked sensitive.
fn basic(code: &str, secret: &Secret) -> HeaderValue {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = Zeroizing::new(format!("{}:{}", enc(code), enc(secret.expose())));
    let value = Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
    ));
    let mut h =
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Basic -"));
    h.set_sensitive(true);
    h
}

fn describe(error: &str, description: Option<&str>) -> String {
    match description {
        Some(d) => format!("`{error}`: {}", crate::escape::Escaped(d)),
        None => format!("`{error}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_points_both_endpoints_at_the_stand_in() {
        let e = Endpoints::new(Some("http://127.0.0.1:9/"));
        assert_eq!(e.identity, "http://127.0.0.1:9");
        assert_eq!(e.api, "http://127.0.0.1:9");
        let real = Endpoints::new(None);
        assert_eq!(real.identity, IDENTITY_URL);
        assert_eq!(real.api, API_URL);
    }

    /// A server answering each request with the next of `replies` (the last one repeated);
    /// returns its URL and the count of requests it read.
    async fn canned(
        replies: Vec<&'static str>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let reply = replies[n.min(replies.len() - 1)];
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let _ = conn.read(&mut buf).await;
                    if reply == "hang" {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                    let (head, body) = reply.split_once("\n\n").unwrap_or((reply, ""));
                    let text = format!(
                        "HTTP/1.1 {head}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(text.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        (url, count)
    }

    fn verifier(url: &str, attempts: u32, timeout: Option<Duration>) -> Verifier {
        Verifier::new(Endpoints::new(Some(url)), timeout)
            .unwrap()
            .with_attempts(attempts, Duration::from_millis(10))
    }

    async fn check_connect(v: &Verifier) -> Result<SecretCheck, BackendError> {
        v.check(ClientKind::Connect, "app", &Secret::new("s"), &[])
            .await
    }

    const REFUSED: &str =
        "401 Unauthorized\ncontent-type: application/json\n\n{\"error\":\"invalid_client\"}";

    #[tokio::test]
    async fn an_outage_is_retried_then_the_answer_counts() {
        let (url, count) = canned(vec![
            "503 Service Unavailable\n\n<html>down</html>",
            "502 Bad Gateway\n\n",
            REFUSED,
        ])
        .await;
        let check = check_connect(&verifier(&url, 6, None)).await.unwrap();
        assert_eq!(check, SecretCheck::Refused);
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_lasting_outage_is_an_error_not_drift() {
        for reply in [
            "503 Service Unavailable\n\n<html>down</html>",
            "500 Internal Server Error\ncontent-type: application/json\n\n{\"error\":\"server_error\"}",
            "429 Too Many Requests\n\n",
        ] {
            let (url, count) = canned(vec![reply]).await;
            let e = check_connect(&verifier(&url, 3, None)).await.unwrap_err();
            assert!(
                matches!(e, BackendError::Transient { attempts: 3, .. }),
                "{reply}: {e}"
            );
            assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
        }
    }

    #[tokio::test]
    async fn a_page_that_is_not_an_oauth_answer_is_an_error() {
        for reply in [
            "403 Forbidden\ncontent-type: text/html\n\n<html>proxy</html>",
            "200 OK\ncontent-type: text/html\n\n<html>portal</html>",
        ] {
            let (url, count) = canned(vec![reply]).await;
            let e = check_connect(&verifier(&url, 3, None)).await.unwrap_err();
            assert!(matches!(e, BackendError::Rejected { .. }), "{reply}: {e}");
            assert_eq!(
                count.load(std::sync::atomic::Ordering::SeqCst),
                1,
                "not retried"
            );
        }
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let (url, count) =
            canned(vec!["429 Too Many Requests\nretry-after: 0.6\n\n", REFUSED]).await;
        let t = std::time::Instant::now();
        let check = check_connect(&verifier(&url, 3, None)).await.unwrap();
        assert_eq!(check, SecretCheck::Refused);
        assert!(
            t.elapsed() >= Duration::from_millis(600),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_timeout_is_the_one_given() {
        let (url, _) = canned(vec!["hang"]).await;
        let t = std::time::Instant::now();
        let e = check_connect(&verifier(&url, 2, Some(Duration::from_millis(200))))
            .await
            .unwrap_err();
        assert!(
            matches!(e, BackendError::Transient { attempts: 2, .. }),
            "{e}"
        );
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn basic_auth_form_encodes_both_parts() {
        let h = basic("a b", &Secret::new("s:1"));
        assert!(h.is_sensitive());
        let v = h.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD.decode(v).unwrap();
        assert_eq!(raw, b"a+b:s%3A1");
    }
}
