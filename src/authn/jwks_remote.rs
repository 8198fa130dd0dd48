//! A provider's `jwksUri`: where it is fetched (the Envoy cluster Istio would use) and the keys
//! it last gave. The host adapter does the fetching; this decides when, and what requests see
//! meanwhile.
//!
//! - Until the first fetch completes, requests with a token for this provider wait for it.
//! - A failed fetch keeps the last good keys; with none, tokens fail (`Jwks remote fetch is
//!   failed`) until a retry succeeds.
//! - Keys are refreshed every [`REFRESH_MS`]; a token whose `kid` no key has triggers one
//!   early refetch, at most every [`KID_REFETCH_MIN_MS`].
//! - Every context fetches once at start; retries and refreshes happen only once a request
//!   has needed the keys, so contexts that serve no requests (Envoy's main thread) do not
//!   keep fetching, nor keep logging a failing fetch.

use super::jwt::{JwksError, KeySet, MAX_JWKS_BYTES};
use crate::map::SortedMap;
use std::sync::Arc;

pub const REFRESH_MS: u64 = 5 * 60 * 1000;
pub const RETRY_MS: u64 = 2_000;
pub const KID_REFETCH_MIN_MS: u64 = 30_000;
/// Istio's JWTRule `timeout` default.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// Where a `jwksUri` is fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSource {
    pub uri: String,
    /// `outbound|<port>||<host>` (Istio's cluster for the host), or the configured override.
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub timeout_ms: u64,
}

impl JwksSource {
    /// Parses `uri` as Istio does (http or https, default ports 80 and 443); `clusters` maps
    /// a URI to the Envoy cluster that reaches it, for proxies without Istio's clusters.
    pub fn new(
        uri: &str,
        timeout: Option<&str>,
        clusters: &SortedMap<String, String>,
    ) -> Result<Self, String> {
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| format!("{uri:?} is not an http or https URI"))?;
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => {
                return Err(format!(
                    "URI scheme {scheme:?} is not supported (http or https)"
                ))
            }
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("/")),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        let (host, port) = crate::hostname::split_authority(authority);
        if host.is_empty() || host.contains(['@', ' ']) {
            return Err(format!("{uri:?} has no usable host"));
        }
        let port = match port {
            Some(p) => p,
            None if authority.contains(':') && !authority.ends_with(']') => {
                return Err(format!("{uri:?} has a bad port"))
            }
            None => default_port,
        };
        let cluster = clusters
            .get(uri)
            .cloned()
            .unwrap_or_else(|| format!("outbound|{port}||{host}"));
        Ok(JwksSource {
            uri: uri.to_string(),
            cluster,
            authority: authority.to_string(),
            path,
            timeout_ms: match timeout {
                Some(t) => parse_duration_ms(t)
                    .ok_or_else(|| format!("timeout {t:?} is not a duration like \"5s\""))?,
                None => DEFAULT_TIMEOUT_MS,
            },
        })
    }
}

/// A protobuf Duration in JSON: `"5s"`, `"1.5s"`, `"0.250s"`.
fn parse_duration_ms(t: &str) -> Option<u64> {
    let secs = t.strip_suffix('s')?;
    let (whole, frac) = secs.split_once('.').unwrap_or((secs, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let ms_frac: u64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    let ms = whole
        .parse::<u64>()
        .ok()?
        .checked_mul(1000)?
        .checked_add(ms_frac)?;
    (ms > 0).then_some(ms)
}

/// What a request can have of a remote key set right now.
#[derive(Debug, Clone)]
pub enum KeyStatus {
    Ready(Arc<KeySet>),
    /// The first fetch has not completed: hold the request.
    Waiting,
    /// No keys could be had.
    Unavailable,
}

#[derive(Debug, Clone)]
pub struct RemoteJwks {
    pub source: JwksSource,
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<u64>,
    in_flight_since: Option<u64>,
    last_failure: Option<u64>,
    pub last_error: Option<String>,
    last_kid_refetch: Option<u64>,
    refetch_requested: bool,
    /// A request has needed these keys.
    wanted: bool,
}

impl RemoteJwks {
    pub fn new(source: JwksSource) -> Self {
        RemoteJwks {
            source,
            keys: None,
            fetched_at: None,
            in_flight_since: None,
            last_failure: None,
            last_error: None,
            last_kid_refetch: None,
            refetch_requested: false,
            wanted: false,
        }
    }

    /// What a request can have of these keys; from now on they are kept fresh.
    pub fn use_keys(&mut self) -> KeyStatus {
        self.wanted = true;
        self.status()
    }

    pub fn status(&self) -> KeyStatus {
        match (&self.keys, self.last_failure) {
            (Some(k), _) => KeyStatus::Ready(k.clone()),
            (None, None) => KeyStatus::Waiting,
            // A retry after a failure is no "first fetch": don't hold requests on it.
            (None, Some(_)) => KeyStatus::Unavailable,
        }
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight_since.is_some()
    }

    /// Whether a fetch should start at `now` (ms).
    pub fn due(&self, now: u64) -> bool {
        if self.in_flight_since.is_some() {
            return false;
        }
        if self.refetch_requested {
            return true;
        }
        match (self.last_failure, self.fetched_at) {
            (None, None) => true,
            (Some(failed), _) => self.wanted && now.saturating_sub(failed) >= RETRY_MS,
            (None, Some(at)) => self.wanted && now.saturating_sub(at) >= REFRESH_MS,
        }
    }

    pub fn started(&mut self, now: u64) {
        self.in_flight_since = Some(now);
        self.refetch_requested = false;
    }

    /// A fetch that has been in flight longer than its timeout (plus a margin) has been lost.
    pub fn overdue(&self, now: u64) -> bool {
        self.in_flight_since
            .is_some_and(|since| now.saturating_sub(since) > self.source.timeout_ms + 1_000)
    }

    /// A response arrived: a 200 with a usable JWKS replaces the keys; anything else is a
    /// failure that keeps the last good keys.
    pub fn completed(
        &mut self,
        status: Option<u32>,
        body: Option<&[u8]>,
        now: u64,
    ) -> Result<(), String> {
        self.in_flight_since = None;
        let outcome = match (status, body) {
            (Some(200), Some(b)) => KeySet::parse(b).map_err(|e: JwksError| e.to_string()),
            (Some(200), None) => Err("empty response".into()),
            (Some(s), _) => Err(format!("HTTP status {s}")),
            (None, _) => Err("no response".into()),
        };
        match outcome {
            Ok(keys) => {
                self.keys = Some(Arc::new(keys));
                self.fetched_at = Some(now);
                self.last_failure = None;
                self.last_error = None;
                Ok(())
            }
            Err(e) => {
                self.failed(e.clone(), now);
                Err(e)
            }
        }
    }

    pub fn failed(&mut self, error: String, now: u64) {
        self.in_flight_since = None;
        self.last_failure = Some(now);
        self.last_error = Some(error);
    }

    /// A token's `kid` matched no key: refetch early, at most every KID_REFETCH_MIN_MS.
    /// `true` when the request should wait for the (new or running) fetch.
    pub fn refetch_for_unknown_kid(&mut self, now: u64) -> bool {
        if self.in_flight_since.is_some() {
            return true;
        }
        if self
            .last_kid_refetch
            .is_some_and(|at| now.saturating_sub(at) < KID_REFETCH_MIN_MS)
        {
            return false;
        }
        self.last_kid_refetch = Some(now);
        self.refetch_requested = true;
        true
    }
}

/// Bodies larger than this are refused unread.
pub const MAX_BODY: usize = MAX_JWKS_BYTES;

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &[u8] =
        br#"{"keys": [{"kty": "oct", "kid": "k1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}]}"#;

    fn source(uri: &str) -> Result<JwksSource, String> {
        JwksSource::new(uri, None, &SortedMap::new())
    }

    #[test]
    fn sources() {
        let s = source("https://auth.example.com/.well-known/jwks.json").unwrap();
        assert_eq!(s.cluster, "outbound|443||auth.example.com");
        assert_eq!(s.authority, "auth.example.com");
        assert_eq!(s.path, "/.well-known/jwks.json");
        assert_eq!(s.timeout_ms, 5000);
        let s = source("http://Auth.local:8080?x=1").unwrap();
        assert_eq!(
            (s.cluster.as_str(), s.path.as_str()),
            ("outbound|8080||auth.local", "/?x=1")
        );
        let o = JwksSource::new(
            "http://a/j",
            Some("1.5s"),
            &SortedMap::from([("http://a/j".to_string(), "jwks".to_string())]),
        )
        .unwrap();
        assert_eq!((o.cluster.as_str(), o.timeout_ms), ("jwks", 1500));
        for bad in [
            "ftp://a/j",
            "auth.example.com/jwks",
            "https:///j",
            "http://a:x/j",
        ] {
            assert!(source(bad).is_err(), "{bad}");
        }
        assert!(JwksSource::new("http://a/j", Some("5"), &SortedMap::new()).is_err());
        assert_eq!(parse_duration_ms("0.250s"), Some(250));
        assert_eq!(parse_duration_ms("0s"), None);
    }

    #[test]
    fn first_fetch_is_waited_for_then_failures_keep_good_keys() {
        let mut r = RemoteJwks::new(source("http://a/j").unwrap());
        assert!(matches!(r.status(), KeyStatus::Waiting));
        assert!(r.due(0));
        r.started(0);
        assert!(!r.due(1) && r.in_flight());
        assert!(r.completed(Some(500), None, 10).is_err());
        assert!(
            !r.due(10 + RETRY_MS),
            "no retry until a request needs the keys"
        );
        assert!(matches!(r.use_keys(), KeyStatus::Unavailable));
        assert!(!r.due(10 + RETRY_MS - 1) && r.due(10 + RETRY_MS));
        r.started(3000);
        r.completed(Some(200), Some(JWKS), 3100).unwrap();
        assert!(matches!(r.status(), KeyStatus::Ready(_)));
        assert!(!r.due(3100 + REFRESH_MS - 1) && r.due(3100 + REFRESH_MS));
        r.started(400_000);
        assert!(r.completed(Some(200), Some(b"garbage"), 400_100).is_err());
        assert!(
            matches!(r.status(), KeyStatus::Ready(_)),
            "a bad refresh keeps the last good keys"
        );
    }

    #[test]
    fn unknown_kid_refetch_is_rate_limited() {
        let mut r = RemoteJwks::new(source("http://a/j").unwrap());
        r.started(0);
        r.completed(Some(200), Some(JWKS), 0).unwrap();
        assert!(r.refetch_for_unknown_kid(1000));
        assert!(r.due(1000));
        r.started(1000);
        assert!(
            r.refetch_for_unknown_kid(1001),
            "a fetch is running: wait for it"
        );
        r.completed(Some(200), Some(JWKS), 1100).unwrap();
        assert!(!r.refetch_for_unknown_kid(2000));
        assert!(r.refetch_for_unknown_kid(1000 + KID_REFETCH_MIN_MS));
    }

    #[test]
    fn lost_fetches_are_noticed() {
        let mut r = RemoteJwks::new(source("http://a/j").unwrap());
        r.started(0);
        assert!(!r.overdue(5_000));
        assert!(r.overdue(6_001));
    }
}
