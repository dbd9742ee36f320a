//! Raw HTTP/1.1 over TCP, for what reqwest will not send: partial heads, stalled bodies,
//! malformed requests. Include with `#[path = "common/raw.rs"] mod raw;`.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Connects to `http://127.0.0.1:PORT` (a server's `url`).
pub fn connect(url: &str) -> TcpStream {
    let addr = url.strip_prefix("http://").expect("http url");
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    s
}

/// One answer read off a connection.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// Every value of a header.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How reading a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server closed it (EOF or reset).
    Closed,
    /// Nothing more came within the wait.
    Quiet,
    /// The server sent something that is not a well-formed answer.
    Garbled,
}

/// Reads answers until the server closes the connection, `quiet` passes without a byte
/// after at least one answer, or `deadline` passes. Returns the answers, how it ended, and
/// when it ended.
pub fn read_answers(
    s: &mut TcpStream,
    quiet: Duration,
    deadline: Duration,
) -> (Vec<Answer>, End, Instant) {
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut answers = Vec::new();
    loop {
        while let Some(parsed) = parse_one(&buf) {
            match parsed {
                Ok((answer, used)) => {
                    answers.push(answer);
                    buf.drain(..used);
                }
                Err(()) => return (answers, End::Garbled, Instant::now()),
            }
        }
        let left = deadline.saturating_sub(start.elapsed());
        if left.is_zero() {
            return (answers, End::Quiet, Instant::now());
        }
        let wait = if answers.is_empty() {
            left
        } else {
            quiet.min(left)
        };
        s.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .unwrap();
        let mut chunk = [0u8; 16384];
        match s.read(&mut chunk) {
            Ok(0) => {
                let end = if buf.is_empty() {
                    End::Closed
                } else {
                    End::Garbled
                };
                return (answers, end, Instant::now());
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if !answers.is_empty() || start.elapsed() >= deadline {
                    let end = if buf.is_empty() {
                        End::Quiet
                    } else {
                        End::Garbled
                    };
                    return (answers, end, Instant::now());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (answers, End::Closed, Instant::now()),
        }
    }
}

/// Waits until the server closes the connection (discarding what it sends); returns when,
/// or `None` if it is still open after `deadline`.
pub fn wait_closed(s: &mut TcpStream, deadline: Duration) -> Option<Instant> {
    let start = Instant::now();
    let mut chunk = [0u8; 16384];
    loop {
        let left = deadline.saturating_sub(start.elapsed());
        if left.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut chunk) {
            Ok(0) => return Some(Instant::now()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Some(Instant::now()),
        }
    }
}

/// Writes, ignoring errors (the server may have closed already).
pub fn write(s: &mut TcpStream, bytes: &[u8]) -> bool {
    s.write_all(bytes).and_then(|()| s.flush()).is_ok()
}

/// Parses one answer from the front of `buf`: `None` if incomplete, `Err` if malformed.
fn parse_one(buf: &[u8]) -> Option<Result<(Answer, usize), ()>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ());
    let Ok(head) = head else { return Some(Err(())) };
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Some(Err(()));
    };
    if !version.starts_with("HTTP/1.") {
        return Some(Err(()));
    }
    let Ok(status) = code.parse::<u16>() else {
        return Some(Err(()));
    };
    let mut headers = Vec::new();
    for line in lines {
        let Some((n, v)) = line.split_once(':') else {
            return Some(Err(()));
        };
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let body_start = end + 4;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let (body, used) = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut body = Vec::new();
        let mut at = body_start;
        loop {
            let line_end = at + buf[at..].windows(2).position(|w| w == b"\r\n")?;
            let size_text = std::str::from_utf8(&buf[at..line_end]).map_err(|_| ());
            let Ok(size_text) = size_text else {
                return Some(Err(()));
            };
            let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            else {
                return Some(Err(()));
            };
            at = line_end + 2;
            if size == 0 {
                let tail = buf[at..].windows(2).position(|w| w == b"\r\n")?;
                at += tail + 2;
                break;
            }
            if buf.len() < at + size + 2 {
                return None;
            }
            body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
        }
        (body, at)
    } else {
        let len = match header("content-length") {
            Some(v) => match v.parse::<usize>() {
                Ok(n) => n,
                Err(_) => return Some(Err(())),
            },
            None if status == 204 || status == 304 || status < 200 => 0,
            // Close-delimited: not used by this server.
            None => return Some(Err(())),
        };
        if buf.len() < body_start + len {
            return None;
        }
        (buf[body_start..body_start + len].to_vec(), body_start + len)
    };
    Some(Ok((
        Answer {
            status,
            headers,
            body,
        },
        used,
    )))
}
