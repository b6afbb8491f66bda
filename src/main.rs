use std::process::ExitCode;

use clap::Parser;

/// glibc's malloc keeps what the runtime's and tantivy's many threads free in per-thread
/// arenas, about three times the memory in use after a large ingest; mimalloc gives it back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    henji::telemetry::init_logging();
    henji::cli::run(henji::cli::Cli::parse()).await
}
