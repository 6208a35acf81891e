//! The `askfirst` binary: the server and its command line.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc rather than glibc's allocator, which took about 14 % of the server's CPU on
/// the allowed path (`docs/benchmarks.md`, section 1).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = askfirst::cli::Cli::parse();
    let mut runtime = if cli.one_thread() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: could not start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(askfirst::cli::main(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
