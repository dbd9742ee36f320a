//! Google Application Default Credentials for Apigee X, in the usual order:
//! `GOOGLE_APPLICATION_CREDENTIALS` (a service-account key, an external-account file of
//! workload identity federation, or authorized-user credentials), then gcloud's
//! application-default credentials file, then the metadata server of a Google Cloud
//! runtime. Tokens are cached and replaced before they expire, so a long apply never sends
//! an expired one.
//!
//! Service-account keys (a JWT signed with the key, exchanged at the key's `token_uri`) and
//! the metadata server go through the `gcp_auth` crate, which caches its tokens and replaces
//! them 20 s before expiry. Authorized-user credentials (a refresh token) and external
//! accounts (the subject token traded at Google's STS, then optionally for a service
//! account's token) are exchanged here, on reqwest, and replaced a minute before
//! expiry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use gcp_auth::TokenProvider;
use serde::Deserialize;
use tokio::sync::{Mutex, OnceCell};

use super::token::{self, Token};
use crate::backend::BackendError;
use crate::error::Hinted;
use crate::model::Secret;

/// The OAuth scope of the Apigee management API.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Where authorized-user credentials are refreshed when the file names no `token_uri`.
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The advice of every Google credential error.
const HINT: &str = "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key or an \
external-account (workload identity federation) file, run `gcloud auth application-default \
login`, run on Google Cloud with a service account attached, or set APIGEE_TOKEN to an access \
token";

/// Google credentials that hand out fresh access tokens.
pub struct GoogleCredentials {
    source: Source,
    /// Where the credentials came from, for messages (a path or "the metadata server").
    origin: String,
    cache: Mutex<Option<Token>>,
    http: reqwest::Client,
    /// Tokens obtained so far (for debug logs and tests).
    fetched: AtomicUsize,
}

/// The kinds of credentials.
enum Source {
    /// A service-account key (`"type": "service_account"`).
    ServiceAccount(Box<gcp_auth::CustomServiceAccount>),
    /// A refresh token (`"type": "authorized_user"`, as `gcloud auth application-default
    /// login` writes).
    AuthorizedUser {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        token_uri: String,
    },
    /// Workload identity federation (`"type": "external_account"`).
    ExternalAccount(ExternalAccount),
    /// The metadata server of a Google Cloud runtime, found on first use.
    Metadata(OnceCell<gcp_auth::MetadataServiceAccount>),
}

/// An external-account file (AIP-4117): where the subject token comes from and where it is
/// traded.
#[derive(Deserialize)]
struct ExternalAccount {
    audience: String,
    subject_token_type: String,
    token_url: String,
    #[serde(default)]
    service_account_impersonation_url: Option<String>,
    credential_source: CredentialSource,
}

/// Where an external account's subject token is read.
#[derive(Deserialize)]
struct CredentialSource {
    #[serde(default)]
    file: Option<PathBuf>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    format: Option<SourceFormat>,
    #[serde(default)]
    environment_id: Option<String>,
    #[serde(default)]
    executable: Option<serde_json::Value>,
}

/// How the subject token is written: plain text, or a field of a JSON object.
#[derive(Deserialize)]
struct SourceFormat {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subject_token_field_name: Option<String>,
}

/// The `type` of a credentials file, read first.
#[derive(Deserialize)]
struct Kind {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// Authorized-user credentials. No `Debug`: they hold secrets.
#[derive(Deserialize)]
struct AuthorizedUserFile {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    #[serde(default)]
    token_uri: Option<String>,
}

/// The reply of `generateAccessToken` (service-account impersonation).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImpersonatedToken {
    access_token: String,
    expire_time: String,
}

impl GoogleCredentials {
    /// Finds the credentials in the usual order; `var` reads the environment. Files are read
    /// now (an unusable one is an error naming it); the metadata server is asked on first use.
    pub fn discover(
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GoogleCredentials, BackendError> {
        if let Some(path) = var("GOOGLE_APPLICATION_CREDENTIALS").filter(|p| !p.trim().is_empty()) {
            let path = PathBuf::from(path);
            let origin = format!("`{}` (GOOGLE_APPLICATION_CREDENTIALS)", path.display());
            return GoogleCredentials::from_file(&path, origin);
        }
        if let Some(path) = gcloud_file(var).filter(|p| p.is_file()) {
            let origin = format!(
                "`{}` (gcloud application-default credentials)",
                path.display()
            );
            return GoogleCredentials::from_file(&path, origin);
        }
        Ok(GoogleCredentials::new(
            Source::Metadata(OnceCell::new()),
            "the metadata server".into(),
        ))
    }

    /// Credentials from a file of any supported `type`.
    pub fn from_file(path: &Path, origin: String) -> Result<GoogleCredentials, BackendError> {
        let unusable = |why: String| {
            BackendError::Auth(Hinted::new(
                format!("cannot use the Google credentials {origin}: {why}"),
                HINT,
            ))
        };
        let text = std::fs::read_to_string(path).map_err(|e| unusable(e.to_string()))?;
        let kind: Kind =
            serde_json::from_str(&text).map_err(|e| unusable(format!("not JSON ({e})")))?;
        let source = match kind.kind.as_deref() {
            Some("service_account") => Source::ServiceAccount(Box::new(
                gcp_auth::CustomServiceAccount::from_json(&text)
                    .map_err(|e| unusable(format!("not a usable service-account key ({e})")))?,
            )),
            Some("authorized_user") => {
                let f: AuthorizedUserFile = serde_json::from_str(&text).map_err(|e| {
                    unusable(format!("incomplete authorized-user credentials ({e})"))
                })?;
                Source::AuthorizedUser {
                    client_id: f.client_id,
                    client_secret: Secret::new(f.client_secret),
                    refresh_token: Secret::new(f.refresh_token),
                    token_uri: f.token_uri.unwrap_or_else(|| GOOGLE_TOKEN_URI.into()),
                }
            }
            Some("external_account") => {
                let account: ExternalAccount = serde_json::from_str(&text)
                    .map_err(|e| unusable(format!("incomplete external-account file ({e})")))?;
                account.check().map_err(unusable)?;
                Source::ExternalAccount(account)
            }
            Some(other) => {
                return Err(unusable(format!(
                    "credentials of type `{other}` are not supported (service_account, \
                     authorized_user and external_account are)"
                )));
            }
            None => return Err(unusable("no `type` field".into())),
        };
        Ok(GoogleCredentials::new(source, origin))
    }

    fn new(source: Source, origin: String) -> GoogleCredentials {
        GoogleCredentials {
            source,
            origin,
            cache: Mutex::new(None),
            http: token::http_client().unwrap_or_default(),
            fetched: AtomicUsize::new(0),
        }
    }

    /// Where the credentials come from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A token that is good for at least a while: the cached one, or a new one.
    pub async fn token(&self) -> Result<Secret, BackendError> {
        let failed = |why: String| {
            BackendError::Auth(Hinted::new(
                format!(
                    "cannot get a Google access token from {}: {why}",
                    self.origin
                ),
                HINT,
            ))
        };
        match &self.source {
            Source::ServiceAccount(account) => {
                let token = account
                    .token(&[SCOPE])
                    .await
                    .map_err(|e| failed(chain(&e)))?;
                Ok(Secret::new(token.as_str()))
            }
            Source::Metadata(cell) => {
                let server = cell
                    .get_or_try_init(gcp_auth::MetadataServiceAccount::new)
                    .await
                    .map_err(|e| {
                        BackendError::Auth(Hinted::new(
                            format!(
                                "no Google credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, \
                                 there are no gcloud application-default credentials, and no \
                                 metadata server answered ({})",
                                chain(&e)
                            ),
                            HINT,
                        ))
                    })?;
                let token = server
                    .token(&[SCOPE])
                    .await
                    .map_err(|e| failed(chain(&e)))?;
                Ok(Secret::new(token.as_str()))
            }
            Source::AuthorizedUser { .. } | Source::ExternalAccount(_) => {
                let mut cache = self.cache.lock().await;
                if let Some(t) = cache.as_ref().filter(|t| !t.is_stale(Instant::now())) {
                    return Ok(t.value.clone());
                }
                let fresh = self.fetch().await.map_err(failed)?;
                let value = fresh.value.clone();
                *cache = Some(fresh);
                Ok(value)
            }
        }
    }

    /// A new token from a refresh token or an external account.
    async fn fetch(&self) -> Result<Token, String> {
        let n = self.fetched.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(origin = %self.origin, n, "requesting a Google access token");
        match &self.source {
            Source::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => {
                let now = Instant::now();
                let reply = token::post_form(
                    &self.http,
                    token_uri,
                    None,
                    &[
                        ("grant_type", "refresh_token"),
                        ("client_id", client_id),
                        ("client_secret", client_secret.expose()),
                        ("refresh_token", refresh_token.expose()),
                    ],
                )
                .await?;
                Ok(Token::new(
                    Secret::new(reply.access_token),
                    reply.expires_in,
                    now,
                ))
            }
            Source::ExternalAccount(account) => account.exchange(&self.http).await,
            Source::ServiceAccount(_) | Source::Metadata(_) => {
                Err("these credentials refresh themselves".into())
            }
        }
    }
}

impl ExternalAccount {
    /// Refuses subject-token sources registrar cannot read, naming them.
    fn check(&self) -> Result<(), String> {
        let source = &self.credential_source;
        if source
            .environment_id
            .as_deref()
            .is_some_and(|e| e.starts_with("aws"))
        {
            return Err(
                "AWS-sourced external accounts are not supported (file- and \
                        URL-sourced ones are)"
                    .into(),
            );
        }
        if source.executable.is_some() {
            return Err(
                "executable-sourced external accounts are not supported (file- and \
                        URL-sourced ones are)"
                    .into(),
            );
        }
        if source.file.is_none() && source.url.is_none() {
            return Err("`credential_source` names neither a `file` nor a `url`".into());
        }
        Ok(())
    }

    /// The subject token (an OIDC token of the CI system, say), as the source gives it now.
    async fn subject_token(&self, http: &reqwest::Client) -> Result<Secret, String> {
        let source = &self.credential_source;
        let raw = if let Some(file) = &source.file {
            std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read the subject token `{}`: {e}", file.display()))?
        } else {
            let url = source.url.as_deref().unwrap_or_default();
            let mut req = http.get(url);
            for (name, value) in &source.headers {
                req = req.header(name, value);
            }
            let reply = req
                .send()
                .await
                .map_err(|e| format!("cannot fetch the subject token: {}", e.without_url()))?;
            let status = reply.status();
            if !status.is_success() {
                return Err(format!(
                    "the subject token URL answered HTTP {}",
                    status.as_u16()
                ));
            }
            reply
                .text()
                .await
                .map_err(|e| format!("cannot fetch the subject token: {}", e.without_url()))?
        };
        let format = source.format.as_ref();
        let token = match format.and_then(|f| f.kind.as_deref()) {
            Some("json") => {
                let field = format
                    .and_then(|f| f.subject_token_field_name.as_deref())
                    .ok_or("`credential_source.format` of type json names no `subject_token_field_name`")?;
                let doc: serde_json::Value = serde_json::from_str(&raw)
                    .map_err(|_| "the subject token source is not JSON".to_string())?;
                doc.get(field)
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| format!("the subject token source has no string `{field}`"))?
                    .to_string()
            }
            _ => raw.trim().to_string(),
        };
        if token.is_empty() {
            return Err("the subject token is empty".into());
        }
        Ok(Secret::new(token))
    }

    /// Trades the subject token at the STS, then, if configured, for a service account's
    /// token.
    async fn exchange(&self, http: &reqwest::Client) -> Result<Token, String> {
        let subject = self.subject_token(http).await?;
        let now = Instant::now();
        let sts = token::post_form(
            http,
            &self.token_url,
            None,
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("audience", &self.audience),
                ("scope", SCOPE),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("subject_token", subject.expose()),
                ("subject_token_type", &self.subject_token_type),
            ],
        )
        .await
        .map_err(|e| format!("the security token service refused the subject token ({e})"))?;
        let Some(url) = &self.service_account_impersonation_url else {
            return Ok(Token::new(
                Secret::new(sts.access_token),
                sts.expires_in,
                now,
            ));
        };
        let reply = http
            .post(url)
            .bearer_auth(&sts.access_token)
            .json(&serde_json::json!({"scope": [SCOPE], "lifetime": "3600s"}))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot impersonate the service account: {}",
                    e.without_url()
                )
            })?;
        let status = reply.status().as_u16();
        let body = reply.bytes().await.map_err(|e| {
            format!(
                "cannot impersonate the service account: {}",
                e.without_url()
            )
        })?;
        if !(200..300).contains(&status) {
            return Err(format!(
                "impersonating the service account failed (HTTP {status})"
            ));
        }
        let token: ImpersonatedToken = serde_json::from_slice(&body)
            .map_err(|e| format!("impersonating the service account: unexpected reply ({e})"))?;
        let expires_in = humantime::parse_rfc3339_weak(&token.expire_time)
            .ok()
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .map(|d| d.as_secs() as i64);
        Ok(Token::new(Secret::new(token.access_token), expires_in, now))
    }
}

/// gcloud's application-default credentials file: `$CLOUDSDK_CONFIG/…`, else
/// `~/.config/gcloud/…` (`%APPDATA%\gcloud\…` on Windows).
fn gcloud_file(var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    const NAME: &str = "application_default_credentials.json";
    if let Some(dir) = var("CLOUDSDK_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join(NAME));
    }
    if cfg!(windows) {
        return var("APPDATA").map(|d| PathBuf::from(d).join("gcloud").join(NAME));
    }
    var("HOME").map(|h| PathBuf::from(h).join(".config/gcloud").join(NAME))
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn order_is_the_environment_then_gcloud_then_the_metadata_server() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap();
        let none = GoogleCredentials::discover(&vars(&[("HOME", home)])).unwrap();
        assert_eq!(none.origin(), "the metadata server");
        std::fs::create_dir_all(dir.path().join(".config/gcloud")).unwrap();
        write(
            &dir.path().join(".config/gcloud"),
            "application_default_credentials.json",
            r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}"#,
        );
        let gcloud = GoogleCredentials::discover(&vars(&[("HOME", home)])).unwrap();
        assert!(
            gcloud.origin().contains("gcloud application-default"),
            "{}",
            gcloud.origin()
        );
        let ext = write(
            dir.path(),
            "ext.json",
            r#"{"type":"external_account","audience":"//iam.googleapis.com/x","subject_token_type":"urn:ietf:params:oauth:token-type:jwt","token_url":"https://sts.googleapis.com/v1/token","credential_source":{"file":"/tmp/t"}}"#,
        );
        let env = GoogleCredentials::discover(&vars(&[
            ("HOME", home),
            ("GOOGLE_APPLICATION_CREDENTIALS", ext.to_str().unwrap()),
        ]))
        .unwrap();
        assert!(env.origin().contains("GOOGLE_APPLICATION_CREDENTIALS"));
        assert!(matches!(env.source, Source::ExternalAccount(_)));
    }

    #[test]
    fn unusable_files_are_errors_that_name_them_and_not_their_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("missing.json", None, "cannot use"),
            ("notjson.json", Some("secret-ish {"), "not JSON"),
            (
                "kind.json",
                Some(r#"{"type":"gdch_service_account"}"#),
                "not supported",
            ),
            (
                "aws.json",
                Some(
                    r#"{"type":"external_account","audience":"a","subject_token_type":"t","token_url":"u","credential_source":{"environment_id":"aws1","url":"http://x"}}"#,
                ),
                "AWS",
            ),
            (
                "sa.json",
                Some(
                    r#"{"type":"service_account","client_email":"a@b","private_key":"hunter2","token_uri":"http://127.0.0.1:1/t"}"#,
                ),
                "service-account key",
            ),
        ];
        for (name, text, expected) in cases {
            let path = match text {
                Some(t) => write(dir.path(), name, t),
                None => dir.path().join(name),
            };
            let Err(e) = GoogleCredentials::from_file(&path, format!("`{name}`")) else {
                panic!("{name} was accepted")
            };
            let shown = crate::error::render(&anyhow::Error::new(e));
            assert!(shown.contains(expected) && shown.contains(name), "{shown}");
            assert!(
                !shown.contains("hunter2") && shown.contains("hint:"),
                "{shown}"
            );
        }
    }
}
