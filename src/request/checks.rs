//! The request checks made before any route is chosen (`paths: strict`): the path the core
//! judges must be the path every upstream will serve, whichever way it normalizes.
//!
//! A path is refused rather than repaired wherever proxies and servers are known to disagree:
//! dot segments, empty inner segments, encoded `/` `\` NUL, `\`, `;`, `#`, bytes outside
//! visible ASCII. Escapes of unreserved characters are decoded (every server decodes them
//! alike); every other escape stays as sent, so nothing is decoded twice.

use std::borrow::Cow;

use crate::reason::Reason;

/// How strictly request paths are read (`paths` in the config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Paths {
    /// The checks below; the default.
    #[default]
    Strict,
    /// Match the path exactly as sent (not recommended: a path the upstream normalizes can
    /// reach a route the check did not judge).
    Raw,
}

/// The path to route, after the checks: borrowed unless an escape was decoded.
pub fn check<'p>(method: &str, path: &'p str, mode: Paths) -> Result<Cow<'p, str>, Reason> {
    if mode == Paths::Raw {
        return Ok(Cow::Borrowed(path));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Reason::BadRequest);
    }
    let path = decode(path)?;
    check_segments(&path)?;
    Ok(path)
}

/// Validates every byte and escape, decoding escapes of unreserved characters.
fn decode(path: &str) -> Result<Cow<'_, str>, Reason> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(Reason::BadRequest);
    }
    let mut out: Option<String> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let hex = |k: usize| bytes.get(k).and_then(|c| (*c as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return Err(Reason::BadRequest);
                };
                let c = (hi * 16 + lo) as u8;
                if matches!(c, b'/' | b'\\' | 0) {
                    return Err(Reason::BadRequest);
                }
                if is_unreserved(c) {
                    out.get_or_insert_with(|| path[..i].to_owned())
                        .push(c as char);
                } else if let Some(o) = out.as_mut() {
                    o.push_str(&path[i..i + 3]);
                }
                i += 3;
            }
            // Visible ASCII but the separators proxies and servers read differently.
            0x21..=0x7e if !matches!(b, b'#' | b'\\' | b';') => {
                if let Some(o) = out.as_mut() {
                    o.push(b as char);
                }
                i += 1;
            }
            _ => return Err(Reason::BadRequest),
        }
    }
    Ok(out.map_or(Cow::Borrowed(path), Cow::Owned))
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// No `.` or `..` segment; no empty segment but the last.
fn check_segments(path: &str) -> Result<(), Reason> {
    let mut segments = path[1..].split('/').peekable();
    while let Some(s) = segments.next() {
        let last = segments.peek().is_none();
        if s == "." || s == ".." || (s.is_empty() && !last) {
            return Err(Reason::BadRequest);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(path: &str) -> Result<String, Reason> {
        check("GET", path, Paths::Strict).map(Cow::into_owned)
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_kept_as_sent() {
        assert_eq!(strict("/%61dmin/x").as_deref(), Ok("/admin/x"));
        assert_eq!(strict("/users/%7E7").as_deref(), Ok("/users/~7"));
        assert_eq!(strict("/users/%7e7").as_deref(), Ok("/users/~7"));
        assert_eq!(
            strict("/users/john%40example.com").as_deref(),
            Ok("/users/john%40example.com")
        );
        // `%25` is `%`: kept, so `%252e` is never decoded into a dot.
        assert_eq!(strict("/a/%252e%252e/b").as_deref(), Ok("/a/%252e%252e/b"));
        assert!(matches!(
            check("GET", "/plain", Paths::Strict),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn paths_the_upstream_may_read_otherwise_are_refused() {
        for bad in [
            "",
            "admin",
            "http://h/admin/x",
            "*",
            "//admin/x",
            "/a//b",
            "/./admin/x",
            "/static/../admin/x",
            "/static/%2e%2e/admin/x",
            "/static/%2E./admin",
            "/users/7/.",
            "/users/7/..",
            "/admin;x=1/y",
            "/admin\\x",
            "/a#b",
            "/a%2Fb",
            "/a%2fb",
            "/a%5Cb",
            "/a%00b",
            "/a%",
            "/a%4",
            "/a%zz",
            "/a b",
            "/a\tb",
            "/a\u{7f}",
            "/caf\u{e9}",
            "/\u{ff0e}\u{ff0e}/admin",
            "/%2e",
        ] {
            assert_eq!(strict(bad), Err(Reason::BadRequest), "{bad:?}");
        }
    }

    #[test]
    fn a_trailing_slash_and_dots_inside_segments_are_fine() {
        for ok in [
            "/",
            "/a/",
            "/a/b.",
            "/a/.b",
            "/a/...",
            "/v1.2/x",
            "/a/b~c-d_e",
        ] {
            assert_eq!(strict(ok).as_deref(), Ok(ok), "{ok:?}");
        }
    }

    #[test]
    fn methods_are_upper_case_letters_only() {
        for bad in ["", "get", "G_T", "GET-X", "GE T", "GET\r", "É"] {
            assert_eq!(
                check(bad, "/", Paths::Strict),
                Err(Reason::BadRequest),
                "{bad:?}"
            );
        }
        assert!(check("PROPFIND", "/", Paths::Strict).is_ok());
    }

    #[test]
    fn raw_matches_the_path_as_sent() {
        assert_eq!(
            check("get", "/static/../admin", Paths::Raw).as_deref(),
            Ok("/static/../admin")
        );
    }

    #[test]
    fn the_check_is_idempotent() {
        for p in ["/%61/%7e/%40", "/a/b/", "/x%2541"] {
            let once = strict(p).expect(p);
            assert_eq!(strict(&once).as_deref(), Ok(once.as_str()), "{p}");
        }
    }
}
