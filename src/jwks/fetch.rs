//! Fetching an issuer's JWKS over HTTP: discovery, timeouts, a body limit, https only.

use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use reqwest::{Client, StatusCode, Url, redirect};
use serde::Deserialize;

use super::key::Key;
use crate::config::url::secure;

/// The largest JWKS or discovery document read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 3;

/// Why a fetch failed. Shown in `/readyz` and logs; the old keys stay in use.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No answer: refused, timed out, a TLS failure, or too many redirects.
    #[error("request to {url} failed: {}", causes(source))]
    Http {
        /// The URL asked for.
        url: Url,
        /// The client's error, whose causes the message lists.
        source: reqwest::Error,
    },
    /// An answer other than 200.
    #[error("{url} answered {status}")]
    Status {
        /// The URL asked for.
        url: Url,
        /// What it answered.
        status: StatusCode,
    },
    /// A body over [`MAX_BODY_BYTES`], refused before it is all read.
    #[error("{url} sent more than {MAX_BODY_BYTES} bytes")]
    TooLarge {
        /// The URL asked for.
        url: Url,
    },
    /// A body that is not a JWK Set (or not a discovery document).
    #[error("{url} did not send a JWK Set: {reason}")]
    NotAJwkSet {
        /// The URL asked for.
        url: Url,
        /// What the parser said.
        reason: String,
    },
    /// A JWK Set without one key tokengate can verify with.
    #[error("{url} holds no usable signing key")]
    NoUsableKey {
        /// The URL asked for.
        url: Url,
    },
    /// A URL (built from the issuer, or a discovered `jwks_uri`) that does not parse or is
    /// neither https nor loopback http.
    #[error("`{0}` is not an https URL (http:// only to a loopback host)")]
    Insecure(String),
    /// A `jwks_file` that could not be read.
    #[error("cannot read {path}: {message}")]
    File {
        /// The file as configured.
        path: String,
        /// Why it could not be read.
        message: String,
    },
    /// A `jwks_file` over [`MAX_BODY_BYTES`].
    #[error("{path} is larger than {MAX_BODY_BYTES} bytes")]
    FileTooLarge {
        /// The file as configured.
        path: String,
    },
    /// A `jwks_file` that is not a JWK Set.
    #[error("{path} is not a JWK Set: {reason}")]
    FileNotAJwkSet {
        /// The file as configured.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// A `jwks_file` without one key tokengate can verify with.
    #[error("{path} holds no usable signing key")]
    FileNoUsableKey {
        /// The file as configured.
        path: String,
    },
}

/// Reads a local JWK Set (`jwks_file`); a missing, oversized or unusable file fails as a URL
/// would, and the old keys stay.
pub async fn file(path: &std::path::Path) -> Result<Vec<Key>, FetchError> {
    let shown = || path.display().to_string();
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| FetchError::File {
            path: shown(),
            message: e.to_string(),
        })?;
    if meta.len() > MAX_BODY_BYTES as u64 {
        return Err(FetchError::FileTooLarge { path: shown() });
    }
    let body = tokio::fs::read(path).await.map_err(|e| FetchError::File {
        path: shown(),
        message: e.to_string(),
    })?;
    parse_jwks(&body).map_err(|reason| match reason {
        None => FetchError::FileNoUsableKey { path: shown() },
        Some(reason) => FetchError::FileNotAJwkSet {
            path: shown(),
            reason,
        },
    })
}

/// The one HTTP client of the process, shared by every key set.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: Client,
}

impl Fetcher {
    /// The client: connect and whole-request timeouts, at most three redirects, each to an
    /// https (or loopback http) URL.
    pub fn new() -> Result<Fetcher, reqwest::Error> {
        let policy = redirect::Policy::custom(|attempt| {
            // `previous` starts with the URL first asked for, which is no redirect.
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if !secure(attempt.url()) {
                attempt.error("redirect to an insecure URL")
            } else {
                attempt.follow()
            }
        });
        let client = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TIMEOUT)
            .redirect(policy)
            .user_agent(concat!("tokengate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Fetcher { client })
    }

    /// The JWKS URL of an issuer: OIDC discovery's `jwks_uri`, else `/.well-known/jwks.json`.
    pub async fn discover(&self, issuer: &str) -> Result<Url, FetchError> {
        let base = issuer.trim_end_matches('/');
        let discovery = parse_url(&format!("{base}/.well-known/openid-configuration"))?;
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        if let Ok(body) = self.get(&discovery).await
            && let Ok(d) = serde_json::from_slice::<Discovery>(&body)
        {
            return parse_url(&d.jwks_uri);
        }
        parse_url(&format!("{base}/.well-known/jwks.json"))
    }

    /// Fetches and parses a JWK Set, skipping entries that cannot verify anything.
    pub async fn keys(&self, url: &Url) -> Result<Vec<Key>, FetchError> {
        let body = self.get(url).await?;
        parse_jwks(&body).map_err(|reason| match reason {
            None => FetchError::NoUsableKey { url: url.clone() },
            Some(reason) => FetchError::NotAJwkSet {
                url: url.clone(),
                reason,
            },
        })
    }

    async fn get(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let http = |source| FetchError::Http {
            url: url.clone(),
            source,
        };
        let mut resp = self.client.get(url.clone()).send().await.map_err(http)?;
        if resp.status() != StatusCode::OK {
            return Err(FetchError::Status {
                url: url.clone(),
                status: resp.status(),
            });
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(FetchError::TooLarge { url: url.clone() });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(FetchError::TooLarge { url: url.clone() });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Keys of a JWK Set document. `Err(None)`: a set with no usable key; `Err(Some)`: not a set.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<Key>, Option<String>> {
    #[derive(Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(body).map_err(|e| Some(e.to_string()))?;
    let keys: Vec<Key> = set
        .keys
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Jwk>(v).ok())
        .filter_map(|jwk| Key::from_jwk(&jwk).ok())
        .collect();
    if keys.is_empty() { Err(None) } else { Ok(keys) }
}

/// An HTTP error with its causes (`connection refused`, `operation timed out`, `too many
/// redirects`), which reqwest's own message leaves out and `/readyz` should show.
fn causes(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

fn parse_url(text: &str) -> Result<Url, FetchError> {
    Url::parse(text)
        .ok()
        .filter(secure)
        .ok_or_else(|| FetchError::Insecure(text.to_owned()))
}

/// A configured JWKS URL (already checked by config validation).
pub fn configured(text: &str) -> Result<Url, FetchError> {
    parse_url(text)
}
