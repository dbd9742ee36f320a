//! `registrar serve` against slow and oversized clients: the header, body and idle timeouts
//! (slowloris), the limits on heads and connections, and `WWW-Authenticate` on 401s. The
//! timeouts are set to a second or two so the tests run in seconds.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Server;
use raw::{End, connect, read_answers, wait_closed, write};

const LIST: &[u8] = b"GET /v1/organizations/local/developers HTTP/1.1\r\nHost: t\r\n\r\n";

/// Asserts that `elapsed` is the timeout `t`, give or take scheduling.
#[track_caller]
fn about(elapsed: Duration, t: Duration) {
    assert!(
        elapsed >= t - Duration::from_millis(100) && elapsed <= t + Duration::from_millis(1500),
        "closed after {elapsed:?}, expected about {t:?}"
    );
}

#[test]
fn a_slowloris_head_is_closed_at_the_header_timeout() {
    let s = Server::start("x", &["--header-timeout", "1s", "--idle-timeout", "30s"]);
    // One header byte every 200 ms: never a whole head.
    let mut c = connect(&s.url);
    let start = Instant::now();
    write(
        &mut c,
        b"GET /v1/organizations/local/developers HTTP/1.1\r\nHost: t\r\n",
    );
    let mut closed = None;
    for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        sleep(Duration::from_millis(200));
        if !write(&mut c, &[*b]) {
            closed = Some(Instant::now());
            break;
        }
        if start.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let closed = closed.or_else(|| wait_closed(&mut c, Duration::from_secs(5)));
    let closed = closed.expect("a trickled head keeps the connection open");
    about(closed - start, Duration::from_secs(1));

    // A connection that sends nothing at all is closed at the header timeout too.
    let mut c = connect(&s.url);
    let start = Instant::now();
    let closed =
        wait_closed(&mut c, Duration::from_secs(5)).expect("a silent connection stays open");
    about(closed - start, Duration::from_secs(1));

    // The server still answers.
    let mut c = connect(&s.url);
    write(&mut c, LIST);
    let (answers, _, _) = read_answers(&mut c, Duration::from_millis(100), Duration::from_secs(5));
    assert_eq!(answers[0].status, 200);
}

#[test]
fn a_slow_head_after_an_answer_gets_the_header_timeout_not_the_idle_one() {
    let s = Server::start("x", &["--header-timeout", "1s", "--idle-timeout", "20s"]);
    let mut c = connect(&s.url);
    write(&mut c, LIST);
    let (answers, end, _) =
        read_answers(&mut c, Duration::from_millis(100), Duration::from_secs(5));
    assert_eq!((answers[0].status, end), (200, End::Quiet));
    sleep(Duration::from_millis(300));
    let start = Instant::now();
    write(
        &mut c,
        b"GET /v1/organizations/local/developers HTTP/1.1\r\nHost",
    );
    let closed =
        wait_closed(&mut c, Duration::from_secs(5)).expect("the second head never timed out");
    about(closed - start, Duration::from_secs(1));
}

#[test]
fn an_unfinished_body_is_answered_408_at_the_body_timeout() {
    for flavor in ["x", "edge"] {
        let s = Server::start(flavor, &["--body-timeout", "1s", "--header-timeout", "5s"]);
        let mut c = connect(&s.url);
        write(
            &mut c,
            b"POST /v1/organizations/local/developers HTTP/1.1\r\nHost: t\r\n\
              Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"email\":",
        );
        let start = Instant::now();
        let (answers, end, at) =
            read_answers(&mut c, Duration::from_secs(3), Duration::from_secs(6));
        assert_eq!(answers.len(), 1, "{flavor}: {answers:?} {end:?}");
        let a = &answers[0];
        assert_eq!(a.status, 408, "{flavor}: {}", a.text());
        about(at - start, Duration::from_secs(1));
        let body: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        match flavor {
            "x" => assert_eq!(body["error"]["status"], "DEADLINE_EXCEEDED", "{body}"),
            _ => assert_eq!(body["code"], "registrar.RequestTimeout", "{body}"),
        }
        // …and the connection is closed, not left waiting for the rest of the body.
        assert_eq!(end, End::Closed, "{flavor}");
    }
}

#[test]
fn a_trickled_body_is_cut_at_the_body_timeout() {
    let s = Server::start("x", &["--body-timeout", "1s"]);
    let mut c = connect(&s.url);
    let start = Instant::now();
    write(
        &mut c,
        b"PUT /v1/organizations/local/apiproducts/p HTTP/1.1\r\nHost: t\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
    );
    for _ in 0..15 {
        sleep(Duration::from_millis(200));
        if !write(&mut c, b" ") {
            break;
        }
    }
    let (answers, _, _) = read_answers(&mut c, Duration::from_millis(200), Duration::from_secs(5));
    assert_eq!(answers.first().map(|a| a.status), Some(408), "{answers:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let s = Server::start("x", &["--idle-timeout", "1s", "--header-timeout", "10s"]);
    // Requests every 500 ms keep the connection: the idle time restarts after each answer.
    let mut c = connect(&s.url);
    for _ in 0..4 {
        write(&mut c, LIST);
        let (answers, end, _) =
            read_answers(&mut c, Duration::from_millis(50), Duration::from_secs(5));
        assert_eq!(
            (answers.len(), answers[0].status, end),
            (1, 200, End::Quiet)
        );
        sleep(Duration::from_millis(500));
    }
    // Then silence: closed at the idle timeout, well before the header timeout.
    write(&mut c, LIST);
    let (answers, _, answered) =
        read_answers(&mut c, Duration::from_millis(50), Duration::from_secs(5));
    assert_eq!(answers[0].status, 200);
    let closed = wait_closed(&mut c, Duration::from_secs(5)).expect("idle connection left open");
    about(closed - answered, Duration::from_secs(1));
}

#[test]
fn heads_over_the_limits_get_431() {
    let s = Server::start(
        "edge",
        &["--max-header-bytes", "4096", "--max-headers", "20"],
    );
    let big = format!(
        "GET /v1/organizations/local/developers HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(5000)
    );
    let mut many = String::from("GET /v1/organizations/local/developers HTTP/1.1\r\nHost: t\r\n");
    for i in 0..25 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    for req in [big, many] {
        let mut c = connect(&s.url);
        write(&mut c, req.as_bytes());
        let (answers, end, _) =
            read_answers(&mut c, Duration::from_millis(500), Duration::from_secs(5));
        assert_eq!(answers.first().map(|a| a.status), Some(431), "{answers:?}");
        assert_eq!(end, End::Closed);
    }
    // Within the limits: answered.
    let mut ok = String::from("GET /v1/organizations/local/developers HTTP/1.1\r\nHost: t\r\n");
    for i in 0..15 {
        ok.push_str(&format!("X-H{i}: {}\r\n", "v".repeat(100)));
    }
    ok.push_str("\r\n");
    let mut c = connect(&s.url);
    write(&mut c, ok.as_bytes());
    let (answers, _, _) = read_answers(&mut c, Duration::from_millis(100), Duration::from_secs(5));
    assert_eq!(answers[0].status, 200);
}

#[test]
fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let s = Server::start("x", &["--max-connections", "2", "--header-timeout", "30s"]);
    let a = connect(&s.url);
    let _b = connect(&s.url);
    sleep(Duration::from_millis(200));
    let mut c = connect(&s.url);
    write(&mut c, LIST);
    let (answers, end, _) = read_answers(
        &mut c,
        Duration::from_millis(100),
        Duration::from_millis(800),
    );
    assert!(
        answers.is_empty(),
        "a third connection was served: {answers:?} {end:?}"
    );
    drop(a);
    let (answers, _, _) = read_answers(&mut c, Duration::from_millis(100), Duration::from_secs(5));
    assert_eq!(answers.first().map(|a| a.status), Some(200), "{answers:?}");
}

#[tokio::test]
async fn a_401_carries_www_authenticate_in_both_flavours() {
    for (flavor, first) in [("x", "Bearer"), ("edge", "Basic")] {
        let s = Server::start(flavor, &["--token", "t0ken"]);
        for req in [
            s.request("GET", "developers"),
            s.request("GET", "developers").bearer_auth("wrong"),
            s.request("POST", "apiproducts")
                .basic_auth("u", Some("wrong"))
                .json(&serde_json::json!({"name": "p"})),
            s.request("GET", "/no/such/path"),
        ] {
            let r = common::send(req).await;
            assert_eq!(r.status, 401, "{flavor}: {}", r.text);
            let challenges: Vec<&str> = r
                .headers
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert_eq!(challenges.len(), 2, "{flavor}: {challenges:?}");
            assert!(challenges[0].starts_with(first), "{flavor}: {challenges:?}");
            assert!(
                challenges.contains(&"Bearer realm=\"registrar\""),
                "{flavor}: {challenges:?}"
            );
            assert!(
                challenges
                    .iter()
                    .any(|c| c.starts_with("Basic realm=\"registrar\"")),
                "{flavor}: {challenges:?}"
            );
        }
        // A 200 carries none.
        let ok = common::send(s.request("GET", "developers").bearer_auth("t0ken")).await;
        assert_eq!(ok.status, 200);
        assert!(ok.headers.get("www-authenticate").is_none());
    }
}

#[test]
fn sigterm_closes_idle_connections_and_exits() {
    let mut s = Server::start("x", &[]);
    let mut idle = connect(&s.url);
    write(&mut idle, LIST);
    let (answers, _, _) = read_answers(
        &mut idle,
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    assert_eq!(answers[0].status, 200);
    let _silent = connect(&s.url);
    let start = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(s.wait_exit(), "exit status 0 after SIGTERM");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert!(wait_closed(&mut idle, Duration::from_secs(2)).is_some());
}

#[test]
fn bad_limit_flags_are_refused() {
    for args in [
        ["--header-timeout", "0s"],
        ["--idle-timeout", "soon"],
        ["--max-connections", "0"],
        ["--max-header-bytes", "10"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_registrar"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--db",
                "/nonexistent/x.db",
            ])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(args[0]) && err.contains("hint:"),
            "{args:?}: {err}"
        );
    }
}
