//! apaleo's identity server and API, as far as registrar can use them without a client API:
//! a token request per stored secret (RFC 6749: form body, HTTP Basic `client_id:secret`)
//! and `GET /account/v1/accounts/current` with a client-credentials token. What each
//! request proves is a [`SecretCheck`]; the secret is exposed only to build the request.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::BackendError;
use crate::apaleo::model::{ClientKind, SecretCheck};
use crate::model::Secret;

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

/// What one token request answered.
enum Answer {
    Token {
        token: Secret,
        scopes: Vec<String>,
    },
    Error {
        error: String,
        description: Option<String>,
    },
    Other(String),
}

/// Makes verification requests.
#[derive(Debug, Clone)]
pub struct Verifier {
    http: reqwest::Client,
    endpoints: Endpoints,
}

impl Verifier {
    /// A verifier for these endpoints.
    pub fn new(endpoints: Endpoints) -> Result<Verifier, BackendError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("registrar/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BackendError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Verifier { http, endpoints })
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Checks one secret of client `code`: a client-credentials token request (with
    /// `scopes` for a simple client). For a simple client whose scopes are refused, each
    /// scope is asked for alone to name the missing ones; with a token, the API is asked
    /// which account it belongs to.
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
                Answer::Other(d) => SecretCheck::Unexpected { detail: d },
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
                Answer::Other(d) => Ok(SecretCheck::Unexpected { detail: d }),
            },
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
            .http
            .post(&url)
            .header(AUTHORIZATION, basic(code, secret))
            .form(&form)
            .send()
            .await
            .map_err(|e| unreachable(&url, e))?;
        let status = reply.status();
        let body = reply.bytes().await.map_err(|e| unreachable(&url, e))?;
        if status == StatusCode::OK {
            return Ok(match serde_json::from_slice::<TokenResponse>(&body) {
                Ok(t) => Answer::Token {
                    token: Secret::new(t.access_token),
                    scopes: t
                        .scope
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                },
                Err(_) => Answer::Other("the token endpoint answered 200 without a token".into()),
            });
        }
        Ok(match serde_json::from_slice::<OAuthError>(&body) {
            Ok(e) => Answer::Error {
                error: e.error,
                description: e.error_description,
            },
            Err(_) => Answer::Other(format!("the token endpoint answered HTTP {status}")),
        })
    }

    /// `GET /account/v1/accounts/current`: the account code, if the API answers it.
    async fn account(&self, token: &Secret) -> Result<Option<String>, BackendError> {
        let url = format!("{}/account/v1/accounts/current", self.endpoints.api);
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer -"));
        auth.set_sensitive(true);
        let reply = self
            .http
            .get(&url)
            .header(AUTHORIZATION, auth)
            .send()
            .await
            .map_err(|e| unreachable(&url, e))?;
        if !reply.status().is_success() {
            tracing::warn!(status = %reply.status(), "the account endpoint refused the token");
            return Ok(None);
        }
        Ok(reply.json::<Account>().await.ok().map(|a| a.code))
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

fn unreachable(url: &str, e: reqwest::Error) -> BackendError {
    BackendError::Unreachable {
        attempts: 1,
        message: format!("`{url}`: {}", e.without_url()),
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

    #[test]
    fn basic_auth_form_encodes_both_parts() {
        let h = basic("a b", &Secret::new("s:1"));
        assert!(h.is_sensitive());
        let v = h.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD.decode(v).unwrap();
        assert_eq!(raw, b"a+b:s%3A1");
    }
}
