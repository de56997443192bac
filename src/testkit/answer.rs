//! One request sent over both transports, gRPC `Check` and the HTTP authorizer, with what each
//! answered on the wire and the reason each counted in `/metrics`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use tonic::transport::Channel;

use crate::pb::auth::authorization_client::AuthorizationClient;

use super::{Tokengate, check, check_request, metrics_page};

/// `(name, labels) → value` for every sample of a Prometheus text page.
pub fn samples(page: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            Some((name.to_owned(), labels, value.parse().ok()?))
        })
        .collect()
}

/// The sum of the samples of `name` whose labels include `want`; 0 when there are none.
pub fn sample(page: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    samples(page)
        .into_iter()
        .filter(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

/// What one transport answered.
#[derive(Debug)]
pub struct Answer {
    /// `grpc` or `http`.
    pub transport: &'static str,
    /// The HTTP status (over gRPC: the denied response's, or 200 for `ok_response`).
    pub status: u16,
    /// Over gRPC, `CheckResponse.status.code`.
    pub grpc_code: Option<i32>,
    /// The denial's body (empty on allow).
    pub body: String,
    /// The `WWW-Authenticate` value, if any.
    pub challenge: Option<String>,
    /// On allow, the headers set for the upstream request.
    pub upstream: HashMap<String, String>,
}

/// Both answers to one request, and the `(transport, authorizer, reason)` each counted.
#[derive(Debug)]
pub struct Judged {
    /// The request, for failure messages.
    pub what: String,
    /// gRPC's answer, then HTTP's.
    pub answers: [Answer; 2],
    /// `(transport, authorizer, reason)` counted in `/metrics` for this request.
    pub counted: Vec<(String, String, String)>,
}

/// Sends requests to one server over both transports and reads the reasons from `/metrics`.
pub struct Judge {
    grpc: AuthorizationClient<Channel>,
    http: reqwest::Client,
    http_addr: SocketAddr,
    admin: SocketAddr,
    /// The `authorizer` labels this server's decisions carry: other tests in the same
    /// process count their own, so only these series are compared.
    labels: Vec<String>,
}

impl Judge {
    /// `labels`: the authorizer names (and `none`, if wanted) whose counts this judge reads.
    pub async fn new(tg: &Tokengate, labels: &[&str]) -> Judge {
        Judge {
            grpc: tg.client().await,
            http: reqwest::Client::new(),
            http_addr: tg.http,
            admin: tg.admin,
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    /// `method path` with `Authorization: Bearer token` (none when `token` is `None`).
    pub async fn ask(&mut self, method: &str, path: &str, token: Option<&str>) -> Judged {
        let auth = token.map(super::bearer);
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("authorization", a))
            .into_iter()
            .collect();
        let before = self.counts().await;

        let v = check(&mut self.grpc, check_request(method, path, &headers)).await;
        let grpc = Answer {
            transport: "grpc",
            status: v.http_status.map_or(200, |s| u16::try_from(s).unwrap_or(0)),
            grpc_code: Some(v.grpc_code),
            body: v.body,
            challenge: v.denied_headers.get("www-authenticate").cloned(),
            upstream: v.set,
        };

        let mut req = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("http://{}{path}", self.http_addr),
        );
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let challenge = header("www-authenticate");
        let upstream = resp
            .headers()
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("x-"))
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let http = Answer {
            transport: "http",
            status,
            grpc_code: None,
            body: resp.text().await.unwrap(),
            challenge,
            upstream,
        };

        let after = self.counts().await;
        let counted = after
            .iter()
            .filter(|(series, n)| before.get(*series).copied().unwrap_or(0.0) < **n)
            .map(|(series, _)| series.clone())
            .collect();
        Judged {
            what: format!("{method} {path}"),
            answers: [grpc, http],
            counted,
        }
    }

    async fn counts(&self) -> BTreeMap<(String, String, String), f64> {
        let page = metrics_page(self.admin).await;
        samples(&page)
            .into_iter()
            .filter(|(name, labels, _)| {
                name == crate::metrics::CHECKS
                    && labels
                        .get("authorizer")
                        .is_some_and(|a| self.labels.contains(a))
            })
            .map(|(_, labels, v)| {
                let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
                ((get("transport"), get("authorizer"), get("reason")), v)
            })
            .collect()
    }
}

impl Judged {
    /// Asserts the exact wire answer of `reason` on both transports, and that each counted
    /// `reason` once, under `authorizer`.
    pub fn expect(&self, authorizer: &str, reason: &str, status: u16, challenge: Option<&str>) {
        let what = &self.what;
        let (body, code) = match status {
            200 => ("", 0),
            400 => (r#"{"message":"Bad Request"}"#, 3),
            401 => (r#"{"message":"Unauthorized"}"#, 16),
            403 => (r#"{"message":"Forbidden"}"#, 7),
            503 => (r#"{"message":"Service Unavailable"}"#, 14),
            other => panic!("no wire answer for status {other}"),
        };
        for a in &self.answers {
            let t = a.transport;
            assert_eq!(a.status, status, "{what} over {t}: status ({reason}) {a:?}");
            assert_eq!(a.body, body, "{what} over {t}: body");
            assert_eq!(
                a.challenge.as_deref(),
                challenge,
                "{what} over {t}: challenge"
            );
            if let Some(got) = a.grpc_code {
                assert_eq!(got, code, "{what} over {t}: gRPC code");
            }
        }
        let mut want: Vec<(String, String, String)> = ["grpc", "http"]
            .iter()
            .map(|t| ((*t).to_owned(), authorizer.to_owned(), reason.to_owned()))
            .collect();
        want.sort();
        let mut counted = self.counted.clone();
        counted.sort();
        assert_eq!(counted, want, "{what}: reasons counted in /metrics");
    }

    /// Allowed on both transports (reason `verified`, counted under `authorizer`).
    pub fn allowed(&self, authorizer: &str) {
        self.expect(authorizer, "verified", 200, None);
    }
}
