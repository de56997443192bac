//! `tokengate`: parse the command line, start logging, run the command, exit with its code.

use std::process::ExitCode;

use clap::Parser;
use tokengate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _logging = tokengate::log::init(cli.log_format);
    cli.run()
}
