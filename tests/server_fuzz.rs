//! A fuzz test of `registrar serve`'s request parsing: raw TCP requests, made by mutating
//! valid ones and by generators of malformed ones (methods, request targets, percent-encoding,
//! headers, framing, chunked bodies, JSON bodies of every shape, content types, truncation,
//! pipelining), sent to real servers of both flavours on 127.0.0.1 (no fault injection).
//!
//! Every answer must be well-formed and not 5xx (except the 500 that Apigee itself gives for
//! removing a product a key does not have); the server must answer or close every connection
//! within its timeouts, never panic, and still answer afterwards.
//!
//! Runs a bounded number of cases with a fixed seed in the test suite. For a long run:
//! `REGISTRAR_FUZZ_SECS=600 cargo test --test server_fuzz -- --nocapture` (the figures are on
//! stderr); also `REGISTRAR_FUZZ_CASES=N` (cases per worker) and `REGISTRAR_FUZZ_SEED=N`.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use raw::{End, connect, read_answers, write};

/// Workers per server; each has its own names, so workers do not race one another.
const WORKERS: usize = 4;
/// Cases per worker in the test suite.
const CASES: usize = 100;
/// The servers' timeouts, short so that stalled requests end quickly.
const TIMEOUT: &str = "1s";

#[derive(Default)]
struct Tally {
    requests: u64,
    outcomes: BTreeMap<String, u64>,
    kinds: BTreeMap<&'static str, u64>,
    failures: Vec<String>,
}

#[test]
fn malformed_requests_never_crash_the_server_or_get_a_5xx() {
    let seed: u64 = env_or("REGISTRAR_FUZZ_SEED", 0x1313);
    let secs: u64 = env_or("REGISTRAR_FUZZ_SECS", 0);
    let cases: usize = env_or("REGISTRAR_FUZZ_CASES", CASES);
    let until = (secs > 0).then(|| Instant::now() + Duration::from_secs(secs));
    let args = [
        "--header-timeout",
        TIMEOUT,
        "--body-timeout",
        TIMEOUT,
        "--idle-timeout",
        TIMEOUT,
    ];
    let servers = [
        Arc::new(Server::start("x", &args)),
        Arc::new(Server::start("edge", &args)),
    ];
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let mut threads = Vec::new();
    for (si, server) in servers.iter().enumerate() {
        for w in 0..WORKERS {
            let server = Arc::clone(server);
            let tally = Arc::clone(&tally);
            let id = si * WORKERS + w;
            let edge = si == 1;
            threads.push(std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9e37_79b9));
                let f = Fuzzer::new(&server.url, id, edge);
                f.setup();
                let mut n = 0;
                loop {
                    match until {
                        Some(t) if Instant::now() >= t => break,
                        None if n >= cases => break,
                        _ => {}
                    }
                    if n % 60 == 59 {
                        f.setup();
                    }
                    let (kind, bytes, half_close) = f.case(&mut rng);
                    let verdict = f.send(&bytes, half_close);
                    let mut t = tally.lock().unwrap();
                    t.requests += 1;
                    *t.kinds.entry(kind).or_default() += 1;
                    *t.outcomes.entry(verdict.outcome.clone()).or_default() += 1;
                    if let Some(why) = verdict.failure
                        && t.failures.len() < 20
                    {
                        t.failures.push(format!(
                            "{why} [{kind}, server {}] request: {}",
                            if edge { "edge" } else { "x" },
                            show(&bytes)
                        ));
                    }
                    n += 1;
                }
            }));
        }
    }
    // Join them all before judging, so that no worker still holds a server (a child process)
    // when the test fails.
    let panicked = threads.into_iter().filter_map(|t| t.join().err()).count();
    assert_eq!(panicked, 0, "a fuzz worker panicked");
    let elapsed = start.elapsed();
    // Still answering, and nothing panicked.
    for s in &servers {
        let mut c = connect(&s.url);
        write(
            &mut c,
            b"GET /v1/organizations/local/apiproducts HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        let (answers, _, _) =
            read_answers(&mut c, Duration::from_millis(100), Duration::from_secs(5));
        assert_eq!(
            answers.first().map(|a| a.status),
            Some(200),
            "the server stopped answering"
        );
        let log = s.stderr();
        assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    }
    let t = tally.lock().unwrap();
    let mut report = std::io::stderr().lock();
    let _ = writeln!(
        report,
        "fuzz: {} requests in {:.1}s (seed {seed:#x}); outcomes {:?}; kinds {:?}",
        t.requests,
        elapsed.as_secs_f64(),
        t.outcomes,
        t.kinds
    );
    assert!(
        t.failures.is_empty(),
        "{} failures, first ones:\n{}",
        t.failures.len(),
        t.failures.join("\n")
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A request as sent, escaped and cut for a failure message.
fn show(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(600)];
    let mut s = String::new();
    for b in cut.escape_ascii() {
        s.push(b as char);
    }
    if bytes.len() > 600 {
        s.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    s
}

struct Verdict {
    outcome: String,
    failure: Option<String>,
}

struct Fuzzer {
    url: String,
    base: &'static str,
    email: String,
    product: String,
    app: String,
    key: String,
}

/// How a body is framed.
#[derive(Clone, Copy)]
enum Framing {
    Length,
    WrongLength(i64),
    NoLength,
    Chunked,
    BadChunked,
}

struct Req {
    method: Vec<u8>,
    target: Vec<u8>,
    version: &'static [u8],
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    framing: Framing,
}

impl Req {
    fn new(method: &str, target: String, body: Option<Vec<u8>>) -> Req {
        let mut headers = vec![(b"Host".to_vec(), b"127.0.0.1".to_vec())];
        if body.is_some() {
            headers.push((b"Content-Type".to_vec(), b"application/json".to_vec()));
        }
        Req {
            method: method.as_bytes().to_vec(),
            target: target.into_bytes(),
            version: b"HTTP/1.1",
            headers,
            body: body.unwrap_or_default(),
            framing: Framing::Length,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.method);
        out.push(b' ');
        out.extend_from_slice(&self.target);
        if !self.version.is_empty() {
            out.push(b' ');
            out.extend_from_slice(self.version);
        }
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        let body_len = self.body.len() as i64;
        match self.framing {
            Framing::Length if !self.body.is_empty() || self.method == b"POST" => {
                out.extend_from_slice(format!("Content-Length: {body_len}\r\n").as_bytes());
            }
            Framing::Length | Framing::NoLength => {}
            Framing::WrongLength(d) => {
                out.extend_from_slice(format!("Content-Length: {}\r\n", body_len + d).as_bytes());
            }
            Framing::Chunked | Framing::BadChunked => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        match self.framing {
            Framing::Chunked => {
                for chunk in self.body.chunks(7) {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            Framing::BadChunked => {
                out.extend_from_slice(b"zz;ext=1\r\n");
                out.extend_from_slice(&self.body);
                out.extend_from_slice(b"\r\nffffffffffffffffff\r\n");
            }
            _ => out.extend_from_slice(&self.body),
        }
        out
    }
}

const METHODS: &[&str] = &[
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "HEAD",
    "OPTIONS",
    "TRACE",
    "CONNECT",
    "get",
    "G ET",
    "GET\0",
    "PRI",
    "FOO",
    "",
    "\u{e9}",
    "POST POST",
];
const VERSIONS: &[&[u8]] = &[
    b"HTTP/1.0",
    b"HTTP/1.2",
    b"HTTP/2.0",
    b"HTTP/0.9",
    b"HTTX/1.1",
    b"http/1.1",
    b"",
    b"HTTP/1.1 x",
];
const CONTENT_TYPES: &[&[u8]] = &[
    b"text/plain",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=x",
    b"application/json; charset=latin1",
    b"application/xml",
    b"application/json\x01",
    b"",
    b"*/*",
    b"application/jsonx",
];
const BAD_SEGMENTS: &[&str] = &[
    "%", "%G1", "%ff%fe", "%00", "%2F", "..", ".", "%2e%2e", "%C0%AF", "a%20b", "%E2%82", "~",
    "%25%", "%%", "%u0041",
];
const JSON_SHAPES: &[&str] = &[
    "null",
    "true",
    "0",
    "-1",
    "1e400",
    "\"s\"",
    "[]",
    "{}",
    "[{}]",
    "{\"\":\"\"}",
    "{\"a\":1,\"a\":2}",
    "{\"email\":123}",
    "{\"email\":null}",
    "{\"email\":[\"a@b.c\"]}",
    "{\"name\":\"\\ud800\"}",
    "{\"name\":\"a\\u0000b\"}",
    "{\"attributes\":\"x\"}",
    "{\"attributes\":[{\"name\":null}]}",
    "{\"attributes\":[1,2]}",
    "{\"attribute\":{}}",
    "{\"apiProducts\":{\"a\":1}}",
    "{\"apiProducts\":[1,null]}",
    "{\"scopes\":[1]}",
    "{\"keyExpiresIn\":\"abc\"}",
    "{\"keyExpiresIn\":-5}",
    "{\"keyExpiresIn\":1e30}",
    "{\"status\":\"weird\"}",
    "{\"approvalType\":7}",
    "{\"consumerKey\":\"\"}",
    "{\"consumerKey\":{}}",
    "{\"value\":[]}",
    "{",
    "{\"a\":",
    "[1,]",
    "{\"a\":1}x",
    "\u{feff}{}",
    "\u{0}",
    "nul",
    "{\"a\":1e999999}",
    "{\"a\":-0.0e-999}",
    "\"\\u12\"",
    "{\"a\" 1}",
];

impl Fuzzer {
    fn new(url: &str, id: usize, edge: bool) -> Fuzzer {
        Fuzzer {
            url: url.to_string(),
            base: if edge {
                "/v1/o/local"
            } else {
                "/v1/organizations/local"
            },
            email: format!("w{id}@fuzz.example"),
            product: format!("prod-w{id}"),
            app: format!("app-w{id}"),
            key: format!("key-w{id}-0123456789"),
        }
    }

    fn enc_email(&self) -> String {
        self.email.replace('@', "%40")
    }

    /// (Re)creates this worker's developer, product, app and key; errors (already there) are
    /// fine.
    fn setup(&self) {
        let b = self.base;
        let e = self.enc_email();
        let reqs = [
            Req::new(
                "POST",
                format!("{b}/developers"),
                Some(
                    format!(
                        r#"{{"email":"{}","firstName":"F","lastName":"Z","userName":"fz"}}"#,
                        self.email
                    )
                    .into_bytes(),
                ),
            ),
            Req::new(
                "POST",
                format!("{b}/apiproducts"),
                Some(
                    format!(
                        r#"{{"name":"{}","displayName":"P","approvalType":"auto","scopes":["r"]}}"#,
                        self.product
                    )
                    .into_bytes(),
                ),
            ),
            Req::new(
                "POST",
                format!("{b}/developers/{e}/apps"),
                Some(
                    format!(
                        r#"{{"name":"{}","apiProducts":["{}"]}}"#,
                        self.app, self.product
                    )
                    .into_bytes(),
                ),
            ),
            Req::new(
                "POST",
                format!("{b}/developers/{e}/apps/{}/keys/create", self.app),
                Some(
                    format!(
                        r#"{{"consumerKey":"{}","consumerSecret":"s3cret-0123456789"}}"#,
                        self.key
                    )
                    .into_bytes(),
                ),
            ),
        ];
        for r in reqs {
            let v = self.send(&r.bytes(), false);
            assert!(v.failure.is_none(), "setup: {:?}", v.failure);
        }
    }

    /// A valid request of this worker's.
    fn valid(&self, rng: &mut StdRng) -> Req {
        let b = self.base;
        let e = self.enc_email();
        let (app, p, k) = (&self.app, &self.product, &self.key);
        let dev_body = format!(
            r#"{{"email":"{}","firstName":"F","lastName":"Z","userName":"fz","attributes":[{{"name":"a","value":"b"}}]}}"#,
            self.email
        );
        let prod_body = format!(
            r#"{{"name":"{p}","displayName":"P","approvalType":"manual","scopes":["r","w"],"attributes":[{{"name":"access","value":"public"}}]}}"#
        );
        let app_body = format!(
            r#"{{"name":"{app}","apiProducts":["{p}"],"callbackUrl":"https://x.example/cb","keyExpiresIn":3600000,"attributes":[{{"name":"n","value":"v"}}]}}"#
        );
        let options: Vec<(&str, String, Option<String>)> = vec![
            ("GET", format!("{b}/developers"), None),
            ("GET", format!("{b}/developers?expand=true&count=3"), None),
            ("GET", format!("{b}/developers?startKey={e}&count=2"), None),
            ("GET", format!("{b}/developers/{e}"), None),
            ("PUT", format!("{b}/developers/{e}"), Some(dev_body.clone())),
            ("POST", format!("{b}/developers"), Some(dev_body)),
            ("POST", format!("{b}/developers/{e}?action=inactive"), None),
            ("POST", format!("{b}/developers/{e}?action=active"), None),
            ("GET", format!("{b}/developers/{e}/apps?expand=true"), None),
            ("GET", format!("{b}/developers/{e}/apps/{app}"), None),
            (
                "PUT",
                format!("{b}/developers/{e}/apps/{app}"),
                Some(app_body.clone()),
            ),
            ("POST", format!("{b}/developers/{e}/apps"), Some(app_body)),
            (
                "GET",
                format!("{b}/developers/{e}/apps/{app}/keys/{k}"),
                None,
            ),
            (
                "POST",
                format!("{b}/developers/{e}/apps/{app}/keys/{k}"),
                Some(format!(r#"{{"apiProducts":["{p}"]}}"#)),
            ),
            (
                "POST",
                format!("{b}/developers/{e}/apps/{app}/keys/{k}?action=revoke"),
                None,
            ),
            (
                "POST",
                format!("{b}/developers/{e}/apps/{app}/keys/{k}?action=approve"),
                None,
            ),
            (
                "DELETE",
                format!("{b}/developers/{e}/apps/{app}/keys/{k}/apiproducts/{p}"),
                None,
            ),
            ("GET", format!("{b}/developers/{e}/attributes"), None),
            (
                "POST",
                format!("{b}/developers/{e}/attributes"),
                Some(r#"{"attribute":[{"name":"x","value":"y"}]}"#.into()),
            ),
            (
                "POST",
                format!("{b}/developers/{e}/attributes/x"),
                Some(r#"{"value":"z"}"#.into()),
            ),
            ("GET", format!("{b}/developers/{e}/attributes/x"), None),
            ("DELETE", format!("{b}/developers/{e}/attributes/x"), None),
            ("GET", format!("{b}/apiproducts?expand=true"), None),
            ("GET", format!("{b}/apiproducts/{p}"), None),
            (
                "PUT",
                format!("{b}/apiproducts/{p}"),
                Some(prod_body.clone()),
            ),
            ("POST", format!("{b}/apiproducts"), Some(prod_body)),
            ("GET", format!("{b}/apiproducts/{p}/attributes"), None),
            ("GET", format!("{b}/apps?expand=true&rows=3"), None),
            (
                "GET",
                format!("{b}/apps/00000000-0000-0000-0000-000000000000"),
                None,
            ),
            ("DELETE", format!("{b}/developers/{e}/apps/{app}"), None),
        ];
        let (m, t, body) = options.choose(rng).unwrap().clone();
        Req::new(m, t, body.map(String::into_bytes))
    }

    /// One case: its generator's name, the bytes, and whether to half-close after sending.
    fn case(&self, rng: &mut StdRng) -> (&'static str, Vec<u8>, bool) {
        let mut req = self.valid(rng);
        let kind = match rng.random_range(0..15) {
            0 => "valid",
            1 => {
                req.method = METHODS.choose(rng).unwrap().as_bytes().to_vec();
                if rng.random_bool(0.2) {
                    req.method = (0..rng.random_range(1..2000)).map(|_| b'A').collect();
                }
                "method"
            }
            2 => {
                let mut t = req.target.clone();
                let seg = BAD_SEGMENTS.choose(rng).unwrap();
                let at = rng.random_range(0..=t.len());
                t.splice(at..at, seg.bytes());
                req.target = match rng.random_range(0..6) {
                    0 => b"*".to_vec(),
                    1 => [b"http://evil.example".as_slice(), &t].concat(),
                    2 => [t.as_slice(), b"?count=%ZZ&expand=&&&=&startKey=%"].concat(),
                    3 => [t.as_slice(), &vec![b'a'; rng.random_range(1000..70000)]].concat(),
                    4 => [t.as_slice(), "/\u{e9}\u{1F600}".as_bytes(), b"\xff\xfe"].concat(),
                    _ => t,
                };
                "target"
            }
            3 => {
                req.version = VERSIONS.choose(rng).unwrap();
                "version"
            }
            4 => {
                match rng.random_range(0..3) {
                    0 => req.headers.push((
                        b"X-Big".to_vec(),
                        vec![b'v'; rng.random_range(1000..100_000)],
                    )),
                    1 => {
                        for i in 0..rng.random_range(50..200) {
                            req.headers
                                .push((format!("X-H{i}").into_bytes(), b"1".to_vec()));
                        }
                    }
                    _ => req
                        .headers
                        .push((vec![b'N'; rng.random_range(100..70_000)], b"v".to_vec())),
                }
                "huge-headers"
            }
            5 => {
                let bad: &[(&[u8], &[u8])] = &[
                    (b"Bad Header", b"v"),
                    (b"X:Y", b"v"),
                    (b"\xe9t\xe9", b"v"),
                    (b"", b"v"),
                    (b"X-Fold", b"a\r\n folded"),
                    (b"X-Nul", b"a\0b"),
                    (b"X-Cr", b"a\rb"),
                    (b"X-Lf", b"a\nb"),
                    (b"Content-Length", b"-1"),
                    (b"Content-Length", b"99999999999999999999999"),
                    (b"Content-Length", b"+5"),
                    (b"Content-Length", b"1, 2"),
                    (b"Transfer-Encoding", b"gzip, chunked"),
                    (b"Transfer-Encoding", b"xchunked"),
                    (b"Expect", b"100-continue"),
                    (b"Expect", b"bogus"),
                    (b"Host", b"second.example"),
                    (b"Connection", b"upgrade"),
                    (b"Upgrade", b"h2c"),
                    (b"Authorization", b"Basic !!!"),
                    (b"Content-Encoding", b"gzip"),
                ];
                for _ in 0..rng.random_range(1..4) {
                    let (n, v) = bad.choose(rng).unwrap();
                    req.headers.push((n.to_vec(), v.to_vec()));
                }
                "bad-headers"
            }
            6 => {
                req.framing = match rng.random_range(0..4) {
                    0 => Framing::WrongLength(rng.random_range(-5..50)),
                    1 => Framing::NoLength,
                    2 => Framing::BadChunked,
                    _ => Framing::WrongLength(1 << rng.random_range(20..40)),
                };
                "framing"
            }
            7 => {
                req.framing = Framing::Chunked;
                "chunked"
            }
            8 | 9 => {
                if req.method == b"GET" || req.method == b"DELETE" {
                    req.method = b"POST".to_vec();
                }
                req.body = self.json(rng);
                if !req.headers.iter().any(|(n, _)| n == b"Content-Type") {
                    req.headers
                        .push((b"Content-Type".to_vec(), b"application/json".to_vec()));
                }
                if rng.random_bool(0.2) {
                    req.framing = Framing::Chunked;
                }
                "json-body"
            }
            10 => {
                req.headers.retain(|(n, _)| n != b"Content-Type");
                if rng.random_bool(0.8) {
                    req.headers.push((
                        b"Content-Type".to_vec(),
                        CONTENT_TYPES.choose(rng).unwrap().to_vec(),
                    ));
                }
                if req.body.is_empty() {
                    req.body = b"a=1&b=2".to_vec();
                }
                "content-type"
            }
            11 => {
                let mut bytes = req.bytes();
                let more = self.valid(rng).bytes();
                bytes.extend_from_slice(&more);
                if rng.random_bool(0.5) {
                    let third = self.valid(rng).bytes();
                    bytes.extend_from_slice(&third[..third.len() / 2]);
                }
                return ("pipelined", bytes, rng.random_bool(0.5));
            }
            12 => {
                let bytes = req.bytes();
                let cut = rng.random_range(0..bytes.len().max(1));
                return ("truncated", bytes[..cut].to_vec(), rng.random_bool(0.5));
            }
            _ => {
                let mut bytes = req.bytes();
                for _ in 0..rng.random_range(1..6) {
                    mutate(&mut bytes, rng);
                }
                return ("mutated", bytes, rng.random_bool(0.2));
            }
        };
        let mut bytes = req.bytes();
        if rng.random_bool(0.1) {
            mutate(&mut bytes, rng);
        }
        (kind, bytes, rng.random_bool(0.1))
    }

    /// A JSON body of some shape: valid, wrong-typed, malformed, deep, huge or not UTF-8.
    fn json(&self, rng: &mut StdRng) -> Vec<u8> {
        match rng.random_range(0..8) {
            0 => {
                let depth = rng.random_range(10..5000);
                let mut s = "[".repeat(depth);
                s.push_str(&"]".repeat(depth));
                s.into_bytes()
            }
            1 => {
                let depth = rng.random_range(10..3000);
                let mut s = r#"{"a":"#.repeat(depth);
                s.push('1');
                s.push_str(&"}".repeat(depth));
                s.into_bytes()
            }
            2 => {
                let n = if rng.random_bool(0.5) {
                    rng.random_range(1000..100_000)
                } else {
                    (1 << 20) - 10 + rng.random_range(0..20)
                };
                format!(r#"{{"name":"{}","email":"x@y.z"}}"#, "n".repeat(n)).into_bytes()
            }
            3 => {
                let mut b = br#"{"name":""#.to_vec();
                b.extend((0..rng.random_range(1..50)).map(|_| rng.random::<u8>()));
                b.extend_from_slice(br#""}"#);
                b
            }
            4 => {
                let mut b = self.valid_body(rng);
                let cut = rng.random_range(0..b.len().max(1));
                b.truncate(cut);
                b
            }
            5 => {
                let mut b = self.valid_body(rng);
                for _ in 0..rng.random_range(1..4) {
                    mutate(&mut b, rng);
                }
                b
            }
            _ => JSON_SHAPES.choose(rng).unwrap().as_bytes().to_vec(),
        }
    }

    fn valid_body(&self, rng: &mut StdRng) -> Vec<u8> {
        loop {
            let r = self.valid(rng);
            if !r.body.is_empty() {
                return r.body;
            }
        }
    }

    /// Sends one case and judges the answers.
    fn send(&self, bytes: &[u8], half_close: bool) -> Verdict {
        let mut c = connect(&self.url);
        write(&mut c, bytes);
        if half_close {
            let _ = c.shutdown(std::net::Shutdown::Write);
        }
        // Longest legitimate wait: the header or body timeout, plus a slow machine's slack.
        let (answers, end, _) =
            read_answers(&mut c, Duration::from_millis(100), Duration::from_secs(8));
        let head = bytes.starts_with(b"HEAD ");
        let mut outcome: Vec<String> = answers
            .iter()
            .filter(|a| a.status >= 200)
            .map(|a| a.status.to_string())
            .collect();
        let mut failure = None;
        for a in &answers {
            if a.status >= 500 {
                let intended = a.status == 500 && a.text().contains("registrar.ProductNotOnKey");
                if intended {
                    outcome.push("(ProductNotOnKey)".into());
                } else {
                    failure = Some(format!("{} answer: {}", a.status, a.text()));
                }
            } else if a.status >= 400
                && !is_json(a)
                && !(protocol_error(a.status) && a.body.is_empty())
            {
                failure = Some(format!("{} answer without a JSON body: {:?}", a.status, a));
            }
        }
        match end {
            End::Closed if answers.is_empty() => outcome.push("closed".into()),
            End::Quiet if answers.is_empty() => {
                failure = Some("no answer and not closed within 8s".into());
                outcome.push("hang".into());
            }
            End::Garbled if !head => {
                failure = Some(format!("garbled answer after {answers:?}"));
                outcome.push("garbled".into());
            }
            _ => {}
        }
        Verdict {
            outcome: if outcome.is_empty() {
                "none".into()
            } else {
                outcome.join("+")
            },
            failure,
        }
    }
}

/// The answers hyper gives itself, with an empty body, to a request it cannot parse.
fn protocol_error(status: u16) -> bool {
    matches!(status, 400 | 414 | 431)
}

fn is_json(a: &raw::Answer) -> bool {
    a.all("content-type")
        .first()
        .is_some_and(|ct| ct.starts_with("application/json"))
        && serde_json::from_slice::<serde_json::Value>(&a.body).is_ok()
}

/// One byte-level mutation.
fn mutate(bytes: &mut Vec<u8>, rng: &mut StdRng) {
    if bytes.is_empty() {
        bytes.push(rng.random());
        return;
    }
    let at = rng.random_range(0..bytes.len());
    match rng.random_range(0..7) {
        0 => bytes[at] ^= 1 << rng.random_range(0..8),
        1 => {
            bytes[at] = *[b'\0', b'\r', b'\n', b':', b' ', b'%', b'"', b'{', 0xff]
                .choose(rng)
                .unwrap()
        }
        2 => {
            let n = rng.random_range(1..16);
            let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            bytes.splice(at..at, junk);
        }
        3 => {
            let end = (at + rng.random_range(1..32)).min(bytes.len());
            bytes.drain(at..end);
        }
        4 => {
            let end = (at + rng.random_range(1..64)).min(bytes.len());
            let piece = bytes[at..end].to_vec();
            for _ in 0..rng.random_range(1..20) {
                bytes.splice(at..at, piece.iter().copied());
            }
        }
        5 => bytes[at] = bytes[at].to_ascii_uppercase() ^ 0x20,
        _ => {
            let other = rng.random_range(0..bytes.len());
            bytes.swap(at, other);
        }
    }
}
