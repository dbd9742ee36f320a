//! A token bucket shared by every request of one backend: `rate` requests per second with a
//! burst of one second's worth (at least one request).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Bucket state: tokens available as of `at`.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token-bucket rate limiter.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

impl RateLimiter {
    /// A limiter of `rate` requests per second; `None` when `rate` is not a positive finite
    /// number (no limit).
    pub(crate) fn new(rate: f64) -> Option<RateLimiter> {
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        let burst = rate.max(1.0);
        Some(RateLimiter {
            rate,
            burst,
            bucket: Mutex::new(Bucket {
                tokens: burst,
                at: Instant::now(),
            }),
        })
    }

    /// Waits for a token and takes it. Waiters are served in the order the mutex grants
    /// (tokio's mutex is fair), so no request starves.
    pub(crate) async fn acquire(&self) {
        let mut bucket = self.bucket.lock().await;
        let now = Instant::now();
        let wait = take(&mut bucket, now, self.rate, self.burst);
        if !wait.is_zero() {
            // Hold the lock while waiting: the token is ours, later callers queue behind.
            tokio::time::sleep(wait).await;
        }
    }
}

/// Refills `bucket` to `now` and takes one token; returns how long the caller must wait
/// before its token is due (the bucket goes negative by that much).
fn take(bucket: &mut Bucket, now: Instant, rate: f64, burst: f64) -> Duration {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
    bucket.at = now;
    bucket.tokens -= 1.0;
    if bucket.tokens >= 0.0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(-bucket.tokens / rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_paced() {
        let t0 = Instant::now();
        let mut b = Bucket {
            tokens: 2.0,
            at: t0,
        };
        assert_eq!(take(&mut b, t0, 2.0, 2.0), Duration::ZERO);
        assert_eq!(take(&mut b, t0, 2.0, 2.0), Duration::ZERO);
        assert_eq!(take(&mut b, t0, 2.0, 2.0), Duration::from_millis(500));
        assert_eq!(take(&mut b, t0, 2.0, 2.0), Duration::from_millis(1000));
        // A second later two tokens have been refilled: the debt of two is paid.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(take(&mut b, t1, 2.0, 2.0), Duration::from_millis(500));
    }

    #[test]
    fn refill_is_capped_at_burst() {
        let t0 = Instant::now();
        let mut b = Bucket {
            tokens: 0.0,
            at: t0,
        };
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(take(&mut b, later, 3.0, 3.0), Duration::ZERO);
        }
        assert!(take(&mut b, later, 3.0, 3.0) > Duration::ZERO);
    }

    #[test]
    fn non_positive_rate_is_no_limit() {
        assert!(RateLimiter::new(0.0).is_none());
        assert!(RateLimiter::new(f64::INFINITY).is_none());
        assert_eq!(RateLimiter::new(80.0).map(|l| l.burst), Some(80.0));
        assert_eq!(RateLimiter::new(0.5).map(|l| l.burst), Some(1.0));
    }

    #[tokio::test]
    async fn acquire_paces_requests() {
        let limiter = RateLimiter::new(100.0).unwrap();
        let start = std::time::Instant::now();
        for _ in 0..120 {
            limiter.acquire().await;
        }
        // 100 from the burst, 20 more at 100/s: at least 0.2 s, whatever the scheduling.
        assert!(
            start.elapsed() >= Duration::from_millis(195),
            "{:?}",
            start.elapsed()
        );
    }
}
