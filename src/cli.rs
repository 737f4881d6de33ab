//! Command-line definitions for every verb of PRODUCT.md §5.
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "shipdeck", version, about)]
pub struct Cli {}
