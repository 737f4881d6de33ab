//! The one HTTP client constructor: rustls, a connect and a total timeout on every call.
use std::time::Duration;

/// Timeout for a whole request unless a caller sets a shorter one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn client() -> reqwest::Client {
    crate::install_crypto();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(DEFAULT_TIMEOUT)
        .user_agent(concat!("shipdeck/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
