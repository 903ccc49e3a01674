//! `cache`: see `cache --help`.

use cache_cli::{Args, Outcome};
use clap::Parser;
use std::process::ExitCode;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    let builder = match cache_core::Cache::builder().env() {
        Ok(builder) => builder,
        Err(error) => {
            eprintln!("cache: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = match cache_cli::connect(builder).await {
        Ok(cache) => {
            let outcome = cache_cli::run(&cache, &args, &mut std::io::stdout().lock()).await;
            cache.leave_fleet().await;
            outcome
        }
        Err(failure) => Err(failure),
    };
    match outcome {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Problem) => ExitCode::from(1),
        Err(failure) => {
            eprintln!("cache: {failure}");
            ExitCode::from(2)
        }
    }
}
