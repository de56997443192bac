//! An API's authorization as API Gateway enforces it, whatever file it was read from: its
//! routes, each public, guarded by one authorizer with scopes, or refused (not carried over).

use super::{Place, Problem};

/// REST APIs (`AWS::ApiGateway::*`, `AWS::Serverless::Api`, Swagger) and HTTP APIs
/// (`AWS::ApiGatewayV2::*`, `AWS::Serverless::HttpApi`) differ in their authorizers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Rest,
    Http,
}

impl Flavor {
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Rest => "REST API",
            Flavor::Http => "HTTP API",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Api {
    /// What it is and where: `AWS::Serverless::Api MyApi`.
    pub what: String,
    pub place: Place,
    pub flavor: Flavor,
    pub routes: Vec<Route>,
    pub cors: Option<Cors>,
    /// A resource policy, which cannot be carried over.
    pub policy: Option<Place>,
    /// Mutual TLS on its custom domain, which cannot be carried over.
    pub mtls: Option<Place>,
    /// Said in the output's header and on stderr.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Route {
    /// `GET /pets/{id}`, `ANY /{proxy+}` or `$default`.
    pub key: String,
    /// Where it came from, for its comment.
    pub from: String,
    pub place: Place,
    pub access: Access,
}

#[derive(Clone, Debug)]
pub enum Access {
    Public,
    Guarded {
        authorizer: Authorizer,
        /// Any one is enough; empty requires none.
        scopes: Vec<String>,
    },
    /// Not carried over: an error, or with `--partial` a deny route.
    Refused(Problem),
}

/// One API Gateway authorizer that tokengate can enforce.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Authorizer {
    /// An HTTP API JWT authorizer.
    Jwt {
        name: String,
        issuer: String,
        audience: Vec<String>,
        /// tokengate's `$request.header.X` forms.
        sources: Vec<String>,
    },
    /// A REST API `COGNITO_USER_POOLS` authorizer: any app client of any of its pools.
    Cognito {
        name: String,
        /// Pool ARNs.
        pools: Vec<String>,
        sources: Vec<String>,
    },
}

impl Authorizer {
    pub fn name(&self) -> &str {
        match self {
            Authorizer::Jwt { name, .. } | Authorizer::Cognito { name, .. } => name,
        }
    }
}

/// What a browser may do; API Gateway answers these preflights itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cors {
    pub origins: Vec<String>,
    pub credentials: bool,
    pub expose: Vec<String>,
}

/// The identity source tokengate uses when none is configured.
pub const DEFAULT_SOURCE: &str = "$request.header.Authorization";

/// Checks a route key the way tokengate's config will, so a bad key is reported at its place.
pub fn check_key(key: &str) -> Result<(), String> {
    if key == "$default" {
        return Ok(());
    }
    crate::route::RouteKey::parse(key)
        .map(|_| ())
        .map_err(|e| format!("route `{key}`: {e}"))
}

/// `method.request.header.X` (REST) or `$request.header.X` (HTTP) as tokengate writes it.
pub fn identity_source(text: &str) -> Result<String, String> {
    let text = text.trim();
    for (prefix, kind) in [
        ("method.request.header.", "header"),
        ("method.request.querystring.", "querystring"),
        ("$request.header.", "header"),
        ("$request.querystring.", "querystring"),
        ("$request.cookie.", "cookie"),
    ] {
        if let Some(name) = text.strip_prefix(prefix)
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic())
        {
            return Ok(format!("$request.{kind}.{name}"));
        }
    }
    Err(format!(
        "identity source `{text}` is not a header, query string or cookie tokengate can read"
    ))
}

/// Checks a Cognito user pool ARN: `arn:PARTITION:cognito-idp:REGION:ACCOUNT:userpool/REGION_ID`.
pub fn check_pool_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = match parts.as_slice() {
        ["arn", partition, "cognito-idp", region, account, resource] => {
            let id = resource.strip_prefix("userpool/").unwrap_or("");
            !partition.is_empty()
                && !region.is_empty()
                && !account.is_empty()
                && id
                    .split_once('_')
                    .is_some_and(|(r, rest)| r == *region && !rest.is_empty())
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{arn}` is not a Cognito user pool ARN \
             (arn:aws:cognito-idp:REGION:ACCOUNT:userpool/REGION_ID)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_sources_of_both_flavors_read_alike() {
        assert_eq!(
            identity_source("method.request.header.Authorization").as_deref(),
            Ok("$request.header.Authorization")
        );
        assert_eq!(
            identity_source("$request.querystring.token").as_deref(),
            Ok("$request.querystring.token")
        );
        assert!(identity_source("context.authorizer.x").is_err());
        assert!(identity_source("$request.header.").is_err());
    }

    #[test]
    fn pool_arns_are_checked() {
        assert!(
            check_pool_arn(
                "arn:aws:cognito-idp:eu-west-3:123456789012:userpool/eu-west-3_e5ONyZIM4"
            )
            .is_ok()
        );
        assert!(
            check_pool_arn("arn:aws:cognito-idp:us-east-1:123456789012:userpool/eu-west-3_x")
                .is_err()
        );
        assert!(check_pool_arn("/andmoredev-auth/CognitoUserPoolArn").is_err());
        assert!(check_pool_arn("eu-west-3_e5ONyZIM4").is_err());
    }
}
