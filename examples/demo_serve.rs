//! Runs the simulated estate like `shipdeck demo --serve --write-config DIR` (until the CLI wires
//! it): `cargo run --example demo_serve -- DIR [SCALE]`.
#[tokio::main]
async fn main() -> color_eyre::Result<()> {
    let dir = std::env::args().nth(1).map(std::path::PathBuf::from);
    let scale = std::env::args().nth(2).and_then(|s| s.parse().ok());
    let opts = shipdeck::demo::DemoOptions {
        scale,
        ..Default::default()
    };
    shipdeck::demo::serve(opts, dir).await
}
