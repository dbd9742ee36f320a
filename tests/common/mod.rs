//! Test harness for `registrar serve`: starts the real binary on 127.0.0.1 with an ephemeral
//! port and a temporary database, reads the port from its `listening on` line, and talks to
//! it over HTTP with reqwest. The child is killed when the [`Server`] is dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A running server.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The org base: `{url}/v1/organizations/local`.
    pub base: String,
    dir: tempfile::TempDir,
    client: reqwest::Client,
    token: Option<String>,
}

/// An answer: status, headers, JSON body (`Value::Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Server {
    /// Starts `registrar serve --flavor FLAVOR` with extra arguments.
    pub fn start(flavor: &str, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_registrar"))
            .args([
                "--log",
                "registrar=debug",
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .arg("--db")
            .arg(&db)
            .args(["--flavor", flavor])
            .args(extra)
            .env_remove("REGISTRAR_SERVE_TOKEN")
            .env_remove("REGISTRAR_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start registrar serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let token = extra
            .iter()
            .position(|a| *a == "--token")
            .map(|i| extra[i + 1].to_string());
        Server {
            base: format!("{url}/v1/organizations/local"),
            url,
            child,
            dir,
            client: reqwest::Client::new(),
            token,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the server to exit (after a signal); returns whether it exited with 0.
    pub fn wait_exit(&mut self) -> bool {
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("server did not exit");
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap()
    }

    /// The database file.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("r.db")
    }

    /// Sends a request to `path` (relative to the org base unless it starts with `/`), with
    /// the server's token if it has one.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.request(method, path);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        } else if method == "POST" {
            req = req.header("content-type", "application/octet-stream");
        }
        send(req).await
    }

    /// A request builder without credentials.
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with('/') {
            format!("{}{path}", self.url)
        } else {
            format!("{}/{path}", self.base)
        };
        self.client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), url)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    /// POST with `?action=` and no body.
    pub async fn action(&self, path: &str) -> Reply {
        self.call("POST", path, None).await
    }

    /// Creates a developer, a product and an app; returns the app.
    pub async fn seed(&self, email: &str, product: &str, app: &str) -> Value {
        self.post(
            "developers",
            json!({"email": email, "firstName": "Ada", "lastName": "Lovelace", "userName": "ada"}),
        )
        .await
        .expect(201);
        let r = self
            .post(
                "apiproducts",
                json!({"name": product, "displayName": product, "approvalType": "auto",
                       "scopes": ["read", "write"]}),
            )
            .await;
        assert!(r.status == 201 || r.status == 409, "{}", r.text);
        self.post(
            &format!("developers/{}/apps", enc(email)),
            json!({"name": app, "apiProducts": [product]}),
        )
        .await
        .expect(201)
        .body
    }
}

/// Sends a request and reads the reply.
pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Reply {
        status,
        headers,
        body,
        text,
    }
}

impl Reply {
    /// Asserts the status; returns self for chaining.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        if status != 204 {
            let ct = self
                .headers
                .get("content-type")
                .map(|v| v.to_str().unwrap());
            assert_eq!(ct, Some("application/json"), "{}", self.text);
        }
        self
    }

    /// The Edge code or the X violation type of an error body.
    pub fn error_code(&self) -> String {
        if let Some(e) = self.body.get("error") {
            e["details"][0]["violations"][0]["type"]
                .as_str()
                .unwrap()
                .to_string()
        } else {
            self.body["code"].as_str().unwrap().to_string()
        }
    }
}

/// Percent-encodes a path segment (`@` → `%40`).
pub fn enc(s: &str) -> String {
    s.replace('%', "%25")
        .replace('@', "%40")
        .replace('+', "%2B")
        .replace(' ', "%20")
}

/// Asserts an X error body: `{"error":{code,message,status,details}}`.
#[track_caller]
pub fn assert_x_error(r: &Reply, code: u16, status: &str, violation: &str) {
    assert_eq!(r.status.as_u16(), code, "{}", r.text);
    let e = &r.body["error"];
    assert_eq!(e["code"], code, "{}", r.text);
    assert_eq!(e["status"], status, "{}", r.text);
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(
        e["details"][0]["@type"],
        "type.googleapis.com/google.rpc.PreconditionFailure"
    );
    assert_eq!(
        e["details"][0]["violations"][0]["type"], violation,
        "{}",
        r.text
    );
    assert_eq!(
        e["details"][1]["@type"],
        "type.googleapis.com/google.rpc.RequestInfo"
    );
}

/// Asserts an Edge error body: `{code,message,contexts}`.
#[track_caller]
pub fn assert_edge_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(r.body["code"], code, "{}", r.text);
    assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(r.body["contexts"], json!([]));
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in HTTP service on 127.0.0.1 (a token endpoint, a counting proxy) with a runtime
/// of its own, so that a test driving the binary synchronously can run it beside it. Bind
/// first (the URL may go into the service's own state), then [`StandIn::serve`]; the service
/// lives as long as the value.
pub struct StandIn {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    rt: tokio::runtime::Runtime,
    listener: Option<tokio::net::TcpListener>,
}

impl StandIn {
    /// Binds an ephemeral port.
    pub fn bind() -> StandIn {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        StandIn {
            url: format!("http://{}", listener.local_addr().unwrap()),
            rt,
            listener: Some(listener),
        }
    }

    /// Serves `app` on the bound port.
    pub fn serve(mut self, app: axum::Router) -> StandIn {
        let listener = self.listener.take().expect("served once");
        self.rt
            .spawn(async move { axum::serve(listener, app).await.unwrap() });
        self
    }
}
