//! `tokengate import` on the fixture corpus in `tests/fixtures/import/`.
//!
//! Each fixture is first checked by a real validator (cfn-lint for templates,
//! openapi-spec-validator for OpenAPI/Swagger documents), so the corpus is made of files AWS
//! would accept. Then the real binary imports it, and the output is checked: exactly (against
//! `NAME.expected.yaml`, rewritten with `TOKENGATE_BLESS=1`) and by what each route must be.
//! The decisions of each fixture's request table are checked against the served config by
//! `tests/import_serve`.

// The requests of each table are read by `tests/import_serve`, not here.
#[allow(dead_code)]
#[path = "import/table.rs"]
mod table;

use std::path::{Path, PathBuf};
use std::process::Command;

use table::*;

const SHOP_POOL: &str = "arn:aws:cognito-idp:eu-west-3:111122223333:userpool/eu-west-3_ShopPool01";
const CUSTOMER_POOL: &str =
    "arn:aws:cognito-idp:eu-central-1:111122223333:userpool/eu-central-1_Cust00001";
const ECHO_POOL: &str = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Ab12Cd34E";
const ORDERS_POOL: &str = "arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_Orders001";

/// `NAME[.api.ID][.partial]….expected.yaml`: the flags that change the output, not the values.
fn golden_name(fixture: &Fixture) -> String {
    let stem = fixture
        .file
        .rsplit_once('.')
        .map_or(fixture.file, |(s, _)| s);
    let mut name = stem.to_owned();
    let mut args = fixture.args.iter();
    while let Some(a) = args.next() {
        match *a {
            "--parameter" => {
                args.next();
            }
            "--api" => {
                name.push_str(".api.");
                name.push_str(args.next().copied().unwrap_or(""));
            }
            flag => {
                name.push('.');
                name.push_str(flag.trim_start_matches('-'));
            }
        }
    }
    format!("{name}.expected.yaml")
}

#[test]
fn every_fixture_imports_or_fails_as_its_table_says() {
    let mut failures = Vec::new();
    for f in FIXTURES {
        let out = run(f);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match f.outcome {
            Ok(()) => {
                if out.status.code() != Some(0) {
                    failures.push(format!(
                        "{} {:?}: exit {:?}\n{stderr}",
                        f.file,
                        f.args,
                        out.status.code()
                    ));
                    continue;
                }
                let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(DIR)
                    .join("expected")
                    .join(golden_name(f));
                if std::env::var_os("TOKENGATE_BLESS").is_some() {
                    std::fs::create_dir_all(golden.parent().unwrap_or(Path::new("."))).ok();
                    std::fs::write(&golden, &stdout)
                        .unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
                }
                let want = std::fs::read_to_string(&golden)
                    .unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
                if want != stdout {
                    failures.push(format!(
                        "{} {:?}: output differs from {}:\n{stdout}",
                        f.file,
                        f.args,
                        golden.display()
                    ));
                }
                assert!(
                    !f.cases.is_empty(),
                    "{}: a config with no request table",
                    f.file
                );
            }
            Err(fragments) => {
                if out.status.code() != Some(1) || !stdout.is_empty() {
                    failures.push(format!(
                        "{} {:?}: want exit 1 and no config, got {:?}\n{stdout}",
                        f.file,
                        f.args,
                        out.status.code()
                    ));
                }
                for frag in fragments {
                    if !stderr.contains(frag) {
                        failures.push(format!(
                            "{} {:?}: stderr lacks {frag:?}:\n{stderr}",
                            f.file, f.args
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A YAML value on one line: lists joined with `,`, mappings as `{key: value, …}`.
fn flat(v: &marked_yaml::Node) -> String {
    match v {
        marked_yaml::Node::Scalar(s) => s.as_str().to_owned(),
        marked_yaml::Node::Sequence(s) => s.iter().map(flat).collect::<Vec<_>>().join(","),
        marked_yaml::Node::Mapping(m) => {
            let entries: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", k.as_str(), flat(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

/// The output of a fixture that imports.
struct Config {
    text: String,
    yaml: marked_yaml::Node,
}

impl Config {
    fn of(file: &str, args: &[&str]) -> Config {
        let fixture = FIXTURES
            .iter()
            .find(|f| f.file == file && f.args == args)
            .unwrap_or_else(|| panic!("no fixture {file} {args:?}"));
        let out = run(fixture);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let yaml = marked_yaml::parse_yaml(0, &text)
            .unwrap_or_else(|e| panic!("{file}: output is not YAML: {e}\n{text}"));
        Config { text, yaml }
    }

    /// A route's value, as `authorizer=a,b scopes=x,y`, `public` or `deny`.
    fn route(&self, key: &str) -> String {
        let routes = self.yaml.as_mapping().and_then(|m| m.get_mapping("routes"));
        let Some(r) = routes.and_then(|r| r.get_mapping(key)) else {
            panic!("no route {key:?} in\n{}", self.text);
        };
        let list = |k: &str| match r.get_node(k) {
            Some(marked_yaml::Node::Scalar(s)) => s.as_str().to_owned(),
            Some(marked_yaml::Node::Sequence(s)) => s
                .iter()
                .filter_map(|n| n.as_scalar())
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
            _ => String::new(),
        };
        if r.get_scalar("public").is_some() {
            "public".into()
        } else if r.get_scalar("deny").is_some() {
            "deny".into()
        } else {
            let scopes = list("scopes");
            if scopes.is_empty() {
                format!("authorizer={}", list("authorizer"))
            } else {
                format!("authorizer={} scopes={scopes}", list("authorizer"))
            }
        }
    }

    fn routes(&self) -> Vec<String> {
        let routes = self.yaml.as_mapping().and_then(|m| m.get_mapping("routes"));
        routes
            .map(|r| r.keys().map(|k| k.as_str().to_owned()).collect())
            .unwrap_or_default()
    }

    /// An authorizer's fields as `key=value` lines (lists joined with `,`).
    fn authorizer(&self, name: &str) -> Vec<String> {
        let a = self
            .yaml
            .as_mapping()
            .and_then(|m| m.get_mapping("authorizers"))
            .and_then(|m| m.get_mapping(name));
        let Some(a) = a else {
            panic!("no authorizer {name:?} in\n{}", self.text);
        };
        a.iter()
            .map(|(k, v)| format!("{}={}", k.as_str(), flat(v)))
            .collect()
    }

    /// The comment line just above a route.
    fn comment(&self, key: &str) -> &str {
        let quoted = format!("  {key:?}:");
        let lines: Vec<&str> = self.text.lines().collect();
        let i = lines
            .iter()
            .position(|l| l.starts_with(&quoted))
            .unwrap_or_else(|| panic!("no {quoted}"));
        lines[..i]
            .iter()
            .rev()
            .find(|l| l.trim_start().starts_with("# from"))
            .copied()
            .unwrap_or("")
    }
}

#[test]
fn sam_rest_methods_without_scopes_take_id_tokens_and_with_scopes_access_tokens() {
    let c = Config::of("sam_rest_ssm_scopes.yaml", FIXTURES[0].args);
    assert_eq!(
        c.route("POST /echo"),
        "authorizer=ClientCognitoAuthorizer-access scopes=echo-service/echo"
    );
    // The event's empty AuthorizationScopes replace the authorizer's: an ID-token method.
    assert_eq!(c.route("GET /me"), "authorizer=ClientCognitoAuthorizer-id");
    assert_eq!(c.route("GET /health"), "public");
    // Access tokens by a claim rule, so that an ID token there is API Gateway's 403 (it lacks
    // the scopes) rather than the 401 of `token_use: access`; ID tokens by `token_use: id`, so
    // that an access token on an ID-token method is API Gateway's 401.
    for (name, token_use) in [
        (
            "ClientCognitoAuthorizer-access",
            "claims={token_use: access}",
        ),
        ("ClientCognitoAuthorizer-id", "token_use=id"),
    ] {
        assert_eq!(
            c.authorizer(name),
            [
                format!("user_pool={ECHO_POOL}"),
                "any_app_client=true".into(),
                token_use.to_owned()
            ]
        );
    }
    assert!(
        c.comment("GET /me").contains(
            "sam_rest_ssm_scopes.yaml:47: Resources.EchoFunction.Properties.Events.Profile"
        ),
        "{}",
        c.text
    );
    assert!(c.text.starts_with(
        "# tokengate config imported from tests/fixtures/import/sam_rest_ssm_scopes.yaml\n"
    ));
    assert!(c.text.contains("# by: tokengate import tests/fixtures/import/sam_rest_ssm_scopes.yaml --parameter CognitoUserPoolArn="));
}

#[test]
fn implicit_rest_api_takes_globals_pools_list_identity_header_and_cors() {
    let c = Config::of("sam_rest_implicit_globals.yaml", FIXTURES[2].args);
    let both = "authorizer=ShopAuthorizer-eu-west-3_ShopPool01-access,ShopAuthorizer-eu-west-3_Partner9Z-access";
    assert_eq!(c.route("GET /products"), format!("{both} scopes=shop/read"));
    assert_eq!(
        c.route("PUT /products/{productId}"),
        format!("{both} scopes=shop/write,shop/admin")
    );
    assert_eq!(
        c.route("ANY /files/{proxy+}"),
        format!("{both} scopes=shop/read")
    );
    assert_eq!(c.route("GET /status"), "public");
    // AddDefaultAuthorizerToCorsPreflight: false leaves SAM's preflight methods open.
    for p in [
        "/products",
        "/products/{productId}",
        "/files/{proxy+}",
        "/status",
    ] {
        assert_eq!(c.route(&format!("OPTIONS {p}")), "public");
    }
    assert_eq!(
        c.authorizer("ShopAuthorizer-eu-west-3_ShopPool01-access"),
        [
            format!("user_pool={SHOP_POOL}"),
            "any_app_client=true".into(),
            "claims={token_use: access}".into(),
            "identity_source=$request.header.X-Shop-Token".into()
        ]
    );
    assert_eq!(
        c.authorizer("ShopAuthorizer-eu-west-3_Partner9Z-access")[0],
        "user_pool=arn:aws:cognito-idp:eu-west-3:111122223333:userpool/eu-west-3_Partner9Z"
    );
    assert!(
        c.text.contains(
            "cors:\n  allow_origins: [\"https://shop.example.com\"]\n  allow_credentials: true\n"
        ),
        "{}",
        c.text
    );
}

#[test]
fn sam_preflights_guarded_by_the_default_authorizer_get_no_cors_block() {
    let c = Config::of("sam_rest_cors_guarded_preflight.yaml", &[]);
    assert_eq!(c.route("OPTIONS /notes"), "authorizer=NotesAuth-id");
    assert!(!c.text.contains("\ncors:"), "{}", c.text);
    assert!(
        c.text
            .contains("# warning: Cors: SAM puts the DefaultAuthorizer on its OPTIONS methods")
    );
}

#[test]
fn inline_definition_body_ignores_event_auth_unless_override_api_auth() {
    let c = Config::of("sam_rest_inline_body.yaml", FIXTURES[4].args);
    assert_eq!(
        c.routes(),
        [
            "GET /orders",
            "POST /orders",
            "GET /orders/{orderId}",
            "GET /ping"
        ]
    );
    // ListOrders says NONE without OverrideApiAuth: SAM keeps the DefaultAuthorizer.
    assert_eq!(
        c.route("GET /orders"),
        "authorizer=OrdersAuth-access scopes=orders/read"
    );
    assert_eq!(
        c.route("POST /orders"),
        "authorizer=OrdersAuth-access scopes=orders/write"
    );
    assert_eq!(c.route("GET /orders/{orderId}"), "public");
    assert_eq!(c.route("GET /ping"), "public");
    assert_eq!(
        c.authorizer("OrdersAuth-access")[0],
        format!("user_pool={ORDERS_POOL}")
    );
    assert!(
        c.text
            .contains("Events.ListOrders (GET /orders): SAM ignores this event's Auth"),
        "{}",
        c.text
    );
    assert!(
        c.comment("GET /orders/{orderId}")
            .contains("(OverrideApiAuth)")
    );
}

#[test]
fn an_included_body_is_read_from_beside_the_template() {
    let c = Config::of("sam_rest_include.yaml", &[]);
    assert_eq!(c.route("GET /books"), "authorizer=LibraryAuth-id");
    assert_eq!(
        c.route("POST /books"),
        "authorizer=LibraryAuth-access scopes=library/write"
    );
    assert!(
        c.comment("POST /books")
            .contains("sam_rest_include.openapi.yaml:15: paths[\"/books\"].post"),
        "{}",
        c.text
    );
}

#[test]
fn sam_http_api_scopes_replace_unless_empty_and_events_without_path_make_default() {
    let c = Config::of("sam_http_explicit.yaml", FIXTURES[6].args);
    assert_eq!(
        c.route("GET /tasks"),
        "authorizer=TasksJwt scopes=tasks/read"
    );
    assert_eq!(
        c.route("POST /tasks"),
        "authorizer=TasksJwt scopes=tasks/write"
    );
    // An HTTP event's empty AuthorizationScopes keep the authorizer's (SAM tests truthiness).
    assert_eq!(
        c.route("GET /tasks/{taskId}"),
        "authorizer=TasksJwt scopes=tasks/read"
    );
    assert_eq!(c.route("GET /health"), "public");
    assert_eq!(c.route("$default"), "authorizer=TasksJwt scopes=tasks/read");
    assert_eq!(
        c.authorizer("TasksJwt"),
        [
            "issuer=https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Tasks0001",
            "audience=4tasksclient0example"
        ]
    );
    assert!(c.text.contains("cors:\n  allow_origins: [\"https://tasks.example.com\"]\n  allow_credentials: false\n  expose_headers: [x-request-id]\n"), "{}", c.text);
    assert_eq!(c.routes().last().map(String::as_str), Some("$default"));
}

#[test]
fn cloudformation_rest_resources_become_route_keys() {
    let c = Config::of("cfn_rest.yaml", FIXTURES[9].args);
    assert_eq!(
        c.routes(),
        [
            "GET /",
            "ANY /admin/{proxy+}",
            "GET /pets",
            "OPTIONS /pets",
            "POST /pets",
            "GET /pets/{petId}"
        ]
    );
    let id = "authorizer=PetsAuthorizer-eu-central-1_Cust00001-id,PetsAuthorizer-eu-central-1_Staff0001-id";
    assert_eq!(c.route("GET /pets"), id);
    assert_eq!(
        c.route("POST /pets"),
        "authorizer=PetsAuthorizer-eu-central-1_Cust00001-access,PetsAuthorizer-eu-central-1_Staff0001-access scopes=pets/write"
    );
    assert_eq!(c.route("OPTIONS /pets"), "public");
    assert_eq!(c.route("GET /"), "public");
    assert_eq!(
        c.authorizer("PetsAuthorizer-eu-central-1_Cust00001-id")[0],
        format!("user_pool={CUSTOMER_POOL}")
    );
    assert!(
        c.comment("ANY /admin/{proxy+}")
            .contains("cfn_rest.yaml:121: Resources.AdminAny"),
        "{}",
        c.text
    );
}

#[test]
fn cloudformation_http_json_long_forms_resolve() {
    let c = Config::of("cfn_http.json", FIXTURES[10].args);
    assert_eq!(
        c.route("GET /items"),
        "authorizer=InventoryJwt scopes=inventory/read"
    );
    assert_eq!(c.route("GET /items/{itemId}"), "authorizer=InventoryJwt");
    assert_eq!(c.route("GET /version"), "public");
    assert_eq!(c.route("$default"), "authorizer=InventoryJwt");
    assert_eq!(
        c.authorizer("InventoryJwt"),
        [
            "issuer=https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Invent001",
            "audience=7inventoryweb"
        ]
    );
    // Fn::If on the Stage parameter's default (prod).
    assert!(c.text.contains("allow_origins: [\"https://inventory.example.com\"]\n  allow_credentials: true\n  expose_headers: [www-authenticate]"), "{}", c.text);
}

#[test]
fn quick_create_target_makes_an_open_route() {
    assert_eq!(
        Config::of("cfn_http_quick_create.yaml", &["--api", "ProxyApi"]).routes(),
        ["$default"]
    );
    let c = Config::of("cfn_http_quick_create.yaml", &["--api", "WebhookApi"]);
    assert_eq!(c.route("POST /hooks/{source}"), "public");
}

#[test]
fn exports_carry_their_authorizers_and_security() {
    let http = Config::of("openapi3_http_export.json", &[]);
    assert_eq!(
        http.route("GET /invoices"),
        "authorizer=billing-jwt scopes=billing/read"
    );
    assert_eq!(
        http.route("GET /invoices/{invoiceId}"),
        "authorizer=billing-jwt"
    );
    assert_eq!(http.route("GET /status"), "public");
    assert_eq!(
        http.route("$default"),
        "authorizer=billing-jwt scopes=billing/admin"
    );
    assert_eq!(
        http.authorizer("billing-jwt")[1],
        "audience=billing-web,billing-cli"
    );

    let rest = Config::of("swagger2_rest_export.yaml", &[]);
    assert_eq!(rest.route("GET /videos"), "authorizer=media-users-id");
    assert_eq!(
        rest.route("ANY /videos/{proxy+}"),
        "authorizer=media-users-access scopes=media/read,media/upload"
    );
    assert!(
        rest.text.contains("# warning: basePath `/prod` is ignored"),
        "{}",
        rest.text
    );

    let oas = Config::of("openapi3_rest_export.yaml", &[]);
    assert_eq!(oas.route("GET /appointments"), "authorizer=clinic-staff-id");
    assert_eq!(
        oas.route("DELETE /appointments"),
        "authorizer=clinic-staff-access scopes=clinic/admin"
    );
    assert_eq!(oas.route("GET /opening-hours"), "public");
    assert_eq!(
        oas.authorizer("clinic-staff-id")[3],
        "identity_source=$request.header.X-Staff-Token"
    );
}

#[test]
fn partial_prints_refused_routes_as_deny_routes_with_why() {
    let c = Config::of("refuse_openapi_lambda_iam.yaml", &["--partial"]);
    assert_eq!(
        c.route("GET /reports"),
        "authorizer=reports-jwt scopes=reports/read"
    );
    assert_eq!(c.route("GET /reports/{id}"), "deny");
    assert_eq!(c.route("POST /exports"), "deny");
    assert!(c.text.contains("# denied: not carried over: GET /reports/{id}: Lambda authorizer reports-lambda (type request)"), "{}", c.text);
    assert!(c.text.contains(
        "# by: tokengate import tests/fixtures/import/refuse_openapi_lambda_iam.yaml --partial\n"
    ));

    let c = Config::of("refuse_sam_lambda_apikey.yaml", &["--partial"]);
    assert_eq!(c.route("GET /scores"), "authorizer=Players-id");
    assert_eq!(c.route("GET /leaderboard"), "deny");
    assert_eq!(c.route("GET /v1/scores"), "deny");
}

#[test]
fn ignore_resource_policy_imports_without_it_and_says_so() {
    let c = Config::of("refuse_resource_policy.yaml", &["--ignore-resource-policy"]);
    assert_eq!(c.route("GET /"), "public");
    assert!(
        c.text.contains(
            "# warning: the resource policy at tests/fixtures/import/refuse_resource_policy.yaml:11"
        ),
        "{}",
        c.text
    );
}

#[test]
fn bad_parameters_are_usage_errors() {
    let out = Command::new(bin())
        .args(["import", "x.yaml", "--parameter", "novalue"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(bin())
        .args(["import", "/nonexistent/t.yaml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/t.yaml"));
}

/// A validator on PATH, or `None` (and a visible skip) unless tools are required.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("TOKENGATE_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
            "{name} is required (TOKENGATE_REQUIRE_TOOLS=1) but not on PATH"
        );
        eprintln!("SKIPPED: {name} not on PATH; fixtures not validated by it");
    }
    found
}

#[test]
fn fixtures_are_accepted_by_their_validators() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "json"))
        .collect();
    files.sort();
    let (mut openapi, mut templates) = (Vec::new(), Vec::new());
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read fixture");
        let is_openapi = text
            .lines()
            .any(|l| l.starts_with("openapi:") || l.starts_with("swagger:"))
            || text.contains("\"openapi\": ")
            || text.contains("\"swagger\": ");
        if is_openapi {
            openapi.push(f)
        } else {
            templates.push(f)
        }
    }
    assert!(
        templates.len() >= 10 && openapi.len() >= 4,
        "{templates:?} {openapi:?}"
    );
    if let Some(lint) = tool("cfn-lint") {
        for t in &templates {
            let out = Command::new(&lint).arg(t).output().expect("run cfn-lint");
            assert!(
                out.status.success(),
                "cfn-lint {}:\n{}",
                t.display(),
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    if let Some(validator) = tool("openapi-spec-validator") {
        for d in &openapi {
            let out = Command::new(&validator)
                .arg(d)
                .output()
                .expect("run openapi-spec-validator");
            assert!(
                out.status.success(),
                "openapi-spec-validator {}:\n{}{}",
                d.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// SAM's `DefinitionUri` names a local file only before `sam package` rewrites it to S3, and
/// cfn-lint (running SAM's transform) refuses such a template, so this one is written at test
/// time beside a copy of a validated OpenAPI fixture instead of living in the corpus.
#[test]
fn definition_uri_is_read_from_beside_the_template_and_events_do_not_change_it() {
    let dir = std::env::temp_dir().join(format!("tokengate-import-uri-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let doc = "sam_http_definition_uri.openapi.yaml";
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR).join(doc),
        dir.join(doc),
    )
    .expect("copy");
    let template = format!(
        "Transform: AWS::Serverless-2016-10-31\n\
         Resources:\n  WeatherApi:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n      DefinitionUri: {doc}\n\
         \x20 WeatherFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.13\n      Handler: app.handler\n      CodeUri: src/\n      Events:\n        Forecast:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref WeatherApi\n            Path: /forecast/{{city}}\n            Method: GET\n            Auth:\n              Authorizer: NONE\n"
    );
    std::fs::write(dir.join("template.yaml"), template).expect("write");
    let out = Command::new(bin())
        .arg("import")
        .arg(dir.join("template.yaml"))
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let yaml = marked_yaml::parse_yaml(0, &text).expect("YAML");
    let routes = yaml
        .as_mapping()
        .and_then(|m| m.get_mapping("routes"))
        .expect("routes");
    let keys: Vec<&str> = routes.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["GET /forecast/{city}", "GET /stations"]);
    // The event's `Authorizer: NONE` changes nothing: SAM edits no body it did not inline.
    assert!(
        text.contains(
            "\"GET /forecast/{city}\": {authorizer: weather-jwt, scopes: [weather/read]}"
        ),
        "{text}"
    );
    assert!(text.contains("\"GET /stations\": {public: true}"), "{text}");
    assert!(stderr.contains("Events.Forecast: SAM ignores this event's Auth because the API is defined by DefinitionUri"), "{stderr}");
    assert!(
        text.contains(&format!(
            "# from {}:7: paths[\"/forecast/{{city}}\"].get",
            dir.join(doc).display()
        )),
        "{text}"
    );
}
