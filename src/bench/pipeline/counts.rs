//! What Redis counted over a run: commands and script calls per message
//! (`INFO commandstats`), and the store's round trips per message.



/// redis-server's counters at one moment.
#[derive(Clone, Copy, Debug)]
pub(super) struct RedisCounts {
    /// `total_commands_processed`: every command, those run inside
    /// scripts included.
    pub(super) commands: u64,
    /// Script calls (`EVALSHA`, `EVAL`, `FCALL` and their `_RO` forms),
    /// from `INFO commandstats`.
    pub(super) scripts: u64,
}

/// redis-server's counters, or `None`.
pub(super) async fn redis_commands(url: &str) -> Option<RedisCounts> {
    let client = redis::Client::open(url).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let stats: String = redis::cmd("INFO").arg("stats").query_async(&mut conn).await.ok()?;
    let commands = stats.lines().find_map(|l| l.strip_prefix("total_commands_processed:")).and_then(|v| v.trim().parse().ok())?;
    let commandstats: String = redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.ok()?;
    Some(RedisCounts { commands, scripts: script_calls(&commandstats) })
}

/// The script calls in an `INFO commandstats` text.
pub(super) fn script_calls(commandstats: &str) -> u64 {
    const SCRIPT_COMMANDS: [&str; 6] = ["evalsha", "eval", "fcall", "evalsha_ro", "eval_ro", "fcall_ro"];
    commandstats
        .lines()
        .filter_map(|l| l.strip_prefix("cmdstat_")?.split_once(':'))
        .filter(|(name, _)| SCRIPT_COMMANDS.contains(name))
        .filter_map(|(_, fields)| fields.split(',').find_map(|f| f.strip_prefix("calls="))?.parse::<u64>().ok())
        .sum()
}

/// Commands and script calls per message between two readings (the
/// readings' own two `INFO` commands excluded).
pub(super) fn per_message(before: Option<RedisCounts>, after: Option<RedisCounts>, messages: usize) -> (f64, f64) {
    match (before, after) {
        (Some(b), Some(a)) if messages > 0 => (
            a.commands.saturating_sub(b.commands).saturating_sub(2) as f64 / messages as f64,
            a.scripts.saturating_sub(b.scripts) as f64 / messages as f64,
        ),
        _ => (0.0, 0.0),
    }
}

/// The daemon's round trips to Redis since `before`, per message (its
/// background work during the run included: the SLA timers' polls, the
/// relay's and the sweep's).
pub(super) fn trips_per_message(before: u64, messages: usize) -> f64 {
    crate::store::conn::round_trips().saturating_sub(before) as f64 / messages.max(1) as f64
}
