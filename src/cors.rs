//! Browsers (`cors`): preflights pass without a token, and a denial carries the CORS headers a
//! script needs to read it, so a single-page app sees the 401 that should send its user to sign
//! in instead of an opaque network error. Allowed requests are the upstream's to answer.

use crate::config::Cors;
use crate::request::{self, Header, Headers};

/// Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
pub fn is_preflight(method: &str, headers: &dyn Headers) -> bool {
    method == "OPTIONS"
        && request::header(headers, "origin") != Header::Absent
        && request::header(headers, "access-control-request-method") != Header::Absent
}

/// The CORS headers of a denial: `Vary: Origin` always; for an allowed `Origin`, the
/// `Access-Control-Allow-*`/`-Expose-Headers` a browser needs to hand the denial to the script.
pub fn denial_headers(cors: &Cors, headers: &dyn Headers) -> Vec<(&'static str, String)> {
    let mut out = vec![("vary", "Origin".to_owned())];
    // A repeated Origin is no origin: browsers send one.
    let Header::One(origin) = request::header(headers, "origin") else {
        return out;
    };
    let allowed = if cors.any_origin() {
        Some("*".to_owned())
    } else {
        cors.allow_origins
            .iter()
            .any(|o| o == origin)
            .then(|| origin.to_owned())
    };
    if let Some(allow) = allowed {
        out.push(("access-control-allow-origin", allow));
        if !cors.expose_headers.is_empty() {
            out.push((
                "access-control-expose-headers",
                cors.expose_headers.join(", "),
            ));
        }
        if cors.allow_credentials {
            out.push(("access-control-allow-credentials", "true".to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cors(origins: &[&str], credentials: bool) -> Cors {
        Cors {
            allow_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            allow_credentials: credentials,
            expose_headers: vec!["www-authenticate".to_owned()],
        }
    }

    fn h(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn an_allowed_origin_gets_the_headers_and_every_denial_varies() {
        let c = cors(&["https://app.example"], true);
        let got = denial_headers(&c, &h(&[("origin", "https://app.example")]));
        assert_eq!(
            got,
            [
                ("vary", "Origin".to_owned()),
                (
                    "access-control-allow-origin",
                    "https://app.example".to_owned()
                ),
                (
                    "access-control-expose-headers",
                    "www-authenticate".to_owned()
                ),
                ("access-control-allow-credentials", "true".to_owned()),
            ]
        );
        for other in [
            "https://evil.example",
            "https://app.example.evil",
            "https://APP.example",
            "null",
        ] {
            let got = denial_headers(&c, &h(&[("origin", other)]));
            assert_eq!(got, [("vary", "Origin".to_owned())], "{other}");
        }
        assert_eq!(denial_headers(&c, &h(&[])), [("vary", "Origin".to_owned())]);
    }

    #[test]
    fn a_wildcard_answers_star_without_credentials() {
        let c = cors(&["*"], false);
        let got = denial_headers(&c, &h(&[("origin", "https://any.example")]));
        assert!(got.contains(&("access-control-allow-origin", "*".to_owned())));
        assert!(
            !got.iter()
                .any(|(k, _)| *k == "access-control-allow-credentials")
        );
    }

    #[test]
    fn a_preflight_is_options_with_origin_and_a_requested_method() {
        let both = h(&[
            ("origin", "https://a"),
            ("access-control-request-method", "GET"),
        ]);
        assert!(is_preflight("OPTIONS", &both));
        assert!(!is_preflight("GET", &both));
        assert!(!is_preflight("OPTIONS", &h(&[("origin", "https://a")])));
        assert!(!is_preflight(
            "OPTIONS",
            &h(&[("access-control-request-method", "GET")])
        ));
    }
}
