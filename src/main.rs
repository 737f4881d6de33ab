//! The thin binary: parse the command line and hand over to the library.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = shipdeck::cli::Cli::parse();
    shipdeck::run(cli)
}
