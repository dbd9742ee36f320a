//! When to retry a request and how long to wait: 408, 429, 5xx, timeouts and connection errors
//! are retried with capped exponential backoff and full jitter; `Retry-After` (seconds) on
//! 429/503 sets a floor. Other 4xx are final.

use std::time::Duration;

/// Backoff parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Ceiling of the first retry's wait.
    pub base: Duration,
    /// Ceiling of any wait computed by backoff.
    pub cap: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The policy with `max_attempts` and default timings (0.25 s doubling up to 20 s).
    pub(crate) fn new(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            base: Duration::from_millis(250),
            cap: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(120),
        }
    }

    /// The wait before attempt `attempt + 1`, after `attempt` (1-based) failed. `jitter` is
    /// uniform in [0, 1): full jitter draws the wait uniformly below the exponential ceiling.
    /// A `Retry-After` is honoured as a minimum.
    pub(crate) fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let ceiling = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let backoff = ceiling.mul_f64(jitter.clamp(0.0, 1.0));
        match retry_after {
            Some(ra) => ra.min(self.max_retry_after).max(backoff),
            None => backoff,
        }
    }
}

/// Whether an HTTP status is worth retrying: 408 (request timeout), 429 and every 5xx.
pub(crate) fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// `Retry-After` in seconds (integer or decimal), honoured on 429 and 503 only. HTTP dates
/// are not parsed: backoff applies instead.
pub(crate) fn retry_after(status: u16, header: Option<&str>) -> Option<Duration> {
    if status != 429 && status != 503 {
        return None;
    }
    let secs: f64 = header?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// A fresh jitter draw in [0, 1).
pub(crate) fn jitter() -> f64 {
    rand::random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_429_and_5xx_are_retried() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 409, 412, 422] {
            assert!(!retryable_status(s), "{s}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::new(6);
        assert_eq!(p.delay(1, None, 0.999_999).as_millis(), 249);
        assert_eq!(p.delay(3, None, 0.5), Duration::from_millis(500));
        assert_eq!(p.delay(30, None, 0.5), Duration::from_secs(10));
        assert_eq!(
            p.delay(4, None, 0.0),
            Duration::ZERO,
            "full jitter reaches zero"
        );
    }

    #[test]
    fn retry_after_is_a_floor_and_bounded() {
        let p = RetryPolicy::new(6);
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3)), 0.9),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600)), 0.9),
            Duration::from_secs(120)
        );
        assert_eq!(
            p.delay(10, Some(Duration::ZERO), 1.0),
            Duration::from_secs(20)
        );
    }

    #[test]
    fn retry_after_parsing() {
        assert_eq!(retry_after(429, Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(503, Some(" 0.5 ")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(retry_after(500, Some("2")), None, "only 429 and 503");
        assert_eq!(
            retry_after(429, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(retry_after(429, Some("-1")), None);
        assert_eq!(retry_after(429, None), None);
    }

    #[test]
    fn at_least_one_attempt() {
        assert_eq!(RetryPolicy::new(0).max_attempts, 1);
    }
}
