use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    henji::telemetry::init_logging();
    henji::cli::run(henji::cli::Cli::parse()).await
}
