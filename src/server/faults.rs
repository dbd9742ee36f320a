//! Fault injection for tests and benchmarks: a fixed latency, random 503s (reproducible
//! with a seed) and a request-rate limit answering 429 with `Retry-After`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::ServerState;
use super::errors::ApiError;

/// The configured faults.
#[derive(Debug)]
pub struct Faults {
    latency: Option<Duration>,
    fail_rate: f64,
    drop_reply_rate: f64,
    rng: Mutex<StdRng>,
    limiter: Option<Mutex<Bucket>>,
}

/// A rate limit: `per_second` requests per second, with a burst of one second's worth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
}

impl RateLimit {
    /// Parses `N/s`, `N/sec`, `N/min` or `N/m`.
    pub fn parse(text: &str) -> Result<RateLimit, String> {
        crate::units::parse_rate(text).map(|per_second| RateLimit { per_second })
    }
}

/// A token bucket.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Takes a token, or says how long until one is available.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

impl Faults {
    /// Builds the faults; `fail_rate` must be within 0..=1.
    pub fn new(
        latency: Option<Duration>,
        fail_rate: f64,
        seed: u64,
        limit: Option<RateLimit>,
    ) -> Faults {
        Faults {
            latency,
            fail_rate,
            drop_reply_rate: 0.0,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            limiter: limit.map(|l| {
                let capacity = l.per_second.max(1.0);
                Mutex::new(Bucket {
                    rate: l.per_second,
                    capacity,
                    tokens: capacity,
                    last: Instant::now(),
                })
            }),
        }
    }

    /// Also loses this fraction of the replies to writes: the request is carried out, then
    /// answered 503, as when a reply is lost on the way back.
    pub fn with_drop_reply_rate(mut self, rate: f64) -> Faults {
        self.drop_reply_rate = rate;
        self
    }

    /// Whether any fault is configured.
    pub fn any(&self) -> bool {
        self.latency.is_some()
            || self.fail_rate > 0.0
            || self.drop_reply_rate > 0.0
            || self.limiter.is_some()
    }

    fn should_fail(&self) -> bool {
        self.draw(self.fail_rate)
    }

    fn draw(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rng.random::<f64>() < rate
    }

    fn admit(&self) -> Result<(), Duration> {
        match &self.limiter {
            None => Ok(()),
            Some(b) => b
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(Instant::now()),
        }
    }
}

/// Middleware: rate limit, then random failure, then latency; after the handler, a lost reply.
pub async fn inject(State(state): State<Arc<ServerState>>, req: Request, next: Next) -> Response {
    let faults = &state.faults;
    if let Err(wait) = faults.admit() {
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "registrar.RateLimitExceeded",
            "Quota exceeded: too many requests; retry after the time in the Retry-After header",
        );
        err.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        return err.into_response();
    }
    if faults.should_fail() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "registrar.ServiceUnavailable",
            "The service is currently unavailable (injected by --fail-rate); retry",
        )
        .into_response();
    }
    if let Some(latency) = faults.latency {
        tokio::time::sleep(latency).await;
    }
    let write = req.method() != axum::http::Method::GET;
    let response = next.run(req).await;
    if write && response.status().is_success() && faults.draw(faults.drop_reply_rate) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "registrar.ReplyLost",
            "The reply was lost (injected by --drop-reply-rate: the request was carried out); retry",
        )
        .into_response();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_spellings() {
        assert_eq!(RateLimit::parse("100/s").unwrap().per_second, 100.0);
        assert_eq!(RateLimit::parse("6000/min").unwrap().per_second, 100.0);
        assert_eq!(RateLimit::parse(" 60 / m ").unwrap().per_second, 1.0);
        for bad in ["100", "x/s", "0/s", "-1/s", "10/h"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bucket_refuses_beyond_the_burst_and_refills() {
        let start = Instant::now();
        let mut b = Bucket {
            rate: 2.0,
            capacity: 2.0,
            tokens: 2.0,
            last: start,
        };
        assert!(b.take(start).is_ok());
        assert!(b.take(start).is_ok());
        let wait = b.take(start).unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(b.take(start + Duration::from_millis(600)).is_ok());
    }

    #[test]
    fn failures_are_reproducible_with_a_seed() {
        let draw = |seed| {
            let f = Faults::new(None, 0.5, seed, None);
            (0..64).map(|_| f.should_fail()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let f = Faults::new(None, 0.0, 1, None);
        assert!((0..100).all(|_| !f.should_fail()));
    }
}
