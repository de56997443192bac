//! `tokengate`: command-line dispatch and exit codes.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use tokengate::cli::{Cli, Command, LogFormat};
use tokengate::config::{self, Config};
use tokengate::{jwks, server, signal, state};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match cli.command {
        Command::CheckConfig { config } => check_config(&config),
        Command::Verify {
            config,
            dev,
            route,
            token,
        } => verify(config.as_deref(), dev, &route, &token),
        Command::Import(args) => tokengate::import::run(&args.options()),
        Command::Serve { config, dev } => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("tokengate: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = match (dev, config) {
                (true, _) => runtime.block_on(tokengate::dev::serve()),
                (false, Some(path)) => runtime.block_on(serve(&path)),
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
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn check_config(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            print!("{}", config::summary(&config));
            println!("{}: OK", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// Exit codes: 0 allowed, 1 denied, 2 usage or config error.
fn verify(path: Option<&Path>, dev: bool, route: &str, token: &str) -> ExitCode {
    const USAGE: u8 = 2;
    let config = match (dev, path) {
        (true, _) => tokengate::dev::config(&tokengate::dev::issuer_url()),
        (false, Some(p)) => Config::load(p),
        (false, None) => {
            eprintln!("tokengate verify: --config FILE or --dev is required");
            return ExitCode::from(USAGE);
        }
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tokengate verify: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let Some((method, target)) = route.split_once(' ').filter(|(_, p)| p.starts_with('/')) else {
        eprintln!("tokengate verify: --route is `METHOD /path`, e.g. \"GET /users/7\"");
        return ExitCode::from(USAGE);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokengate verify: cannot start the runtime: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let fetcher = match jwks::Fetcher::new() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("tokengate verify: cannot build the HTTP client: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let wait = std::time::Duration::from_secs(10);
    let explain = tokengate::explain::explain(config, fetcher, method, target, token, wait);
    let (decision, steps) = runtime.block_on(explain);
    print!("{}", tokengate::explain::render(&decision, &steps));
    if decision.is_allow() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn serve(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let metrics = tokengate::metrics::install();
    let listeners = server::Listeners::bind(&config.listen).await?;
    let state = state::State::new(config, jwks::Fetcher::new()?);
    signal::reload_on_hangup(state.clone(), path.to_owned())?;
    let (grpc, http, admin) = listeners.addrs()?;
    tracing::info!(%grpc, %http, %admin, "tokengate listening");
    server::run(state, listeners, metrics, None, signal::shutdown()).await?;
    Ok(())
}
