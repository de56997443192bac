//! One authorizer's keys: issuer or Cognito user pool, audience or `any_app_client`, where its
//! keys come from, token rules, claim headers and claim rules.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use marked_yaml::Node;

use super::super::yaml::{Reader, child};
use super::super::{Audience, Authorizer, ClaimRule, DEFAULT_JWKS_REFRESH, Jwks, UserPool, url};
use crate::jwt::{Alg, IdentitySource, TokenUse};

const KEYS: [&str; 16] = [
    "issuer",
    "user_pool",
    "audience",
    "any_app_client",
    "jwks_uri",
    "jwks_file",
    "identity_source",
    "algorithms",
    "token_use",
    "clock_skew",
    "jwks_refresh",
    "claims_to_headers",
    "forward_payload_header",
    "strip_token",
    "claims",
    // Accepted for symmetry with API Gateway's `name`, but must match the map key.
    "name",
];

pub(in crate::config) fn read(
    r: &mut Reader,
    name: &str,
    line: Option<usize>,
    node: &Node,
    path: &str,
) -> Option<Authorizer> {
    let before = r.problems.len();
    if name == crate::decision::NO_AUTHORIZER {
        r.problem_at(
            path,
            line,
            "`none` is reserved (it labels public routes in metrics)",
        );
    } else if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        r.problem_at(
            path,
            line,
            "an authorizer name uses only letters, digits, `_`, `-` and `.`",
        );
    }
    let m = r.mapping(node, path, &KEYS);
    if m.is_none() {
        r.problem_at(
            path,
            line,
            "an authorizer needs `issuer` (or `user_pool`) and `audience`",
        );
        return None;
    }
    let at = |key: &str| child(path, key);

    if let Some(n) = Reader::get(m, "name")
        && r.string(n, &at("name")).is_some_and(|v| v != name)
    {
        r.problem(&at("name"), Some(n), "must equal the authorizer's key");
    }

    let issuer_node = Reader::get(m, "issuer");
    let pool_node = Reader::get(m, "user_pool");
    let (issuer, pool) = match (issuer_node, pool_node) {
        (Some(_), Some(n)) => {
            r.problem(
                &at("user_pool"),
                Some(n),
                "`issuer` and `user_pool` name the same thing: give one",
            );
            (None, None)
        }
        (Some(n), None) => {
            let issuer = r
                .string(n, &at("issuer"))
                .inspect(|u| url::check(r, u, &at("issuer"), n));
            (issuer, None)
        }
        (None, Some(n)) => {
            let pool = r.string(n, &at("user_pool")).and_then(|text| {
                parse_pool(&text)
                    .map_err(|e| r.problem(&at("user_pool"), Some(n), e))
                    .ok()
            });
            (pool.as_ref().map(|p| p.issuers()[0].clone()), pool)
        }
        (None, None) => {
            r.problem_at(
                &at("issuer"),
                line,
                "required: the exact `iss` of the tokens (or `user_pool` for a Cognito pool)",
            );
            (None, None)
        }
    };

    let any_app_client = Reader::get(m, "any_app_client")
        .and_then(|n| r.bool(n, &at("any_app_client")).map(|b| (n, b)));
    let audience = match (Reader::get(m, "audience"), any_app_client) {
        (Some(n), Some((_, true))) => {
            r.problem(
                &at("audience"),
                Some(n),
                "`any_app_client: true` takes any app client: remove `audience`, or the flag",
            );
            Audience::AnyAppClient
        }
        (_, Some((n, true))) => {
            if pool_node.is_none() {
                r.problem(
                    &at("any_app_client"),
                    Some(n),
                    "only with `user_pool`: any app client of that pool",
                );
            }
            Audience::AnyAppClient
        }
        (Some(n), _) => {
            let list = r.strings(n, &at("audience")).unwrap_or_default();
            if list.is_empty() || list.iter().any(String::is_empty) {
                r.problem(
                    &at("audience"),
                    Some(n),
                    "must list at least one non-empty audience",
                );
            }
            Audience::Clients(list)
        }
        (None, _) => {
            r.problem_at(
                &at("audience"),
                line,
                "required: the audiences (`aud`) or app client ids (`client_id`) accepted",
            );
            Audience::Clients(Vec::new())
        }
    };

    let jwks_uri = Reader::get(m, "jwks_uri").and_then(|n| {
        r.string(n, &at("jwks_uri"))
            .inspect(|u| url::check(r, u, &at("jwks_uri"), n))
    });
    let jwks_file = Reader::get(m, "jwks_file").and_then(|n| {
        let file = r.string(n, &at("jwks_file"))?;
        if file.is_empty() {
            r.problem(&at("jwks_file"), Some(n), "must name a file");
        }
        if jwks_uri.is_some() {
            r.problem(
                &at("jwks_file"),
                Some(n),
                "`jwks_uri` and `jwks_file` both say where the keys are: give one",
            );
        }
        Some(PathBuf::from(file))
    });
    let jwks = match (jwks_file, jwks_uri, &pool) {
        (Some(file), _, _) => Jwks::File(file),
        (None, Some(uri), _) => Jwks::Url(uri),
        (None, None, Some(pool)) => Jwks::Url(pool.jwks_url()),
        (None, None, None) => Jwks::Discover,
    };

    let mut identity_source = vec![IdentitySource::default()];
    if let Some(n) = Reader::get(m, "identity_source") {
        let p = at("identity_source");
        let list = r.strings(n, &p).unwrap_or_default();
        if list.is_empty() {
            r.problem(&p, Some(n), "must list at least one source");
        }
        identity_source = list
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.parse() {
                Ok(src) => Some(src),
                Err(e) => {
                    r.problem(&format!("{p}[{i}]"), Some(n), format!("{e}"));
                    None
                }
            })
            .collect();
    }

    let mut algorithms = Alg::DEFAULT.to_vec();
    if let Some(n) = Reader::get(m, "algorithms") {
        let p = at("algorithms");
        let list = r.strings(n, &p).unwrap_or_default();
        if list.is_empty() {
            r.problem(&p, Some(n), "must list at least one algorithm");
        }
        algorithms.clear();
        for (i, a) in list.iter().enumerate() {
            match a.parse::<Alg>() {
                Ok(alg) if !algorithms.contains(&alg) => algorithms.push(alg),
                Ok(_) => {}
                Err(e) => r.problem(&format!("{p}[{i}]"), Some(n), e.to_string()),
            }
        }
    }

    let token_use = Reader::get(m, "token_use").and_then(|n| {
        let s = r.string(n, &at("token_use"))?;
        match s.as_str() {
            "access" => Some(TokenUse::Access),
            "id" => Some(TokenUse::Id),
            _ => {
                r.problem(&at("token_use"), Some(n), "must be `access` or `id`");
                None
            }
        }
    });

    let clock_skew = Reader::get(m, "clock_skew")
        .and_then(|n| r.duration(n, &at("clock_skew")))
        .unwrap_or_default();

    let jwks_refresh = match Reader::get(m, "jwks_refresh") {
        Some(n) => {
            let d = r.duration(n, &at("jwks_refresh"));
            if d.is_some_and(|d| d < Duration::from_secs(1)) {
                r.problem(&at("jwks_refresh"), Some(n), "must be at least 1s");
            }
            d.unwrap_or(DEFAULT_JWKS_REFRESH)
        }
        None => DEFAULT_JWKS_REFRESH,
    };

    let mut claims_to_headers = Vec::new();
    let mut headers_seen = HashSet::new();
    if let Some(n) = Reader::get(m, "claims_to_headers") {
        let p = at("claims_to_headers");
        for (claim, _, hn) in r.entries(n, &p) {
            let hp = child(&p, claim);
            if claim.is_empty() {
                r.problem(&hp, Some(hn), "claim name must not be empty");
            }
            if let Some(h) = r.string(hn, &hp).and_then(|h| check_header(r, &h, &hp, hn)) {
                if !headers_seen.insert(h.clone()) {
                    r.problem(&hp, Some(hn), format!("header `{h}` is set by two claims"));
                }
                claims_to_headers.push((claim.to_owned(), h));
            }
        }
    }

    let forward_payload_header = Reader::get(m, "forward_payload_header").and_then(|n| {
        let p = at("forward_payload_header");
        let h = r.string(n, &p).and_then(|h| check_header(r, &h, &p, n))?;
        if headers_seen.contains(&h) {
            r.problem(&p, Some(n), format!("header `{h}` is also set by a claim"));
        }
        Some(h)
    });

    let strip_token = Reader::get(m, "strip_token")
        .and_then(|n| r.bool(n, &at("strip_token")))
        .unwrap_or(false);

    let claims = Reader::get(m, "claims")
        .map(|n| claim_rules(r, n, &at("claims")))
        .unwrap_or_default();

    if r.problems.len() > before {
        return None;
    }
    Some(Authorizer {
        name: name.to_owned(),
        issuer: issuer?,
        pool,
        audience,
        jwks,
        identity_source,
        algorithms,
        token_use,
        clock_skew,
        jwks_refresh,
        claims_to_headers,
        forward_payload_header,
        strip_token,
        claims,
    })
}

/// `{claim: [values]}`: each claim needs at least one non-empty value.
pub(in crate::config) fn claim_rules(r: &mut Reader, node: &Node, path: &str) -> Vec<ClaimRule> {
    let mut rules = Vec::new();
    for (claim, line, values) in r.entries(node, path) {
        let p = child(path, claim);
        if claim.is_empty() {
            r.problem_at(&p, line, "claim name must not be empty");
        }
        let values = r.strings(values, &p).unwrap_or_default();
        if values.is_empty() || values.iter().any(String::is_empty) {
            r.problem_at(
                &p,
                line,
                "list the values the claim may take (at least one)",
            );
        }
        rules.push(ClaimRule {
            claim: claim.to_owned(),
            values,
        });
    }
    rules
}

/// A pool id (`eu-west-3_e5ONyZIM4`) or ARN
/// (`arn:aws:cognito-idp:eu-west-3:123456789012:userpool/eu-west-3_e5ONyZIM4`).
pub fn parse_pool(text: &str) -> Result<UserPool, String> {
    let (id, arn) = match text.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, service, region, _account, resource] = parts[..] else {
                return Err(format!(
                    "`{text}` is not a user pool ARN (arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID)"
                ));
            };
            let Some(id) = resource.strip_prefix("userpool/") else {
                return Err(format!(
                    "`{text}` is not a user pool ARN (its resource is `userpool/POOL_ID`)"
                ));
            };
            if service != "cognito-idp" {
                return Err(format!(
                    "`{text}` is an ARN of `{service}`, not of `cognito-idp`"
                ));
            }
            (id, Some((partition, region)))
        }
        None => (text, None),
    };
    let Some((region, rest)) = id.split_once('_') else {
        return Err(format!(
            "`{id}` is not a user pool id (REGION_ID, e.g. eu-west-3_e5ONyZIM4)"
        ));
    };
    let region_ok = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !region_ok || rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "`{id}` is not a user pool id (REGION_ID, e.g. eu-west-3_e5ONyZIM4)"
        ));
    }
    let domain = match arn {
        Some((partition, arn_region)) => {
            if arn_region != region {
                return Err(format!(
                    "the ARN's region `{arn_region}` disagrees with the pool id's `{region}`"
                ));
            }
            match partition {
                "aws" | "aws-us-gov" => "amazonaws.com",
                "aws-cn" => "amazonaws.com.cn",
                other => return Err(format!("unknown AWS partition `{other}`")),
            }
        }
        None if region.starts_with("cn-") => "amazonaws.com.cn",
        None => "amazonaws.com",
    };
    Ok(UserPool {
        region: region.to_owned(),
        id: id.to_owned(),
        domain: domain.to_owned(),
    })
}

/// A valid header name, lower-cased; pseudo-headers and hop-by-hop names are refused.
fn check_header(r: &mut Reader, name: &str, path: &str, node: &Node) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
        r.problem(
            path,
            Some(node),
            format!("`{name}` is not a valid header name"),
        );
        return None;
    }
    if matches!(
        lower.as_str(),
        "host" | "connection" | "content-length" | "transfer-encoding" | "te" | "upgrade"
    ) {
        r.problem(path, Some(node), format!("`{name}` cannot carry a claim"));
        return None;
    }
    Some(lower)
}
