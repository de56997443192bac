//! Claims, read after the signature verifies: their types, API Gateway's checks, scopes, and the
//! values forwarded upstream in claim headers.

use serde_json::{Map, Value};

use super::TokenUse;
use crate::config::Audience;
use crate::reason::Reason;
use crate::trace::Trace;

/// What an authorizer requires of the claims.
#[derive(Debug, Clone)]
pub struct Rules<'a> {
    /// `iss` must equal one (a user pool has two forms).
    pub issuers: &'a [String],
    /// Which clients a token must be for.
    pub audience: &'a Audience,
    /// Cognito's `token_use`, required when set.
    pub token_use: Option<TokenUse>,
    /// Seconds of leeway for `exp`, `nbf` and `iat`.
    pub clock_skew: f64,
}

/// The time claims, kept with a cached verdict so a hit re-checks them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Times {
    /// `exp`, required.
    pub exp: f64,
    /// `nbf`, if present.
    pub nbf: Option<f64>,
    /// `iat`, if present.
    pub iat: Option<f64>,
}

impl Times {
    /// `exp` after now; `nbf` and `iat` not after now; each with `skew` seconds of leeway.
    pub fn check(&self, now: f64, skew: f64) -> Result<(), Reason> {
        if self.exp + skew <= now {
            return Err(Reason::Expired);
        }
        let future = |t: Option<f64>| t.is_some_and(|t| t - skew > now);
        if future(self.nbf) || future(self.iat) {
            return Err(Reason::NotYetValid);
        }
        Ok(())
    }
}

/// Checks claims in the SPEC's order: types, `iss`, `aud`/`client_id`, time, `token_use`.
pub fn check(
    claims: &Map<String, Value>,
    rules: &Rules<'_>,
    now: f64,
    trace: &mut impl Trace,
) -> Result<Times, Reason> {
    let typed = (|| {
        let iss = string(claims, "iss")?.ok_or(Reason::Malformed)?;
        let client_id = string(claims, "client_id")?;
        let token_use = string(claims, "token_use")?;
        let aud = audiences(claims)?;
        let times = Times {
            exp: number(claims, "exp")?.ok_or(Reason::Malformed)?,
            nbf: number(claims, "nbf")?,
            iat: number(claims, "iat")?,
        };
        // Cognito access tokens carry `client_id` and no `aud`: then `client_id` must be present.
        if aud.is_none() && client_id.is_none() {
            return Err(Reason::Malformed);
        }
        if rules.token_use.is_some() && token_use.is_none() {
            return Err(Reason::Malformed);
        }
        Ok((iss, client_id, token_use, aud, times))
    })();
    trace.record("claim types", typed.is_ok(), || {
        "iss, exp present; exp/nbf/iat numbers; aud string or strings; client_id when no aud".into()
    });
    let (iss, client_id, token_use, aud, times) = typed?;

    let iss_ok = rules.issuers.iter().any(|i| i == iss);
    trace.record("iss", iss_ok, || match rules.issuers {
        [one] => format!("{} must equal {}", text(iss), text(one)),
        many => format!("{} must be one of {}", text(iss), texts(many)),
    });
    if !iss_ok {
        return Err(Reason::WrongIssuer);
    }
    let audience_ok = match (rules.audience, &aud) {
        (Audience::AnyAppClient, _) => true,
        (Audience::Clients(ours), Some(list)) => list.iter().any(|a| ours.iter().any(|c| c == a)),
        (Audience::Clients(ours), None) => client_id.is_some_and(|id| ours.iter().any(|c| c == id)),
    };
    trace.record("audience", audience_ok, || match (rules.audience, &aud) {
        (Audience::AnyAppClient, _) => "any app client of the pool is accepted".into(),
        (Audience::Clients(ours), Some(list)) => {
            format!("aud {} must hold one of {}", texts(list), texts(ours))
        }
        (Audience::Clients(ours), None) => format!(
            "no aud: client_id {} must be one of {}",
            client_id.map_or_else(|| "(absent)".to_owned(), text),
            texts(ours)
        ),
    });
    if !audience_ok {
        return Err(Reason::WrongAudience);
    }
    let timely = times.check(now, rules.clock_skew);
    trace.record("time", timely.is_ok(), || {
        let opt = |t: Option<f64>| t.map_or_else(|| "(absent)".to_owned(), shown);
        format!(
            "now {}, exp {}, nbf {}, iat {}, skew {}s",
            shown(now.floor()),
            shown(times.exp),
            opt(times.nbf),
            opt(times.iat),
            shown(rules.clock_skew)
        )
    });
    timely?;
    if let Some(want) = rules.token_use {
        let ok = token_use == Some(want.as_str());
        trace.record("token_use", ok, || {
            let held = token_use.map_or_else(|| "(absent)".to_owned(), text);
            format!("{held} must be {}", text(want.as_str()))
        });
        if !ok {
            return Err(Reason::WrongTokenUse);
        }
    }
    Ok(times)
}

/// A claim value as a user writes it in JSON: a quoted string.
fn text(s: &str) -> String {
    Value::from(s).to_string()
}

/// Strings as a JSON array.
fn texts<S: AsRef<str>>(list: &[S]) -> String {
    let items: Vec<String> = list.iter().map(|s| text(s.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

/// A number as JSON writes it: `1700000000`, not `1700000000.0`.
fn shown(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// The unverified `iss`, used only to pick among a route's authorizers.
pub fn issuer(claims: &Map<String, Value>) -> Result<&str, Reason> {
    string(claims, "iss")?.ok_or(Reason::Malformed)
}

fn string<'c>(claims: &'c Map<String, Value>, name: &str) -> Result<Option<&'c str>, Reason> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Reason::Malformed),
    }
}

fn number(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Reason> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(Reason::Malformed),
        Some(_) => Err(Reason::Malformed),
    }
}

/// `aud` as a list: a string is a list of one; `null` or other types are malformed.
fn audiences(claims: &Map<String, Value>) -> Result<Option<Vec<&str>>, Reason> {
    match claims.get("aud") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.as_str()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or(Reason::Malformed))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(Reason::Malformed),
    }
}

/// The union of `scope` and `scp`, each a space-separated string or an array of strings.
pub fn scopes(claims: &Map<String, Value>) -> Vec<Box<str>> {
    let mut out: Vec<Box<str>> = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => {
                out.extend(s.split(' ').filter(|s| !s.is_empty()).map(Box::from))
            }
            Some(Value::Array(items)) => out.extend(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .flat_map(|s| s.split(' '))
                    .filter(|s| !s.is_empty())
                    .map(Box::from),
            ),
            _ => {}
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether `held` (scopes joined by spaces, as the token cache keeps them) has at least one of
/// `required`, compared whole; an empty `required` asks for nothing.
pub fn has_any_joined_scope(held: &str, required: &[String]) -> bool {
    required.is_empty()
        || held
            .split(' ')
            .filter(|h| !h.is_empty())
            .any(|h| required.iter().any(|r| r == h))
}

/// A claim by name: whole first (`cognito:groups`, `https://example.com/roles`), then as a
/// dotted path into objects (`address.country`).
pub fn lookup<'c>(claims: &'c Map<String, Value>, name: &str) -> Option<&'c Value> {
    claims.get(name).or_else(|| {
        let mut parts = name.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |v, p| v.as_object()?.get(p))
    })
}

/// A claim's value as a header value, or `None` when nothing should be forwarded.
///
/// The name is looked up whole first (`cognito:groups`), then as a dotted path into objects.
/// Values carrying control characters other than tab are never forwarded.
pub fn header_value(claims: &Map<String, Value>, name: &str) -> Option<String> {
    let value = lookup(claims, name)?;
    let text = match value {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => return None,
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    let clean = !text
        .chars()
        .any(|c| (c < ' ' && c != '\t') || c == '\u{7f}');
    clean.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::NoTrace;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test claims are objects"),
        }
    }

    const ISS: &str = "https://issuer.example";

    fn rules(aud: &Audience) -> Rules<'_> {
        static ISSUERS: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| vec![ISS.to_owned()]);
        Rules {
            issuers: &ISSUERS,
            audience: aud,
            token_use: None,
            clock_skew: 0.0,
        }
    }

    #[test]
    fn checks_run_in_order_and_name_the_first_failure() {
        let aud = Audience::Clients(vec!["app".to_owned()]);
        let r = rules(&aud);
        let ok = json!({"iss": ISS, "aud": "app", "exp": 200});
        assert!(check(&obj(ok), &r, 100.0, &mut NoTrace).is_ok());
        let cases = [
            (
                json!({"iss": "x", "aud": "other", "exp": 1}),
                Reason::WrongIssuer,
            ),
            (
                json!({"iss": ISS, "aud": ["a", "b"], "exp": 1}),
                Reason::WrongAudience,
            ),
            (
                json!({"iss": ISS, "aud": "app", "exp": 100}),
                Reason::Expired,
            ),
            (
                json!({"iss": ISS, "aud": "app", "exp": 200, "nbf": 101}),
                Reason::NotYetValid,
            ),
            (
                json!({"iss": ISS, "aud": "app", "exp": 200, "iat": 100.5}),
                Reason::NotYetValid,
            ),
            (json!({"iss": ISS, "aud": "app"}), Reason::Malformed),
            (
                json!({"iss": ISS, "aud": "app", "exp": "200"}),
                Reason::Malformed,
            ),
            (
                json!({"iss": ISS, "aud": null, "exp": 200}),
                Reason::Malformed,
            ),
            (
                json!({"iss": ISS, "aud": [1], "exp": 200}),
                Reason::Malformed,
            ),
            (
                json!({"iss": 5, "aud": "app", "exp": 200}),
                Reason::Malformed,
            ),
            (json!({"iss": ISS, "exp": 200}), Reason::Malformed),
        ];
        for (claims, want) in cases {
            assert_eq!(
                check(&obj(claims.clone()), &r, 100.0, &mut NoTrace).err(),
                Some(want),
                "{claims}"
            );
        }
    }

    #[test]
    fn cognito_access_tokens_match_on_client_id_and_token_use() {
        let aud = Audience::Clients(vec!["client123".to_owned()]);
        let mut r = rules(&aud);
        r.token_use = Some(TokenUse::Access);
        let access =
            json!({"iss": ISS, "client_id": "client123", "token_use": "access", "exp": 200.5});
        assert!(check(&obj(access), &r, 100.0, &mut NoTrace).is_ok());
        let id = json!({"iss": ISS, "aud": "client123", "token_use": "id", "exp": 200});
        assert_eq!(
            check(&obj(id), &r, 100.0, &mut NoTrace).err(),
            Some(Reason::WrongTokenUse)
        );
        let wrong = json!({"iss": ISS, "client_id": "other", "token_use": "access", "exp": 200});
        assert_eq!(
            check(&obj(wrong), &r, 100.0, &mut NoTrace).err(),
            Some(Reason::WrongAudience)
        );
        // `aud` present wins over `client_id`.
        let both = json!({"iss": ISS, "aud": "x", "client_id": "client123", "token_use": "access", "exp": 200});
        assert_eq!(
            check(&obj(both), &r, 100.0, &mut NoTrace).err(),
            Some(Reason::WrongAudience)
        );
    }

    #[test]
    fn clock_skew_widens_every_time_check() {
        let t = Times {
            exp: 100.0,
            nbf: Some(110.0),
            iat: Some(105.0),
        };
        assert_eq!(t.check(103.0, 0.0), Err(Reason::Expired));
        assert_eq!(t.check(103.0, 5.0), Err(Reason::NotYetValid));
        assert_eq!(t.check(103.0, 10.0), Ok(()));
    }

    #[test]
    fn scopes_union_scope_and_scp_in_both_shapes() {
        let c = obj(json!({"scope": "a b", "scp": ["c", "d e"]}));
        let held = scopes(&c);
        assert_eq!(held.join(" "), "a b c d e");
        assert!(scopes(&obj(json!({"scope": 5}))).is_empty());
        let c = obj(json!({"scope": " x  y ", "scp": "y"}));
        assert_eq!(
            scopes(&c).join(" "),
            "x y",
            "sorted, deduplicated, no empty scope"
        );
    }

    #[test]
    fn a_joined_scope_list_matches_any_required_scope_whole() {
        let req = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // Nothing required: any token, even one with no scope.
        assert!(has_any_joined_scope("", &[]));
        assert!(has_any_joined_scope("a b", &[]));
        // No scope held: nothing required is met, not even an empty name.
        assert!(!has_any_joined_scope("", &req(&["a"])));
        assert!(!has_any_joined_scope("", &req(&[""])));
        // One of several is enough, in any position.
        assert!(has_any_joined_scope("a b c", &req(&["x", "c"])));
        assert!(has_any_joined_scope("a b c", &req(&["a"])));
        assert!(!has_any_joined_scope("a b c", &req(&["x", "y"])));
        // Double, leading and trailing spaces hold no empty scope and hide none.
        assert!(has_any_joined_scope("  a  b ", &req(&["b"])));
        assert!(!has_any_joined_scope("a  b", &req(&[""])));
        assert!(!has_any_joined_scope("a  b", &req(&[" "])));
        // Whole names only, case-sensitive: no prefix, suffix or substring match.
        for other in ["users", "read", "users/rea", "users/read/all", "Users/Read"] {
            assert!(
                !has_any_joined_scope("users/read", &req(&[other])),
                "{other}"
            );
        }
        assert!(has_any_joined_scope("users/read", &req(&["users/read"])));
    }

    #[test]
    fn header_values_follow_the_spec_rendering() {
        let c = obj(json!({
            "sub": "u1", "n": 5, "b": true, "groups": ["a", "b"], "mixed": ["a", 1, null],
            "empty": [], "nul": null, "address": {"country": "FR"}, "cognito:groups": ["g"],
            "bad": "a\nb", "tab": "a\tb", "del": "a\u{7f}"
        }));
        let v = |n: &str| header_value(&c, n);
        assert_eq!(v("sub").as_deref(), Some("u1"));
        assert_eq!(v("n").as_deref(), Some("5"));
        assert_eq!(v("b").as_deref(), Some("true"));
        assert_eq!(v("groups").as_deref(), Some("a,b"));
        assert_eq!(v("mixed").as_deref(), Some("a,1,null"));
        assert_eq!(v("address").as_deref(), Some(r#"{"country":"FR"}"#));
        assert_eq!(v("address.country").as_deref(), Some("FR"));
        assert_eq!(v("cognito:groups").as_deref(), Some("g"));
        assert_eq!(v("tab").as_deref(), Some("a\tb"));
        for none in ["empty", "nul", "missing", "address.city", "bad", "del"] {
            assert_eq!(v(none), None, "{none}");
        }
    }
}
