//! The command line: its arguments, and each command from arguments to exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config};
use crate::log::LogFormat;
use crate::{dev, explain, jwks, proxy_config, server, signal};

/// The parsed command line.
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
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
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
        /// The YAML config file.
        #[arg(long, env = "TOKENGATE_CONFIG")]
        config: PathBuf,
    },
    /// Print the proxy configuration this config needs (nginx, Envoy gRPC or HTTP mode,
    /// Traefik), or exit 1 saying why that proxy cannot work with it.
    ProxyConfig {
        /// The tokengate config the proxy will front.
        #[arg(long, env = "TOKENGATE_CONFIG")]
        config: PathBuf,
        /// The proxy.
        #[arg(value_enum)]
        target: proxy_config::Target,
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

/// `tokengate import`'s arguments.
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
    /// What the import reads, as its library takes it.
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

/// `verify`'s exit code for a usage or config error (0 is allowed, 1 denied).
const USAGE: u8 = 2;

impl Cli {
    /// Runs the command.
    pub fn run(self) -> ExitCode {
        match self.command {
            Command::CheckConfig { config } => check_config(&config),
            Command::ProxyConfig { config, target } => print_proxy_config(&config, target),
            Command::Verify {
                config,
                dev,
                route,
                token,
            } => verify(config.as_deref(), dev, &route, &token),
            Command::Serve { config, dev } => serve(config.as_deref(), dev),
            Command::Import(args) => crate::import::run(&args.options()),
        }
    }
}

fn serve(path: Option<&Path>, dev: bool) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokengate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match (dev, path) {
        (true, _) => runtime.block_on(dev::serve()),
        (false, Some(path)) => runtime.block_on(serve_file(path)),
        (false, None) => Err(anyhow::anyhow!("serve needs --config FILE or --dev")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokengate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_file(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let running = server::start(config, server::Options::new(crate::metrics::install())).await?;
    signal::reload_on_hangup(running.state.clone(), path.to_owned())?;
    let a = running.addrs;
    tracing::info!(grpc = %a.grpc, http = %a.http, admin = %a.admin, "tokengate listening");
    running.run_until(signal::shutdown()).await?;
    Ok(())
}

fn check_config(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            print!("{}", config::summary(&config));
            for warning in config::warnings(&config) {
                println!("warning: {warning}");
            }
            println!("{}: OK", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn print_proxy_config(path: &Path, target: proxy_config::Target) -> ExitCode {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    match proxy_config::render(&config, target) {
        Ok(text) => {
            for w in proxy_config::warnings(&config) {
                if w.targets.contains(&target) {
                    eprintln!("tokengate proxy-config: warning: {}: {}", w.path, w.message);
                }
            }
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(refusals) => {
            eprintln!(
                "tokengate proxy-config: {target} cannot work with {}:",
                path.display()
            );
            for r in refusals {
                eprintln!("  {r}");
            }
            ExitCode::FAILURE
        }
    }
}

fn verify(path: Option<&Path>, dev: bool, route: &str, token: &str) -> ExitCode {
    let usage = |message: &str| {
        eprintln!("tokengate verify: {message}");
        ExitCode::from(USAGE)
    };
    let config = match (dev, path) {
        (true, _) => dev::config(&dev::issuer_url(), None),
        (false, Some(p)) => Config::load(p),
        (false, None) => return usage("--config FILE or --dev is required"),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => return usage(&e.to_string()),
    };
    let Some((method, target)) = route.split_once(' ').filter(|(_, p)| p.starts_with('/')) else {
        return usage("--route is `METHOD /path`, e.g. \"GET /users/7\"");
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage(&format!("cannot start the runtime: {e}")),
    };
    let fetcher = match jwks::Fetcher::new() {
        Ok(f) => f,
        Err(e) => return usage(&format!("cannot build the HTTP client: {e}")),
    };
    let wait = Duration::from_secs(10);
    let (decision, steps) = runtime.block_on(explain::explain(
        config, fetcher, method, target, token, wait,
    ));
    print!("{}", explain::render(&decision, &steps));
    if decision.is_allow() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
