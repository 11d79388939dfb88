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
            .find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_owned())
            })
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
    fn reads_cpu_times_after_the_command_name() {
        let stat = "42 (tokio runtime) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0";
        assert_eq!(super::stat_cpu(stat), Some(3.0));
        let t = super::CpuTimes::read(super::Servers::default());
        assert!(t.total > 0.0);
    }

    #[test]
    fn reads_this_process() {
        let rss = super::Rss::now();
        assert!(rss.rss_mb > 0.0 && rss.peak_mb >= rss.rss_mb);
    }
}

/// Name of the threads that generate load (HTTP client, NATS observer):
/// their CPU is told apart from the in-process daemon's.
pub const LOAD_THREADS: &str = "bench-load";

/// Clock ticks per second of `/proc` CPU times (`USER_HZ`, 100 on Linux).
const TICKS: f64 = 100.0;

/// Cumulative CPU times, seconds, at one instant.
#[derive(Clone, Debug)]
pub struct CpuTimes {
    at: std::time::Instant,
    daemon: f64,
    load: f64,
    nats: Option<f64>,
    redis: Option<f64>,
    busy: f64,
    total: f64,
}

/// The servers' process ids, when they run on this machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct Servers {
    /// `nats-server`, when exactly one runs here.
    pub nats: Option<u32>,
    /// `redis-server`, from `INFO server`, when that process runs here.
    pub redis: Option<u32>,
}

impl Servers {
    /// Finds the servers: Redis by the `process_id` it reports (checked
    /// against `/proc`), NATS as the only `nats-server` process.
    pub fn find(redis_pid: Option<u32>) -> Servers {
        let comm = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let mut nats = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) {
                    if comm(pid).trim() == "nats-server" {
                        nats.push(pid);
                    }
                }
            }
        }
        Servers {
            nats: (nats.len() == 1).then(|| nats[0]),
            redis: redis_pid.filter(|pid| comm(*pid).starts_with("redis-server")),
        }
    }
}

/// utime + stime of a `/proc/…/stat` line, seconds.
fn stat_cpu(stat: &str) -> Option<f64> {
    // The command name may hold spaces: fields are counted after its `)`.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS)
}

fn process_cpu(pid: u32) -> Option<f64> {
    stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

impl CpuTimes {
    /// Reads this process's threads (load generator apart), the servers'
    /// processes and the machine's total.
    pub fn read(servers: Servers) -> CpuTimes {
        let (mut daemon, mut load) = (0.0, 0.0);
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                let path = task.path();
                let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
                let cpu = std::fs::read_to_string(path.join("stat")).ok().and_then(|s| stat_cpu(&s)).unwrap_or(0.0);
                if name.starts_with(LOAD_THREADS) {
                    load += cpu;
                } else {
                    daemon += cpu;
                }
            }
        }
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<f64> =
            stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|t| t.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal …
        let total: f64 = ticks.iter().take(8).sum::<f64>() / TICKS;
        let idle = (ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0)) / TICKS;
        CpuTimes {
            at: std::time::Instant::now(),
            daemon,
            load,
            nats: servers.nats.and_then(process_cpu),
            redis: servers.redis.and_then(process_cpu),
            busy: total - idle,
            total,
        }
    }

    /// The CPU used between `self` and a later reading, for `messages`
    /// messages.
    pub fn until(&self, later: &CpuTimes, messages: usize) -> CpuUse {
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let cores = |a: f64, b: f64| ((b - a) / wall * 100.0).round() / 100.0;
        let per_msg = |a: f64, b: f64| ((b - a) / messages.max(1) as f64 * 1e6).round();
        let opt = |a: Option<f64>, b: Option<f64>, f: &dyn Fn(f64, f64) -> f64| a.zip(b).map(|(a, b)| f(a, b));
        let ours = (later.daemon - self.daemon)
            + (later.load - self.load)
            + opt(self.nats, later.nats, &|a, b| b - a).unwrap_or(0.0)
            + opt(self.redis, later.redis, &|a, b| b - a).unwrap_or(0.0);
        let busy = later.busy - self.busy;
        CpuUse {
            wall_secs: (wall * 100.0).round() / 100.0,
            daemon_cores: cores(self.daemon, later.daemon),
            load_generator_cores: cores(self.load, later.load),
            nats_server_cores: opt(self.nats, later.nats, &cores),
            redis_server_cores: opt(self.redis, later.redis, &cores),
            other_processes_cores: ((busy - ours).max(0.0) / wall * 100.0).round() / 100.0,
            idle_cores: (((later.total - self.total) - busy).max(0.0) / wall * 100.0).round() / 100.0,
            daemon_us_per_message: per_msg(self.daemon, later.daemon),
            load_generator_us_per_message: per_msg(self.load, later.load),
            nats_server_us_per_message: opt(self.nats, later.nats, &per_msg),
            redis_server_us_per_message: opt(self.redis, later.redis, &per_msg),
        }
    }
}

/// Where the CPU went during a measurement: cores busy on average (1.0 =
/// one core all the time) and CPU microseconds per message, from `/proc`
/// (10 ms resolution). Server figures are absent when the server does not
/// run on this machine (or, for NATS, when several do).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CpuUse {
    /// Length of the measurement, seconds.
    pub wall_secs: f64,
    /// The daemon: this process's threads other than the load generator's.
    pub daemon_cores: f64,
    /// The benchmark's HTTP client and NATS observer (its own threads).
    pub load_generator_cores: f64,
    /// `nats-server`.
    pub nats_server_cores: Option<f64>,
    /// `redis-server`.
    pub redis_server_cores: Option<f64>,
    /// Everything else on the machine (other users, other services).
    pub other_processes_cores: f64,
    /// Idle.
    pub idle_cores: f64,
    /// Daemon CPU per message, µs.
    pub daemon_us_per_message: f64,
    /// Load generator CPU per message, µs.
    pub load_generator_us_per_message: f64,
    /// `nats-server` CPU per message, µs.
    pub nats_server_us_per_message: Option<f64>,
    /// `redis-server` CPU per message, µs.
    pub redis_server_us_per_message: Option<f64>,
}
