//! `tokengate import`: a tokengate config from an AWS SAM or CloudFormation template, or an API
//! Gateway OpenAPI/Swagger export, that makes the decisions API Gateway makes.
//!
//! [`template`] reads the file (YAML short tags or JSON long forms, with lines), [`source`]
//! the files beside it, [`place`] says where things are; [`intrinsic`]
//! resolves values from parameters; [`sam`], [`rest`], [`http`] and [`openapi`] read each kind
//! of source into the [`model`] of one API's authorization; [`emit`] writes it out. Nothing
//! widens access: what cannot be carried over is an error with its place, or with `--partial`
//! a deny route.

mod access;
mod emit;
mod http;
mod intrinsic;
mod model;
mod openapi;
mod place;
mod rest;
mod sam;
mod source;
mod template;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use intrinsic::Resolver;
use model::{Access, Api, Flavor};
use template::Node;

pub(crate) use place::Loc;
pub use place::{Error, Place, Problem};
pub(crate) use source::{Source, domain_mtls};

/// What `tokengate import` was asked.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The template or export to read.
    pub file: PathBuf,
    /// The logical id of the API to import, when the template has several.
    pub api: Option<String>,
    /// `NAME=VALUE`: template parameters, `Resource.Attribute`, pseudo parameters, exports.
    pub parameters: Vec<(String, String)>,
    /// Print routes that cannot be carried over as deny routes instead of failing.
    pub partial: bool,
    /// Import despite a resource policy (which tokengate cannot enforce).
    pub ignore_resource_policy: bool,
}

impl Options {
    /// The command line that reproduces this import, for the output's header.
    pub fn command(&self) -> String {
        let mut c = format!(
            "tokengate import {}",
            shell(&self.file.display().to_string())
        );
        if let Some(api) = &self.api {
            c.push_str(&format!(" --api {}", shell(api)));
        }
        for (k, v) in &self.parameters {
            c.push_str(&format!(" --parameter {}", shell(&format!("{k}={v}"))));
        }
        if self.partial {
            c.push_str(" --partial");
        }
        if self.ignore_resource_policy {
            c.push_str(" --ignore-resource-policy");
        }
        c
    }
}

fn shell(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@+,".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The result: a config's text, and warnings for stderr (also in the config's header).
#[derive(Clone, Debug)]
pub struct Imported {
    /// The config, as YAML text.
    pub config: String,
    /// What could not be carried over exactly, one line each.
    pub warnings: Vec<String>,
}

/// Imports the file `opts` names.
pub fn import(opts: &Options) -> Result<Imported, Error> {
    let text = source::read(&opts.file).map_err(|source| Error::Read {
        file: opts.file.display().to_string(),
        source,
    })?;
    import_text(opts, &text)
}

/// Imports `text` as if read from `opts.file` (included files are read beside it).
pub fn import_text(opts: &Options, text: &str) -> Result<Imported, Error> {
    let file = opts.file.display().to_string();
    let root = template::parse(&file, text)?;
    let given: Rc<HashMap<String, String>> = Rc::new(opts.parameters.iter().cloned().collect());
    let dir = opts
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let resolver = Resolver::new(&root, &file, given);
    let src = Source {
        file: file.clone(),
        dir,
        root,
        resolver,
    };
    let mut api = if openapi::is_openapi(&src.root) {
        if let Some(id) = &opts.api {
            return Err(Problem {
                place: Place::new(&file, "", Some(1)),
                message: format!(
                    "--api {id}: this is an OpenAPI document of one API, not a template"
                ),
            }
            .into());
        }
        export(&src)?
    } else {
        template_api(&src, opts.api.as_deref())?
    };
    finish(&mut api, opts)?;
    let config = emit::config(&api, &opts.command());
    Ok(Imported {
        config,
        warnings: api.warnings,
    })
}

/// An OpenAPI or Swagger export.
fn export(src: &Source) -> Result<Api, Problem> {
    let loc = Loc::new(&src.file, "");
    let doc = openapi::read(&src.root, &loc, &src.resolver, None)?;
    let flavor = doc.flavor.unwrap_or(Flavor::Rest);
    let version = if src.root.get("swagger").is_some() {
        "Swagger 2"
    } else {
        "OpenAPI 3"
    };
    let mut api = Api {
        what: format!(
            "{version} document {:?}",
            doc.title.as_deref().unwrap_or("")
        ),
        place: Place::new(&src.file, "", Some(src.root.line)),
        flavor,
        routes: Vec::new(),
        cors: doc.cors.clone(),
        policy: doc.policy.clone(),
        mtls: None,
        warnings: doc.warnings.clone(),
    };
    for op in &doc.ops {
        let reqs = op
            .security
            .clone()
            .or_else(|| doc.top.clone())
            .unwrap_or_default();
        let access = openapi::access(&reqs, &doc.schemes, op);
        api.routes.push(model::Route {
            key: op.key(),
            from: op.from.clone(),
            place: op.place.clone(),
            access,
        });
    }
    Ok(api)
}

const API_TYPES: [(&str, Flavor); 4] = [
    ("AWS::Serverless::Api", Flavor::Rest),
    ("AWS::Serverless::HttpApi", Flavor::Http),
    ("AWS::ApiGateway::RestApi", Flavor::Rest),
    ("AWS::ApiGatewayV2::Api", Flavor::Http),
];

/// The one API of a template (or the one `--api` names).
fn template_api(src: &Source, wanted: Option<&str>) -> Result<Api, Problem> {
    let rloc = Loc::new(&src.file, "Resources");
    let Some(resources) = src.root.get("Resources").and_then(Node::entries) else {
        return Err(Problem {
            place: Place::new(&src.file, "", Some(src.root.line)),
            message: "neither a CloudFormation/SAM template (no Resources) nor an OpenAPI document"
                .into(),
        });
    };
    let mut found: Vec<(String, String, Flavor, Place)> = Vec::new();
    for res in resources {
        let kind = res.value.get("Type").and_then(Node::scalar).unwrap_or("");
        if let Some((_, flavor)) = API_TYPES.iter().find(|(t, _)| *t == kind)
            && src.resolver.exists(&res.value, &rloc.key(&res.key))?
        {
            found.push((
                res.key.clone(),
                kind.to_owned(),
                *flavor,
                rloc.key(&res.key).place(res.line),
            ));
        }
    }
    for (id, flavor, place) in sam::implicit_apis(src)? {
        let kind = format!("SAM's implicit {}", flavor.as_str());
        found.push((id, kind, flavor, place));
    }
    let listing = || {
        found
            .iter()
            .map(|(id, kind, _, p)| format!("{id} ({kind}, line {})", p.line.unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match wanted {
        Some(id) => found
            .iter()
            .find(|(i, ..)| i == id)
            .ok_or_else(|| Problem {
                place: Place::new(&src.file, "Resources", Some(src.root.line)),
                message: format!("--api {id}: no such API; the template has: {}", listing()),
            })?,
        None => match found.as_slice() {
            [one] => one,
            [] => {
                return Err(Problem {
                    place: Place::new(&src.file, "Resources", Some(src.root.line)),
                    message: "the template defines no API Gateway API".into(),
                });
            }
            _ => {
                return Err(Problem {
                    place: Place::new(&src.file, "Resources", Some(src.root.line)),
                    message: format!(
                        "the template has {} APIs: choose one with --api ID: {}",
                        found.len(),
                        listing()
                    ),
                });
            }
        },
    };
    let (id, kind, flavor, place) = chosen;
    let node = src.root.get("Resources").and_then(|r| r.get(id));
    let loc = rloc.key(id);
    match (kind.as_str(), node) {
        ("AWS::ApiGateway::RestApi", Some(n)) => rest::api(src, id, n, &loc),
        ("AWS::ApiGatewayV2::Api", Some(n)) => http::api(src, id, n, &loc),
        ("AWS::Serverless::Api" | "AWS::Serverless::HttpApi", Some(n)) => {
            sam::api(src, id, *flavor, Some((n, loc)), place.clone())
        }
        _ => sam::api(src, id, *flavor, None, place.clone()),
    }
}

/// What applies to the whole API, then what `--partial` decides.
fn finish(api: &mut Api, opts: &Options) -> Result<(), Error> {
    if let Some(place) = &api.policy {
        if !opts.ignore_resource_policy {
            return Err(Problem {
                place: place.clone(),
                message: "a resource policy applies to the whole API and cannot be carried over \
                          (--partial does not help; --ignore-resource-policy imports without it)"
                    .into(),
            }
            .into());
        }
        api.warnings.push(format!(
            "the resource policy at {place} is not carried over (--ignore-resource-policy)"
        ));
    }
    if let Some(place) = api.mtls.clone() {
        for route in &mut api.routes {
            if !matches!(route.access, Access::Refused(_)) {
                route.access = Access::Refused(Problem {
                    place: place.clone(),
                    message: format!(
                        "{}: the API's custom domain requires mutual TLS (client certificates)",
                        route.key
                    ),
                });
            }
        }
    }
    let refused: Vec<Problem> = api
        .routes
        .iter()
        .filter_map(|r| match &r.access {
            Access::Refused(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    if !refused.is_empty() && !opts.partial {
        let mut problems = refused;
        problems.push(Problem {
            place: api.place.clone(),
            message:
                "not carried over, so not imported (--partial prints these routes as deny routes)"
                    .into(),
        });
        return Err(Error::Invalid(problems));
    }
    if api.routes.iter().any(|r| {
        matches!(
            r.access,
            Access::Guarded {
                authorizer: model::Authorizer::Cognito { .. },
                ..
            }
        )
    }) {
        api.warnings.push(
            "API Gateway's REST Cognito authorizer accepts tokens of any app client of the pool: \
             the authorizers below say any_app_client: true (replace it with `audience: [CLIENT_ID…]` to narrow them)"
                .into(),
        );
    }
    Ok(())
}

/// `tokengate import`: the config on stdout and exit 0, or every error on stderr and exit 1.
pub fn run(opts: &Options) -> ExitCode {
    match import(opts) {
        Ok(imported) => {
            for w in &imported.warnings {
                eprintln!("tokengate import: warning: {w}");
            }
            print!("{}", imported.config);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
