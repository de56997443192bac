//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "tokengate",
    version,
    about = "A JWT authorizer for Envoy ext_authz and nginx auth_request"
)]
pub struct Cli {
    /// Log line format on stderr (level from RUST_LOG, default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the authorizer.
    Serve {
        /// The YAML config file.
        #[arg(long, env = "TOKENGATE_CONFIG", required_unless_present = "dev")]
        config: Option<PathBuf>,
        /// Run with no config: a built-in development issuer and an authorizer that trusts it.
        #[arg(long)]
        dev: bool,
    },
    /// Parse and validate a config file: a summary and exit 0, or every error and exit 1.
    CheckConfig {
        #[arg(long, env = "TOKENGATE_CONFIG")]
        config: PathBuf,
    },
    /// Explain one decision: route, authorizer, each check, the claims. Exit 0 allow, 1 deny.
    Verify {
        /// The YAML config file.
        #[arg(long, env = "TOKENGATE_CONFIG", required_unless_present = "dev")]
        config: Option<PathBuf>,
        /// Use `serve --dev`'s routes and trust its issuer (which must be running).
        #[arg(long)]
        dev: bool,
        /// The request, as `METHOD /path` (e.g. "GET /users/7").
        #[arg(long)]
        route: String,
        /// The token, with or without `Bearer `.
        token: String,
    },
    /// Write a tokengate config from an AWS SAM/CloudFormation template or an OpenAPI export.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The template (YAML or JSON) or the API Gateway OpenAPI/Swagger export.
    pub file: PathBuf,
    /// The logical id of the API to import, when the template has several.
    #[arg(long, value_name = "ID")]
    pub api: Option<String>,
    /// A template parameter, `Resource.Attribute`, `AWS::Region`/`AWS::AccountId` or an
    /// export's name, with its value.
    #[arg(long = "parameter", value_name = "NAME=VALUE", value_parser = parameter)]
    pub parameters: Vec<(String, String)>,
    /// Print the config even when some routes cannot be carried over: they become deny routes.
    #[arg(long)]
    pub partial: bool,
    /// Import an API that has a resource policy, without it.
    #[arg(long)]
    pub ignore_resource_policy: bool,
}

impl ImportArgs {
    pub fn options(self) -> crate::import::Options {
        crate::import::Options {
            file: self.file,
            api: self.api,
            parameters: self.parameters,
            partial: self.partial,
            ignore_resource_policy: self.ignore_resource_policy,
        }
    }
}

fn parameter(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}
