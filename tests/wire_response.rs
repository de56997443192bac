//! The byte-level `CheckResponse` writer (`tokengate::wire::response`) against the prost-built
//! response of `server::grpc::response`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use prost::Message;
use serde_json::json;
use tokengate::decision::{Claims, Decision, NO_AUTHORIZER, Reason};
use tokengate::pb::auth::CheckResponse;
use tokengate::server::grpc::response;
use tokengate::wire::{self, Allow};

fn assert_same(d: &Decision) {
    let ours = wire::response::encode(d);
    let theirs = response(d);
    assert_eq!(CheckResponse::decode(&ours[..]).unwrap(), theirs, "{d:?}");
    assert_eq!(&ours[..], &theirs.encode_to_vec()[..], "bytes of {d:?}");
}

fn claims(size: usize) -> Claims {
    let value = json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "exp": 1.7e9, "iat": 1_700_000_000,
        "scope": "users/read admin", "aud": ["a", "b"], "admin": true, "none": null,
        "address": {"country": "FR", "city": "Évry"}, "": "empty name", "zero": 0, "neg": -0.5,
        "pad": "x".repeat(size),
    });
    Claims::new(value.as_object().unwrap())
}

fn decision(reason: Reason) -> Decision {
    Decision {
        reason,
        authorizer: Arc::from("cognito"),
        route: Some(Arc::from("GET /users/{id}")),
        scopes: Arc::from([]),
        set_headers: Arc::from([]),
        remove_headers: Vec::new(),
        remove_query: Vec::new(),
        claims: None,
    }
}

fn strings(items: &[&str]) -> Vec<Arc<str>> {
    items.iter().map(|s| Arc::from(*s)).collect()
}

#[test]
fn every_denial_is_the_prost_response_byte_for_byte() {
    for reason in Reason::ALL.into_iter().filter(|r| !r.is_allow()) {
        for scopes in [&[][..], &["users/read"], &["users/read", "admin"]] {
            let d = Decision {
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                // What a denial never sends, to show it is not sent.
                remove_headers: strings(&["x-user-id"]),
                claims: Some(claims(0)),
                ..decision(reason)
            };
            assert_same(&d);
        }
    }
}

#[test]
fn every_allow_is_the_prost_response_byte_for_byte() {
    let long = "v".repeat(300);
    let set_headers: [&[(&str, &str)]; 4] = [
        &[],
        &[("x-user-id", "user-1")],
        &[("x-user-id", "user-1"), ("x-empty", ""), ("x-long", &long)],
        &[("", "nameless")],
    ];
    let removals = [&[][..], &["x-user-id", "x_user_id", "authorization"], &[""]];
    let queries = [&[][..], &["access_token"]];
    let routes = [None, Some(""), Some("GET /users/{id}")];
    let claim_sets = [None, Some(claims(0)), Some(claims(20_000))];
    let mut n = 0;
    for reason in [Reason::Verified, Reason::Public] {
        for authorizer in ["cognito", NO_AUTHORIZER, ""] {
            for set in set_headers {
                for remove in removals {
                    for query in queries {
                        for route in routes {
                            for claims in &claim_sets {
                                let d = Decision {
                                    authorizer: Arc::from(authorizer),
                                    route: route.map(Arc::from),
                                    set_headers: set
                                        .iter()
                                        .map(|(k, v)| (Arc::from(*k), (*v).to_owned()))
                                        .collect(),
                                    remove_headers: strings(remove),
                                    remove_query: strings(query),
                                    claims: claims.clone(),
                                    ..decision(reason)
                                };
                                assert_same(&d);
                                n += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(n, 2 * 3 * 4 * 3 * 2 * 3 * 3);
}

#[test]
fn one_allow_serves_every_request_of_its_verdict() {
    let claims = claims(40);
    let set = [("x-user-id", "user-1"), ("x-jwt-payload", "e30")];
    let allow = Allow::new("cognito", set, Some(claims.as_bytes()));
    for (remove, query, route) in [
        (&["x-user-id"][..], &[][..], Some("GET /a")),
        (
            &["authorization", "x_user_id"],
            &["token"],
            Some("ANY /{proxy+}"),
        ),
        (&[], &[], None),
    ] {
        let bytes = allow.to_bytes(remove, query, route);
        assert_eq!(bytes.len(), allow.encoded_len(remove, query, route));
        let d = Decision {
            route: route.map(Arc::from),
            set_headers: set
                .iter()
                .map(|(k, v)| (Arc::from(*k), (*v).to_owned()))
                .collect(),
            remove_headers: strings(remove),
            remove_query: strings(query),
            claims: Some(claims.clone()),
            ..decision(Reason::Verified)
        };
        assert_eq!(&bytes[..], &response(&d).encode_to_vec()[..]);
    }
}
