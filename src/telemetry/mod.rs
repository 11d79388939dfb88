//! Logs and metrics. Labels are bounded (channel, account, queue, route,
//! outcome), never ids, addresses or text; addresses reach logs only
//! through `switchboard_core::Masked`.

mod care;
mod live;
mod metrics;

pub use care::CareMetrics;
pub use metrics::{LiveFigures, Metrics, Outcome};

use crate::config::{LogFormat, LogSettings};

/// Installs the global tracing subscriber (the binary calls this once;
/// tests leave it alone).
pub fn init_logging(settings: &LogSettings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (only possible in tests) is harmless; ignore it.
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
