//! The fixture corpus of `tests/fixtures/import/` as a table: how each fixture is imported,
//! what `tokengate import` must answer, and the requests whose decisions API Gateway makes
//! (run against the served imported configs by `tests/import_serve`).
//!
//! Included with `#[path]` by `tests/import.rs` and `tests/import_serve/main.rs`.

use std::process::{Command, Output};

pub const DIR: &str = "tests/fixtures/import";

/// Who signed a token.
#[derive(Clone, Copy, Debug)]
pub enum Iss {
    /// A Cognito pool by id: `iss` is `https://cognito-idp.REGION.amazonaws.com/ID`.
    Pool(&'static str),
    /// Any other issuer URL.
    Url(&'static str),
}

/// The token a request carries.
#[derive(Clone, Copy, Debug)]
pub enum Token {
    None,
    /// Cognito's access token: `client_id`, `token_use: access`, `scope`, no `aud`.
    Access {
        iss: Iss,
        client: &'static str,
        scopes: &'static [&'static str],
    },
    /// Cognito's ID token: `aud` is the client, `token_use: id`, no scopes.
    Id {
        iss: Iss,
        client: &'static str,
    },
}

/// What API Gateway answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Allow,
    /// 401: no token, or one the authorizer refuses.
    Unauthorized,
    /// 403: missing scope, no route, or a method that is not there.
    Forbidden,
}

/// One request and API Gateway's decision.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub method: &'static str,
    pub path: &'static str,
    pub header: &'static str,
    pub token: Token,
    pub expect: Expect,
}

const fn case(method: &'static str, path: &'static str, token: Token, expect: Expect) -> Case {
    Case {
        method,
        path,
        header: "Authorization",
        token,
        expect,
    }
}

const fn case_in(
    header: &'static str,
    method: &'static str,
    path: &'static str,
    token: Token,
    expect: Expect,
) -> Case {
    Case {
        method,
        path,
        header,
        token,
        expect,
    }
}

/// A fixture, how it is imported, and what follows.
pub struct Fixture {
    pub file: &'static str,
    pub args: &'static [&'static str],
    /// `Err`: fragments the error must hold (exit 1).
    pub outcome: Result<(), &'static [&'static str]>,
    pub cases: &'static [Case],
}

use Expect::{Allow, Forbidden, Unauthorized};

const ECHO: Iss = Iss::Pool("us-east-1_Ab12Cd34E");
const SHOP: Iss = Iss::Pool("eu-west-3_ShopPool01");
const PARTNER: Iss = Iss::Pool("eu-west-3_Partner9Z");
const PETS_C: Iss = Iss::Pool("eu-central-1_Cust00001");
const PETS_S: Iss = Iss::Pool("eu-central-1_Staff0001");
const TASKS: Iss = Iss::Pool("eu-west-1_Tasks0001");
const INVENTORY: Iss = Iss::Pool("eu-west-2_Invent001");
const BILLING: Iss = Iss::Pool("us-east-2_Billing01");
const MEDIA: Iss = Iss::Pool("ca-central-1_Media0001");
const CLINIC: Iss = Iss::Pool("sa-east-1_Clinic001");
const OTHER: Iss = Iss::Pool("eu-west-3_Other0001");
const TRACKER: Iss = Iss::Pool("us-east-1_Trk4Parcl");

pub const FIXTURES: &[Fixture] = &[
    Fixture {
        file: "sam_rest_ssm_scopes.yaml",
        args: &[
            "--parameter",
            "CognitoUserPoolArn=arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Ab12Cd34E",
        ],
        outcome: Ok(()),
        cases: &[
            case("POST", "/echo", Token::None, Unauthorized),
            case(
                "POST",
                "/echo",
                Token::Access {
                    iss: ECHO,
                    client: "m2m",
                    scopes: &["echo-service/echo"],
                },
                Allow,
            ),
            case(
                "POST",
                "/echo",
                Token::Access {
                    iss: ECHO,
                    client: "m2m",
                    scopes: &["other/x"],
                },
                Forbidden,
            ),
            case(
                "POST",
                "/echo",
                Token::Id {
                    iss: ECHO,
                    client: "web",
                },
                Forbidden,
            ),
            case(
                "POST",
                "/echo",
                Token::Access {
                    iss: OTHER,
                    client: "m2m",
                    scopes: &["echo-service/echo"],
                },
                Unauthorized,
            ),
            case("GET", "/health", Token::None, Allow),
            case(
                "GET",
                "/me",
                Token::Id {
                    iss: ECHO,
                    client: "web",
                },
                Allow,
            ),
            case(
                "GET",
                "/me",
                Token::Access {
                    iss: ECHO,
                    client: "m2m",
                    scopes: &["echo-service/echo"],
                },
                Unauthorized,
            ),
            case(
                "GET",
                "/echo",
                Token::Access {
                    iss: ECHO,
                    client: "m2m",
                    scopes: &["echo-service/echo"],
                },
                Forbidden,
            ),
        ],
    },
    Fixture {
        file: "sam_rest_ssm_scopes.yaml",
        args: &[],
        outcome: Err(&[
            "sam_rest_ssm_scopes.yaml:25",
            "UserPoolArn",
            "SSM-typed",
            "--parameter CognitoUserPoolArn=VALUE",
        ]),
        cases: &[],
    },
    Fixture {
        file: "sam_rest_implicit_globals.yaml",
        args: &[
            "--parameter",
            "ShopPool.Arn=arn:aws:cognito-idp:eu-west-3:111122223333:userpool/eu-west-3_ShopPool01",
            "--parameter",
            "AWS::Region=eu-west-3",
            "--parameter",
            "AWS::AccountId=111122223333",
        ],
        outcome: Ok(()),
        cases: &[
            case_in(
                "X-Shop-Token",
                "GET",
                "/products",
                Token::Access {
                    iss: SHOP,
                    client: "a",
                    scopes: &["shop/read"],
                },
                Allow,
            ),
            case_in(
                "X-Shop-Token",
                "GET",
                "/products",
                Token::Access {
                    iss: PARTNER,
                    client: "b",
                    scopes: &["shop/read"],
                },
                Allow,
            ),
            case_in(
                "X-Shop-Token",
                "GET",
                "/products",
                Token::Id {
                    iss: SHOP,
                    client: "a",
                },
                Forbidden,
            ),
            case(
                "GET",
                "/products",
                Token::Access {
                    iss: SHOP,
                    client: "a",
                    scopes: &["shop/read"],
                },
                Unauthorized,
            ),
            case_in(
                "X-Shop-Token",
                "PUT",
                "/products/42",
                Token::Access {
                    iss: SHOP,
                    client: "a",
                    scopes: &["shop/read"],
                },
                Forbidden,
            ),
            case_in(
                "X-Shop-Token",
                "PUT",
                "/products/42",
                Token::Access {
                    iss: PARTNER,
                    client: "b",
                    scopes: &["shop/admin"],
                },
                Allow,
            ),
            case_in(
                "X-Shop-Token",
                "DELETE",
                "/files/a/b",
                Token::Access {
                    iss: SHOP,
                    client: "a",
                    scopes: &["shop/read"],
                },
                Allow,
            ),
            case("GET", "/status", Token::None, Allow),
            case("OPTIONS", "/products", Token::None, Allow),
            case("GET", "/nothing", Token::None, Forbidden),
        ],
    },
    Fixture {
        file: "sam_rest_cors_guarded_preflight.yaml",
        args: &[],
        outcome: Ok(()),
        cases: &[
            case("OPTIONS", "/notes", Token::None, Unauthorized),
            case(
                "GET",
                "/notes",
                Token::Id {
                    iss: Iss::Pool("us-west-2_NotesPool1"),
                    client: "web",
                },
                Allow,
            ),
            case(
                "GET",
                "/notes",
                Token::Access {
                    iss: Iss::Pool("us-west-2_NotesPool1"),
                    client: "web",
                    scopes: &["x"],
                },
                Unauthorized,
            ),
        ],
    },
    Fixture {
        file: "sam_rest_inline_body.yaml",
        args: &[
            "--parameter",
            "PoolArn=arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_Orders001",
        ],
        outcome: Ok(()),
        cases: &[
            case("GET", "/orders", Token::None, Unauthorized),
            case(
                "GET",
                "/orders",
                Token::Access {
                    iss: Iss::Pool("us-east-1_Orders001"),
                    client: "c",
                    scopes: &["orders/read"],
                },
                Allow,
            ),
            case(
                "POST",
                "/orders",
                Token::Access {
                    iss: Iss::Pool("us-east-1_Orders001"),
                    client: "c",
                    scopes: &["orders/read"],
                },
                Forbidden,
            ),
            case("GET", "/orders/7", Token::None, Allow),
            case("GET", "/ping", Token::None, Allow),
        ],
    },
    Fixture {
        file: "sam_rest_include.yaml",
        args: &[],
        outcome: Ok(()),
        cases: &[
            case(
                "GET",
                "/books",
                Token::Id {
                    iss: Iss::Pool("ap-southeast-2_Inc1uded9"),
                    client: "w",
                },
                Allow,
            ),
            case(
                "POST",
                "/books",
                Token::Access {
                    iss: Iss::Pool("ap-southeast-2_Inc1uded9"),
                    client: "w",
                    scopes: &["library/write"],
                },
                Allow,
            ),
            case(
                "POST",
                "/books",
                Token::Id {
                    iss: Iss::Pool("ap-southeast-2_Inc1uded9"),
                    client: "w",
                },
                Forbidden,
            ),
        ],
    },
    Fixture {
        file: "sam_http_explicit.yaml",
        args: &[
            "--parameter",
            "UserPoolId=eu-west-1_Tasks0001",
            "--parameter",
            "AppClientId=4tasksclient0example",
            "--parameter",
            "AWS::Region=eu-west-1",
        ],
        outcome: Ok(()),
        cases: &[
            case(
                "GET",
                "/tasks",
                Token::Access {
                    iss: TASKS,
                    client: "4tasksclient0example",
                    scopes: &["tasks/read"],
                },
                Allow,
            ),
            case(
                "GET",
                "/tasks",
                Token::Access {
                    iss: TASKS,
                    client: "another-client",
                    scopes: &["tasks/read"],
                },
                Unauthorized,
            ),
            case(
                "GET",
                "/tasks",
                Token::Id {
                    iss: TASKS,
                    client: "4tasksclient0example",
                },
                Forbidden,
            ),
            case(
                "POST",
                "/tasks",
                Token::Access {
                    iss: TASKS,
                    client: "4tasksclient0example",
                    scopes: &["tasks/read"],
                },
                Forbidden,
            ),
            case(
                "POST",
                "/tasks",
                Token::Access {
                    iss: TASKS,
                    client: "4tasksclient0example",
                    scopes: &["tasks/write"],
                },
                Allow,
            ),
            case(
                "GET",
                "/tasks/9",
                Token::Access {
                    iss: TASKS,
                    client: "4tasksclient0example",
                    scopes: &["tasks/write"],
                },
                Forbidden,
            ),
            case("GET", "/health", Token::None, Allow),
            case(
                "PATCH",
                "/anything/else",
                Token::Id {
                    iss: TASKS,
                    client: "4tasksclient0example",
                },
                Forbidden,
            ),
            case(
                "PATCH",
                "/anything/else",
                Token::Access {
                    iss: TASKS,
                    client: "4tasksclient0example",
                    scopes: &["tasks/read"],
                },
                Allow,
            ),
        ],
    },
    Fixture {
        file: "sam_several_apis.yaml",
        args: &[],
        outcome: Err(&[
            "3 APIs",
            "--api",
            "AdminApi (AWS::Serverless::Api",
            "ServerlessRestApi (SAM's implicit REST API",
            "ServerlessHttpApi (SAM's implicit HTTP API",
        ]),
        cases: &[],
    },
    Fixture {
        file: "sam_several_apis.yaml",
        args: &["--api", "ServerlessHttpApi"],
        outcome: Ok(()),
        cases: &[
            case(
                "GET",
                "/quotes/ACME",
                Token::Access {
                    iss: Iss::Url("https://login.partners.example.com/"),
                    client: "partners-api",
                    scopes: &["quotes:read"],
                },
                Allow,
            ),
            case(
                "POST",
                "/orders",
                Token::Id {
                    iss: Iss::Url("https://login.partners.example.com/"),
                    client: "partners-api",
                },
                Allow,
            ),
            case("GET", "/stats", Token::None, Forbidden),
        ],
    },
    Fixture {
        file: "cfn_rest.yaml",
        args: &[
            "--parameter",
            "CustomerPool.Arn=arn:aws:cognito-idp:eu-central-1:111122223333:userpool/eu-central-1_Cust00001",
        ],
        outcome: Ok(()),
        cases: &[
            case("GET", "/", Token::None, Allow),
            case(
                "GET",
                "/pets",
                Token::Id {
                    iss: PETS_C,
                    client: "any",
                },
                Allow,
            ),
            case(
                "GET",
                "/pets",
                Token::Id {
                    iss: PETS_S,
                    client: "any",
                },
                Allow,
            ),
            case(
                "GET",
                "/pets",
                Token::Access {
                    iss: PETS_S,
                    client: "any",
                    scopes: &["pets/write"],
                },
                Unauthorized,
            ),
            case(
                "POST",
                "/pets",
                Token::Access {
                    iss: PETS_C,
                    client: "any",
                    scopes: &["pets/write"],
                },
                Allow,
            ),
            case(
                "GET",
                "/pets/3",
                Token::Access {
                    iss: PETS_C,
                    client: "any",
                    scopes: &["pets/read"],
                },
                Allow,
            ),
            case(
                "DELETE",
                "/admin/users/3",
                Token::Access {
                    iss: PETS_S,
                    client: "any",
                    scopes: &["pets/write"],
                },
                Forbidden,
            ),
            case(
                "DELETE",
                "/admin/users/3",
                Token::Access {
                    iss: PETS_S,
                    client: "any",
                    scopes: &["pets/admin"],
                },
                Allow,
            ),
            case(
                "GET",
                "/admin",
                Token::Access {
                    iss: PETS_S,
                    client: "any",
                    scopes: &["pets/admin"],
                },
                Forbidden,
            ),
            case("OPTIONS", "/pets", Token::None, Allow),
        ],
    },
    Fixture {
        file: "cfn_http.json",
        args: &[
            "--parameter",
            "PoolId=eu-west-2_Invent001",
            "--parameter",
            "WebClientId=7inventoryweb",
            "--parameter",
            "AWS::Region=eu-west-2",
        ],
        outcome: Ok(()),
        cases: &[
            case(
                "GET",
                "/items",
                Token::Access {
                    iss: INVENTORY,
                    client: "7inventoryweb",
                    scopes: &["inventory/read"],
                },
                Allow,
            ),
            case(
                "GET",
                "/items",
                Token::Id {
                    iss: INVENTORY,
                    client: "7inventoryweb",
                },
                Forbidden,
            ),
            case(
                "GET",
                "/items/5",
                Token::Id {
                    iss: INVENTORY,
                    client: "7inventoryweb",
                },
                Allow,
            ),
            case("GET", "/version", Token::None, Allow),
            case("POST", "/anything", Token::None, Unauthorized),
            case(
                "POST",
                "/anything",
                Token::Id {
                    iss: INVENTORY,
                    client: "someone-else",
                },
                Unauthorized,
            ),
        ],
    },
    Fixture {
        file: "cfn_http_quick_create.yaml",
        args: &["--api", "ProxyApi"],
        outcome: Ok(()),
        cases: &[case("GET", "/any/path", Token::None, Allow)],
    },
    Fixture {
        file: "cfn_http_quick_create.yaml",
        args: &["--api", "WebhookApi"],
        outcome: Ok(()),
        cases: &[
            case("POST", "/hooks/github", Token::None, Allow),
            case("GET", "/hooks/github", Token::None, Forbidden),
        ],
    },
    Fixture {
        file: "openapi3_http_export.json",
        args: &[],
        outcome: Ok(()),
        cases: &[
            case(
                "GET",
                "/invoices",
                Token::Access {
                    iss: BILLING,
                    client: "billing-cli",
                    scopes: &["billing/read"],
                },
                Allow,
            ),
            case(
                "GET",
                "/invoices/1",
                Token::Id {
                    iss: BILLING,
                    client: "billing-web",
                },
                Allow,
            ),
            case(
                "GET",
                "/invoices/1",
                Token::Id {
                    iss: BILLING,
                    client: "other",
                },
                Unauthorized,
            ),
            case("GET", "/status", Token::None, Allow),
            case(
                "PUT",
                "/x",
                Token::Access {
                    iss: BILLING,
                    client: "billing-cli",
                    scopes: &["billing/read"],
                },
                Forbidden,
            ),
        ],
    },
    Fixture {
        file: "swagger2_rest_export.yaml",
        args: &[],
        outcome: Ok(()),
        cases: &[
            case("GET", "/", Token::None, Allow),
            case(
                "GET",
                "/videos",
                Token::Id {
                    iss: MEDIA,
                    client: "tv",
                },
                Allow,
            ),
            case(
                "POST",
                "/videos",
                Token::Access {
                    iss: MEDIA,
                    client: "tv",
                    scopes: &["media/upload"],
                },
                Allow,
            ),
            case(
                "GET",
                "/videos/a/b",
                Token::Access {
                    iss: MEDIA,
                    client: "tv",
                    scopes: &["media/read"],
                },
                Allow,
            ),
            case(
                "GET",
                "/videos/a/b",
                Token::Id {
                    iss: MEDIA,
                    client: "tv",
                },
                Forbidden,
            ),
        ],
    },
    Fixture {
        file: "openapi3_rest_export.yaml",
        args: &[],
        outcome: Ok(()),
        cases: &[
            case_in(
                "X-Staff-Token",
                "GET",
                "/appointments",
                Token::Id {
                    iss: CLINIC,
                    client: "desk",
                },
                Allow,
            ),
            case_in(
                "X-Staff-Token",
                "DELETE",
                "/appointments",
                Token::Access {
                    iss: CLINIC,
                    client: "desk",
                    scopes: &["clinic/admin"],
                },
                Allow,
            ),
            case("GET", "/opening-hours", Token::None, Allow),
        ],
    },
    Fixture {
        file: "refuse_openapi_lambda_iam.yaml",
        args: &[],
        outcome: Err(&[
            "refuse_openapi_lambda_iam.yaml:27: paths[\"/reports/{id}\"].get.security[0].reports-lambda",
            "Lambda authorizer reports-lambda (type request)",
            "IAM authorization (scheme sigv4, awsSigv4)",
            "--partial",
        ]),
        cases: &[],
    },
    Fixture {
        file: "refuse_openapi_lambda_iam.yaml",
        args: &["--partial"],
        outcome: Ok(()),
        cases: &[
            case(
                "GET",
                "/reports",
                Token::Access {
                    iss: Iss::Url("https://auth.reports.example.com/"),
                    client: "reports",
                    scopes: &["reports/read"],
                },
                Allow,
            ),
            case(
                "GET",
                "/reports/1",
                Token::Access {
                    iss: Iss::Url("https://auth.reports.example.com/"),
                    client: "reports",
                    scopes: &["reports/read"],
                },
                Forbidden,
            ),
            case("POST", "/exports", Token::None, Forbidden),
        ],
    },
    Fixture {
        file: "refuse_sam_lambda_apikey.yaml",
        args: &[],
        outcome: Err(&[
            "refuse_sam_lambda_apikey.yaml:11: Resources.GamesApi.Properties.Auth.ApiKeyRequired: GET /leaderboard: requires an API key",
            "GET /v1/scores: Lambda authorizer Legacy",
        ]),
        cases: &[],
    },
    Fixture {
        file: "refuse_sam_lambda_apikey.yaml",
        args: &["--partial"],
        outcome: Ok(()),
        cases: &[
            case(
                "GET",
                "/scores",
                Token::Id {
                    iss: Iss::Pool("eu-north-1_Players01"),
                    client: "app",
                },
                Allow,
            ),
            case(
                "GET",
                "/leaderboard",
                Token::Id {
                    iss: Iss::Pool("eu-north-1_Players01"),
                    client: "app",
                },
                Forbidden,
            ),
            case(
                "GET",
                "/v1/scores",
                Token::Id {
                    iss: Iss::Pool("eu-north-1_Players01"),
                    client: "app",
                },
                Forbidden,
            ),
        ],
    },
    Fixture {
        file: "refuse_resource_policy.yaml",
        args: &["--partial"],
        outcome: Err(&[
            "refuse_resource_policy.yaml:11: Resources.PrivateApi.Properties.Policy",
            "resource policy",
            "--ignore-resource-policy",
        ]),
        cases: &[],
    },
    Fixture {
        file: "refuse_resource_policy.yaml",
        args: &["--ignore-resource-policy"],
        outcome: Ok(()),
        cases: &[case("GET", "/", Token::None, Allow)],
    },
    Fixture {
        file: "refuse_mtls_iam.yaml",
        args: &[],
        outcome: Err(&[
            "refuse_mtls_iam.yaml:17: Resources.Telemetry.Properties.AuthorizationType: POST /telemetry: IAM authorization (AWS_IAM)",
            "refuse_mtls_iam.yaml:31: Resources.DevicesDomain.Properties.MutualTlsAuthentication: GET /firmware: the API's custom domain requires mutual TLS",
        ]),
        cases: &[],
    },
    Fixture {
        file: "refuse_cfn_rest_lambda.yaml",
        args: &[],
        outcome: Err(&[
            "refuse_cfn_rest_lambda.yaml:33: Resources.Accounts.Properties.AuthorizerId: GET /accounts: Lambda authorizer TokenAuthorizer (type TOKEN) cannot be carried over",
            "refuse_cfn_rest_lambda.yaml:6: Resources.LegacyApi: not carried over, so not imported",
        ]),
        cases: &[],
    },
    Fixture {
        file: "refuse_cfn_rest_lambda.yaml",
        args: &["--partial"],
        outcome: Ok(()),
        cases: &[
            case("GET", "/", Token::None, Allow),
            case("GET", "/accounts", Token::None, Forbidden),
        ],
    },
    Fixture {
        file: "refuse_validation_expression.yaml",
        args: &[],
        outcome: Err(&[
            "refuse_validation_expression.yaml:28: Resources.Track.Properties.AuthorizerId: GET /: \
             Cognito authorizer ShippingAuthorizer with an identity validation expression (a regular \
             expression on the token's aud, which tokengate does not apply) cannot be carried over",
        ]),
        cases: &[],
    },
    Fixture {
        file: "refuse_mtls_iam.yaml",
        args: &["--partial"],
        outcome: Ok(()),
        cases: &[
            case("POST", "/telemetry", Token::None, Forbidden),
            case("GET", "/firmware", Token::None, Forbidden),
        ],
    },
    Fixture {
        file: "refuse_validation_expression.yaml",
        args: &["--partial"],
        outcome: Ok(()),
        cases: &[case(
            "GET",
            "/",
            Token::Id {
                iss: Iss::Pool("eu-west-2_Shipping1"),
                client: "3ship0client0a",
            },
            Forbidden,
        )],
    },
    Fixture {
        file: "guide_sam_client_credentials.yaml",
        args: &[],
        outcome: Err(&[
            "guide_sam_client_credentials.yaml:58: Resources.TrackerApi.Properties.Auth.Authorizers.TrackerAuthorizer.UserPoolArn",
            "SSM-typed",
            "--parameter AuthPoolArn=VALUE",
        ]),
        cases: &[],
    },
    Fixture {
        file: "guide_sam_client_credentials.yaml",
        args: &[
            "--parameter",
            "AuthPoolArn=arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_Trk4Parcl",
        ],
        outcome: Ok(()),
        cases: &[
            case("GET", "/parcels/42", Token::None, Unauthorized),
            case(
                "GET",
                "/parcels/42",
                Token::Access {
                    iss: TRACKER,
                    client: "5trk4machine0client0example",
                    scopes: &["parcel-tracker/api"],
                },
                Allow,
            ),
            case(
                "POST",
                "/parcels",
                Token::Access {
                    iss: TRACKER,
                    client: "5trk4machine0client0example",
                    scopes: &["parcel-tracker/audit"],
                },
                Forbidden,
            ),
            case(
                "POST",
                "/parcels",
                Token::Access {
                    iss: TRACKER,
                    client: "5trk4machine0client0example",
                    scopes: &["parcel-tracker/audit", "parcel-tracker/api"],
                },
                Allow,
            ),
            case(
                "GET",
                "/parcels/42",
                Token::Id {
                    iss: TRACKER,
                    client: "web",
                },
                Forbidden,
            ),
            case(
                "DELETE",
                "/parcels/42",
                Token::Access {
                    iss: TRACKER,
                    client: "5trk4machine0client0example",
                    scopes: &["parcel-tracker/api"],
                },
                Forbidden,
            ),
            case("GET", "/ping", Token::None, Allow),
        ],
    },
];

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tokengate")
}

pub fn run(fixture: &Fixture) -> Output {
    let path = format!("{DIR}/{}", fixture.file);
    let out = Command::new(bin())
        .arg("import")
        .arg(&path)
        .args(fixture.args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("run tokengate import: {e}"));
    assert!(out.status.code().is_some(), "{path}: killed by a signal");
    out
}
