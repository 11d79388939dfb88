//! What the benchmark reads about the machine and its own process.

use serde::Serialize;

/// The machine the run happened on.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Machine {
    /// CPUs available to this process (`nproc`).
    pub cpus: usize,
    /// CPU model, from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Total memory, MiB.
    pub memory_mib: u64,
    /// Kernel release.
    pub kernel: String,
    /// `nats-server` version, as the server announces it.
    pub nats_server: String,
    /// `redis-server` version, from `INFO server`.
    pub redis_server: String,
}

impl Machine {
    /// Reads what `/proc` says; the server versions are filled in by the caller.
    pub fn local() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_owned()))
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            cpu_model,
            memory_mib: kib_field(&meminfo, "MemTotal:").unwrap_or(0) / 1024,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned(),
            nats_server: String::new(),
            redis_server: String::new(),
        }
    }
}

/// This process's memory, from `/proc/self/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Rss {
    /// Resident set size now (`VmRSS`), MB (10^6 bytes).
    pub rss_mb: f64,
    /// Peak resident set size (`VmHWM`) since start or the last
    /// [`reset_peak`], MB.
    pub peak_mb: f64,
}

impl Rss {
    /// Reads `VmRSS` and `VmHWM` (zero where unavailable).
    pub fn now() -> Rss {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let mb = |field| kib_field(&status, field).map_or(0.0, |k| (k as f64 * 1024.0 / 1e5).round() / 10.0);
        Rss { rss_mb: mb("VmRSS:"), peak_mb: mb("VmHWM:") }
    }
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux: `5` to
/// `/proc/self/clear_refs`), so the next reading is the peak of what
/// follows. Returns whether it worked; if not, the peak is since start.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The number of a `Field:   1234 kB` line.
fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_kib_fields() {
        let status = "Name:\tx\nVmHWM:\t  20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(super::kib_field(status, "VmRSS:"), Some(10240));
        assert_eq!(super::kib_field(status, "VmHWM:"), Some(20480));
        assert_eq!(super::kib_field(status, "VmSwap:"), None);
    }

    #[test]
    fn reads_this_process() {
        let rss = super::Rss::now();
        assert!(rss.rss_mb > 0.0 && rss.peak_mb >= rss.rss_mb);
    }
}
