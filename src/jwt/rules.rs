//! Claim rules (`claims: {"cognito:groups": [admins]}`): which values a verdict keeps for them,
//! and whether a token meets them. Met when every listed claim holds at least one listed value:
//! a string claim equal to one, or an array claim with a string element equal to one. A
//! missing claim, `null`, or any other type does not meet a rule.

use serde_json::{Map, Value};

use super::claims;
use crate::config::ClaimRule;

/// The values of the claims some rule names, taken from a verified token and kept with its
/// cached verdict, so a cache hit on any route can be judged without the payload.
#[derive(Debug, Default)]
pub struct Held(Box<[Claim]>);

/// A claim's name and its comparable values.
type Claim = (Box<str>, Box<[Box<str>]>);

impl Held {
    /// The comparable values of each claim in `names` that has any.
    pub fn extract(claims: &Map<String, Value>, names: &[String]) -> Held {
        let held = names
            .iter()
            .filter_map(|name| {
                let values: Box<[Box<str>]> = match claims::lookup(claims, name)? {
                    Value::String(s) => Box::new([s.as_str().into()]),
                    Value::Array(items) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(Box::from)
                        .collect(),
                    _ => return None,
                };
                Some((Box::from(name.as_str()), values))
            })
            .collect();
        Held(held)
    }

    /// The kept values of `claim`; empty when it had none.
    pub fn get(&self, claim: &str) -> &[Box<str>] {
        self.0
            .iter()
            .find(|(name, _)| **name == *claim)
            .map_or(&[], |(_, values)| values)
    }
}

/// The first rule the held values do not meet, if any.
pub fn first_unmet<'r>(rules: &'r [ClaimRule], held: &Held) -> Option<&'r ClaimRule> {
    rules.iter().find(|rule| {
        let values = held.get(&rule.claim);
        !values
            .iter()
            .any(|v| rule.values.iter().any(|want| **v == **want))
    })
}

/// Why a token does not meet `rule`, for `tokengate verify`: the claim, the values wanted, and
/// what the token holds under that name (`claims` as verified, when they can be shown).
pub fn explain_unmet(rule: &ClaimRule, claims: Option<&Map<String, Value>>) -> String {
    let wanted = serde_json::to_string(&rule.values).unwrap_or_default();
    let held = match claims.map(|c| claims::lookup(c, &rule.claim)) {
        None => "its value cannot be shown".to_owned(),
        Some(None) => "the token has no such claim".to_owned(),
        Some(Some(v @ (Value::String(_) | Value::Array(_) | Value::Null))) => {
            format!("the token holds {v}")
        }
        Some(Some(v)) => format!("the token holds {v}, neither a string nor an array"),
    };
    format!(
        "claim {:?} must be, or hold, one of {wanted} (exact, case-sensitive); {held}",
        rule.claim
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(claim: &str, values: &[&str]) -> ClaimRule {
        ClaimRule {
            claim: claim.to_owned(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    fn held(claims: Value, names: &[&str]) -> Held {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        match claims {
            Value::Object(map) => Held::extract(&map, &names),
            _ => unreachable!("test claims are objects"),
        }
    }

    #[test]
    fn strings_and_string_elements_meet_a_rule_exactly() {
        let names = [
            "cognito:groups",
            "tenant",
            "org.name",
            "n",
            "nul",
            "missing",
            "bad",
        ];
        let h = held(
            json!({"cognito:groups": ["ops", 5, "admins"], "tenant": "acme", "org": {"name": "x"},
                   "n": 42, "nul": null, "bad": ["ADMINS"]}),
            &names,
        );
        let ok = |r: ClaimRule| first_unmet(std::slice::from_ref(&r), &h).is_none();
        assert!(ok(rule("cognito:groups", &["admins"])));
        assert!(ok(rule("cognito:groups", &["nobody", "ops"])));
        assert!(ok(rule("tenant", &["acme"])));
        assert!(ok(rule("org.name", &["x"])));
        assert!(!ok(rule("tenant", &["Acme"])), "case-sensitive");
        assert!(!ok(rule("n", &["42"])), "a number is not a string");
        assert!(!ok(rule("nul", &["null"])));
        assert!(!ok(rule("missing", &["x"])));
        assert!(!ok(rule("bad", &["admins"])));
        assert!(
            !ok(rule("cognito:groups", &["5"])),
            "non-string elements never match"
        );
    }

    #[test]
    fn every_rule_must_be_met() {
        let h = held(json!({"g": ["a"], "t": "x"}), &["g", "t"]);
        let rules = [rule("g", &["a"]), rule("t", &["y"])];
        assert_eq!(first_unmet(&rules, &h).map(|r| r.claim.as_str()), Some("t"));
        assert!(first_unmet(&rules[..1], &h).is_none());
        assert!(first_unmet(&[], &h).is_none());
    }
}
