//! What every proxy needs from one tokengate config, gathered once for the target writers.

use std::net::SocketAddr;

use super::{CORS_DENIAL, CORS_REQUEST, Target, Warning, reachable, warnings, wrap};
use crate::config::{Config, OriginalRequest};
use crate::jwt::IdentitySource;

/// What every target needs from one config.
pub struct Plan<'c> {
    /// The tokengate config the proxy fronts.
    pub config: &'c Config,
    /// The proxy.
    pub target: Target,
    /// Claim and payload headers tokengate sets, lower-case, in config order, once each.
    pub upstream: Vec<&'c str>,
    /// Each upstream header's name with `_` for `-`: removed whatever tokengate says.
    pub twins: Vec<String>,
    /// Request headers the proxy must pass to tokengate: token headers, `cookie`.
    pub to_authorizer: Vec<&'c str>,
    /// Token headers removed upstream when they carried the token (`strip_token`).
    pub stripped: Vec<&'c str>,
    /// Response headers of a denial that must reach the client, besides status and body.
    pub denial: Vec<&'static str>,
    /// Where the proxy reaches tokengate's gRPC and HTTP listeners.
    pub grpc: SocketAddr,
    /// See `grpc`.
    pub http: SocketAddr,
    /// Settings this target cannot honour.
    pub warnings: Vec<Warning>,
}

impl<'c> Plan<'c> {
    /// Works out the plan for `target`; warnings are collected, refusals come from the writers.
    pub fn new(config: &'c Config, target: Target) -> Plan<'c> {
        let mut upstream: Vec<&str> = Vec::new();
        let mut to_authorizer: Vec<&str> = Vec::new();
        let mut stripped: Vec<&str> = Vec::new();
        let push = |list: &mut Vec<&'c str>, name: &'c str| {
            if !list.contains(&name) {
                list.push(name);
            }
        };
        for a in &config.authorizers {
            for (_, h) in &a.claims_to_headers {
                push(&mut upstream, h);
            }
            if let Some(h) = &a.forward_payload_header {
                push(&mut upstream, h);
            }
            for src in &a.identity_source {
                match src {
                    IdentitySource::Header(h) => {
                        push(&mut to_authorizer, h);
                        if a.strip_token {
                            push(&mut stripped, h);
                        }
                    }
                    IdentitySource::Cookie(_) => push(&mut to_authorizer, "cookie"),
                    IdentitySource::Query(_) => {}
                }
            }
        }
        let mut denial = vec!["content-type", "www-authenticate"];
        if config.cors.is_some() {
            for h in CORS_REQUEST {
                push(&mut to_authorizer, h);
            }
            denial.extend(CORS_DENIAL);
        }
        let twins = upstream
            .iter()
            .filter(|h| h.contains('-'))
            .map(|h| h.replace('-', "_"))
            .collect();
        let warnings = warnings(config)
            .into_iter()
            .filter(|w| w.targets.contains(&target))
            .collect();
        Plan {
            config,
            target,
            upstream,
            twins,
            to_authorizer,
            stripped,
            denial,
            grpc: reachable(config.listen.grpc),
            http: reachable(config.listen.http),
            warnings,
        }
    }

    /// How a comment names where the proxy reaches a listener.
    pub(super) fn reach(&self, listen: SocketAddr, key: &str) -> String {
        let to = reachable(listen);
        if to == listen {
            format!("{to} ({key})")
        } else {
            format!("{to} ({key} is {listen}: replace with tokengate's host)")
        }
    }

    /// The comment lines naming the `original_request` mode this output is made for.
    pub(super) fn mode_note(&self) -> Vec<String> {
        let Some(fit) = self.target.mode() else {
            return Vec::new();
        };
        let mode = self.config.http.original_request;
        let mut lines = vec![format!(
            "tokengate's http.original_request for this proxy: {}",
            fit.as_str()
        )];
        if mode == OriginalRequest::Auto {
            lines.push(format!(
                "(this config has `auto`, which works: this file keeps the other header family \
                 from tokengate; `{}` refuses it outright)",
                fit.as_str()
            ));
        }
        lines
    }

    /// A header comment: what this file is, its placeholders, the mode, the warnings.
    pub(super) fn preamble(&self, what: &str, placeholders: &str, comment: &str) -> String {
        let mut lines = vec![
            what.to_owned(),
            format!(
                "Written by `tokengate proxy-config {}` for a tokengate config; write it again \
                 when that config's headers or identity sources change.",
                self.target
            ),
        ];
        lines.extend(self.mode_note());
        lines.push(placeholders.to_owned());
        for w in &self.warnings {
            lines.push(format!("WARNING {}: {}", w.path, w.message));
        }
        let mut out = String::new();
        for line in lines {
            for wrapped in wrap(&line, 96 - comment.len() - 1) {
                out.push_str(comment);
                out.push(' ');
                out.push_str(&wrapped);
                out.push('\n');
            }
        }
        out
    }
}
