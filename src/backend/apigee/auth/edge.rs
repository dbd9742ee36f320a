//! Apigee Edge's login service: an OAuth token for a user name and password (and a one-time
//! MFA code), from `POST {sso}/oauth/token` with the public client `edgecli:edgeclisecret`
//! and `grant_type=password`, renewed with `grant_type=refresh_token` before it expires
//! (facts: spec/apigee-api.md §1, [PHP-oauth], [EDGEJS-conn]).
//!
//! The MFA code is good once, so the password grant is made once per run; renewals use the
//! refresh token, and only when that fails is the password grant tried again (without the
//! code, which would be spent).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::Mutex;

use super::token::{self, Token};
use crate::backend::BackendError;
use crate::error::Hinted;
use crate::model::Secret;

/// The login service of Apigee Edge (public cloud).
pub const DEFAULT_SSO_URL: &str = "https://login.apigee.com";

/// The login service's public client (the one `get_token` and the Edge SDKs use).
const CLIENT: (&str, &str) = ("edgecli", "edgeclisecret");

const HINT: &str = "check APIGEE_USERNAME and APIGEE_PASSWORD (and APIGEE_MFA_TOKEN, a current \
code, when the account uses MFA); APIGEE_SSO_URL names the login service of an SSO zone \
(`https://ZONE.login.apigee.com`)";

/// Edge credentials that log in and hand out fresh tokens.
pub struct EdgeLogin {
    sso_url: String,
    username: String,
    password: Secret,
    mfa_token: Option<Secret>,
    state: Mutex<State>,
    http: reqwest::Client,
    /// Token requests so far (for debug logs).
    requests: AtomicUsize,
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    refresh: Option<Secret>,
    /// Whether the MFA code has been spent.
    logged_in: bool,
}

impl EdgeLogin {
    /// Credentials for the login service at `sso_url` (none: [`DEFAULT_SSO_URL`]).
    pub fn new(
        sso_url: Option<String>,
        username: String,
        password: Secret,
        mfa_token: Option<Secret>,
    ) -> Result<EdgeLogin, BackendError> {
        let sso_url = sso_url
            .unwrap_or_else(|| DEFAULT_SSO_URL.to_string())
            .trim_end_matches('/')
            .to_string();
        match url::Url::parse(&sso_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.username().is_empty() => {}
            _ => {
                return Err(BackendError::Auth(Hinted::new(
                    "APIGEE_SSO_URL is not an http(s) URL without credentials",
                    "set it to the login service, e.g. `https://acme.login.apigee.com`",
                )));
            }
        }
        Ok(EdgeLogin {
            sso_url,
            username,
            password,
            mfa_token,
            state: Mutex::new(State::default()),
            http: token::http_client().unwrap_or_default(),
            requests: AtomicUsize::new(0),
        })
    }

    /// The login service's URL, for messages.
    pub fn sso_url(&self) -> &str {
        &self.sso_url
    }

    /// A token that is good for at least a while: the cached one, or a renewed one.
    pub async fn token(&self) -> Result<Secret, BackendError> {
        let mut state = self.state.lock().await;
        if let Some(t) = state.token.as_ref().filter(|t| !t.is_stale(Instant::now())) {
            return Ok(t.value.clone());
        }
        let now = Instant::now();
        let mut refused = None;
        if let Some(refresh) = state.refresh.clone() {
            match self
                .grant(
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh.expose()),
                    ],
                    false,
                )
                .await
            {
                Ok(reply) => return Ok(keep(&mut state, reply, now)),
                Err(e) => refused = Some(e),
            }
        }
        let with_mfa = !state.logged_in;
        let reply = self
            .grant(
                &[
                    ("grant_type", "password"),
                    ("username", &self.username),
                    ("password", self.password.expose()),
                ],
                with_mfa,
            )
            .await
            .map_err(|e| {
                let renewal = refused
                    .map(|r| format!(" (renewing with the refresh token failed too: {r})"))
                    .unwrap_or_default();
                BackendError::Auth(Hinted::new(
                    format!(
                        "the Edge login service {} refused to log in `{}`: {e}{renewal}",
                        self.sso_url, self.username
                    ),
                    HINT,
                ))
            })?;
        state.logged_in = true;
        Ok(keep(&mut state, reply, now))
    }

    /// One request to `{sso}/oauth/token`.
    async fn grant(
        &self,
        form: &[(&str, &str)],
        with_mfa: bool,
    ) -> Result<token::TokenReply, String> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(sso = %self.sso_url, grant = form[0].1, n, "requesting an Edge token");
        let mut url = format!("{}/oauth/token", self.sso_url);
        if let Some(code) = self.mfa_token.as_ref().filter(|_| with_mfa) {
            let encoded: String =
                url::form_urlencoded::byte_serialize(code.expose().as_bytes()).collect();
            url = format!("{url}?mfa_token={encoded}");
        }
        token::post_form(&self.http, &url, Some(CLIENT), form).await
    }
}

/// Stores a reply's tokens; returns the access token.
fn keep(state: &mut State, reply: token::TokenReply, now: Instant) -> Secret {
    let value = Secret::new(reply.access_token);
    if let Some(refresh) = reply.refresh_token {
        state.refresh = Some(Secret::new(refresh));
    }
    state.token = Some(Token {
        value: value.clone(),
        expires_at: Token::new(Secret::new(""), reply.expires_in, now).expires_at,
    });
    value
}
