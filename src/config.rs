//! The YAML configuration: parse → validate → checked [`Config`].
//!
//! Validation reports every problem at once, each with its YAML path and line, so an operator
//! fixes a file in one pass. The checked types hold only values that are known to be usable.

mod duplicates;
mod read;
mod summary;
pub mod url;
mod yaml;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use marked_yaml::LoaderOptions;

use crate::jwt::{Alg, IdentitySource, TokenUse};
pub use crate::limits::Limits;
pub use crate::request::checks::Paths;
use crate::route::RouteKey;
pub use read::parse_pool;
pub use summary::{summary, warnings};

/// One thing wrong with a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// YAML path, e.g. `authorizers.cognito.issuer` or `routes["GET /x"].scopes`.
    pub path: String,
    /// 1-based line in the file, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong, for the operator.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} (line {line}): {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// Every problem found, in file order.
    #[error("{}", Problems(.0))]
    Invalid(Vec<Problem>),
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} error{} in config", if n == 1 { "" } else { "s" })?;
        for p in self.0 {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// A checked configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The three listeners' addresses.
    pub listen: Listen,
    /// The HTTP authorizer's settings.
    pub http: Http,
    /// How request paths are checked before routing.
    pub paths: Paths,
    /// The verified-token cache.
    pub cache: Cache,
    /// In file order.
    pub authorizers: Vec<Authorizer>,
    /// Revoked tokens, when a `revocation` file is configured.
    pub revocation: Option<Revocation>,
    /// In file order; `$default` has no parsed key.
    pub routes: Vec<Route>,
    /// What one client may hold of a listener (applied at start; a reload keeps the running
    /// listeners' limits).
    pub limits: Limits,
    /// Browsers: preflights and readable denials; `None` changes nothing.
    pub cors: Option<Cors>,
}

/// The `cors` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cors {
    /// Exact origins (`https://app.example.com`), or `*` alone (never with credentials).
    pub allow_origins: Vec<String>,
    /// Whether denials tell the browser it may send credentials (`Access-Control-Allow-Credentials`).
    pub allow_credentials: bool,
    /// Response headers a script may read on a denial. Defaults to `[www-authenticate]`.
    pub expose_headers: Vec<String>,
}

impl Cors {
    /// `allow_origins: ["*"]`.
    pub fn any_origin(&self) -> bool {
        self.allow_origins.iter().any(|o| o == "*")
    }
}

/// Where the three listeners bind (`listen`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// `envoy.service.auth.v3.Authorization/Check`, health and reflection.
    pub grpc: SocketAddr,
    /// The HTTP authorizer (nginx `auth_request`, Envoy's HTTP mode).
    pub http: SocketAddr,
    /// `/metrics`, `/healthz` and `/readyz`.
    pub admin: SocketAddr,
}

/// The HTTP authorizer's settings (`http`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Http {
    /// Stripped from the HTTP authorizer's own request line (Envoy HTTP mode).
    pub path_prefix: String,
    /// Where the HTTP authorizer finds the request it judges.
    pub original_request: OriginalRequest,
}

/// Where the HTTP authorizer finds the original request (`http.original_request`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OriginalRequest {
    /// `X-Original-*` if either is present, else `X-Forwarded-Method`/`-Uri`, else the request
    /// line; both families at once is a bad request.
    #[default]
    Auto,
    /// `X-Original-URI` (required) and `X-Original-Method` (nginx `auth_request`).
    Nginx,
    /// `X-Forwarded-Uri` (required) and `X-Forwarded-Method` (Traefik, Caddy).
    Forwarded,
    /// The request line, less `path_prefix` (Envoy's HTTP service mode).
    RequestLine,
}

impl OriginalRequest {
    /// The name used in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            OriginalRequest::Auto => "auto",
            OriginalRequest::Nginx => "nginx",
            OriginalRequest::Forwarded => "forwarded",
            OriginalRequest::RequestLine => "request_line",
        }
    }
}

/// The verified-token cache (`cache`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cache {
    /// Verified tokens kept at most; 0 turns the cache off. Defaults to 100 000.
    pub tokens: u64,
    /// A cached verdict is re-verified at least this often. Defaults to 10 minutes.
    pub max_ttl: Duration,
}

/// One issuer's rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Authorizer {
    /// The key under `authorizers`: used by routes, logs and metric labels.
    pub name: String,
    /// Compared with `iss` exactly (for a user pool, its "original" issuer form).
    pub issuer: String,
    /// Set when the authorizer names a Cognito user pool: `iss` may be either of its forms.
    pub pool: Option<UserPool>,
    /// Which clients a token must be for.
    pub audience: Audience,
    /// Where the keys come from.
    pub jwks: Jwks,
    /// Where the token is looked for, first present wins. Defaults to the `Authorization` header.
    pub identity_source: Vec<IdentitySource>,
    /// Defaults to every asymmetric algorithm tokengate supports.
    pub algorithms: Vec<Alg>,
    /// Cognito's `token_use` claim, required to match when set.
    pub token_use: Option<TokenUse>,
    /// Leeway for `exp`, `nbf` and `iat`. Defaults to 0.
    pub clock_skew: Duration,
    /// How often the JWKS is fetched again. Defaults to 15 minutes.
    pub jwks_refresh: Duration,
    /// `(claim, header)` in file order.
    pub claims_to_headers: Vec<(String, String)>,
    /// A header that carries the verified payload, base64url, when set.
    pub forward_payload_header: Option<String>,
    /// Whether the token's header is removed before the request goes upstream.
    pub strip_token: bool,
    /// Claim rules every route of this authorizer requires.
    pub claims: Vec<ClaimRule>,
}

impl Authorizer {
    /// Whether `iss` names this authorizer's issuer (either form, for a user pool).
    pub fn accepts_issuer(&self, iss: &str) -> bool {
        match &self.pool {
            Some(pool) => pool.issuers().iter().any(|i| i == iss),
            None => self.issuer == iss,
        }
    }
}

/// Whose tokens an authorizer takes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// `aud` must hold one, or, without `aud`, `client_id` must be one. Never empty.
    Clients(Vec<String>),
    /// Any app client of the user pool (`any_app_client: true`): API Gateway's REST Cognito
    /// authorizer rule. Only with `user_pool`.
    AnyAppClient,
}

/// Where an authorizer's keys come from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Jwks {
    /// OIDC discovery from the issuer, else `issuer/.well-known/jwks.json`.
    Discover,
    /// This JWK Set URL.
    Url(String),
    /// A local JWK Set file (`jwks_file`).
    File(PathBuf),
}

/// A Cognito user pool, as the console, SAM and CloudFormation name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserPool {
    /// `eu-west-3`.
    pub region: String,
    /// `eu-west-3_e5ONyZIM4`.
    pub id: String,
    /// `amazonaws.com`, or `amazonaws.com.cn` in the China partition.
    pub domain: String,
}

impl UserPool {
    /// Cognito's two issuer forms: "original" (`cognito-idp.…`) and "updated"
    /// (`issuer-cognito-idp.…`).
    pub fn issuers(&self) -> [String; 2] {
        let (region, domain, id) = (&self.region, &self.domain, &self.id);
        [
            format!("https://cognito-idp.{region}.{domain}/{id}"),
            format!("https://issuer-cognito-idp.{region}.{domain}/{id}"),
        ]
    }

    /// The pool's JWK Set.
    pub fn jwks_url(&self) -> String {
        let (region, domain, id) = (&self.region, &self.domain, &self.id);
        format!("https://cognito-idp.{region}.{domain}/{id}/.well-known/jwks.json")
    }
}

/// A claim and the values it may take: met when the claim (a string, or an array with a string
/// element) equals one of them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClaimRule {
    /// The claim's name, as in the payload (`cognito:groups`).
    pub claim: String,
    /// Never empty.
    pub values: Vec<String>,
}

/// One entry of `routes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// As written: `GET /users/{userId}` or `$default`.
    pub key: String,
    /// `None` for `$default`.
    pub parsed: Option<RouteKey>,
    /// What the route asks of a request.
    pub rule: Rule,
}

/// What a route asks of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// No token needed.
    Public,
    /// Always denied (403, `no_route`).
    Deny,
    /// A valid token from one of the authorizers, holding one of the scopes.
    Protected {
        /// One or more authorizer names; with several, `iss` picks.
        authorizers: Vec<String>,
        /// Any one of these is enough; empty requires none.
        scopes: Vec<String>,
        /// Claim rules added to the authorizer's.
        claims: Vec<ClaimRule>,
    },
}

/// A list of revoked tokens (`revocation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The file the list is read from.
    pub file: PathBuf,
    /// How often the file's modification time and size are checked. Defaults to 10 s.
    pub refresh: Duration,
    /// The list as read when the config was loaded.
    pub list: std::sync::Arc<crate::revocation::List>,
}

/// Where the gRPC listener binds unless configured.
pub const DEFAULT_GRPC: &str = "127.0.0.1:9191";
/// Where the HTTP authorizer binds unless configured.
pub const DEFAULT_HTTP: &str = "127.0.0.1:9192";
/// Where the admin listener binds unless configured.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9090";

impl Default for Listen {
    fn default() -> Self {
        let parse = |s: &str| s.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
        Listen {
            grpc: parse(DEFAULT_GRPC),
            http: parse(DEFAULT_HTTP),
            admin: parse(DEFAULT_ADMIN),
        }
    }
}

/// Default JWKS refresh period.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(15 * 60);

impl Default for Cache {
    fn default() -> Self {
        Cache {
            tokens: 100_000,
            max_ttl: Duration::from_secs(600),
        }
    }
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text)
    }

    /// Checks config text, reporting every problem, duplicate keys included, in file order.
    pub fn parse(text: &str) -> Result<Config, Error> {
        let root = marked_yaml::parse_yaml_with_options(0, text, LoaderOptions::default())
            .map_err(|e| Error::Invalid(vec![read::load_problem(&e)]))?;
        let (config, mut problems) = read::config(&root);
        problems.extend(duplicates::find(text));
        if problems.is_empty() {
            Ok(config)
        } else {
            problems.sort_by_key(|p| p.line.unwrap_or(0));
            Err(Error::Invalid(problems))
        }
    }

    /// The authorizer called `name`, if the config has one.
    pub fn authorizer(&self, name: &str) -> Option<&Authorizer> {
        self.authorizers.iter().find(|a| a.name == name)
    }
}

#[cfg(test)]
mod tests;
