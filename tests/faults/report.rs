//! The checks of a fault run and its table: from the harness's ledger (what
//! it was told was done), the event log and what the recording fakes saw.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::peers::Peers;
use crate::suite::{Fault, Ledger, Plan, Size};

/// The figures of a run: each must be zero except the counts and times.
#[derive(Debug, Default)]
pub struct Report {
    pub acknowledged: usize,
    pub lost: usize,
    pub stored_twice: usize,
    pub actions_without_event: usize,
    pub assigned_untold: usize,
    pub ordering_violations: usize,
    pub overruns: usize,
    pub double_owners: usize,
    pub replies_missing: usize,
    pub replies_sent_twice: usize,
    pub table: String,
}

impl Report {
    pub fn new(size: &Size, plan: Plan, l: &Ledger, faults: &[Fault], log: &[Value], peers: &Peers, owners: &[(String, String)]) -> Report {
        let kind = |e: &Value| e["type"].as_str().unwrap_or_default().to_owned();
        let text = |e: &Value| e["data"]["message"]["text"].as_str().unwrap_or_default().to_owned();
        // Inbound messages on the log (the reopened event repeats the
        // message that reopened: not counted).
        let mut inbound: HashMap<String, usize> = HashMap::new();
        for e in log {
            if e["data"]["message"]["direction"] == "inbound" && kind(e) != "switchboard.conversation.reopened" {
                *inbound.entry(text(e)).or_default() += 1;
            }
        }
        let lost = l.inbound.iter().filter(|t| !inbound.contains_key(*t)).count();
        let stored_twice = inbound.values().filter(|n| **n > 1).count();
        // Acknowledged actions and their events.
        let replied: HashSet<String> =
            log.iter().filter(|e| kind(e) == "switchboard.conversation.replied").map(text).collect();
        let mut resolved: HashMap<String, usize> = HashMap::new();
        for e in log.iter().filter(|e| kind(e) == "switchboard.conversation.resolved") {
            *resolved.entry(e["data"]["conversation_id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        }
        let actions_without_event = l.replies.iter().filter(|(_, t)| !replied.contains(t)).count()
            + l.resolves.iter().map(|(c, n)| n.saturating_sub(*resolved.get(c).unwrap_or(&0))).sum::<usize>();
        // Deliveries: every event naming an agent reached the webhook, each
        // conversation's in rising seq.
        let delivered = peers.delivered();
        let ids: HashSet<&str> = delivered.iter().filter_map(|d| d.event["id"].as_str()).collect();
        let assigned_untold = log
            .iter()
            .filter(|e| e["data"]["agent"].as_str().is_some_and(|a| !a.is_empty()) && kind(e).starts_with("switchboard.conversation."))
            .filter(|e| !ids.contains(e["id"].as_str().unwrap_or_default()))
            .count();
        let mut highest: HashMap<String, u64> = HashMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        let (mut ordering_violations, mut repeated_deliveries) = (0, 0);
        for d in &delivered {
            let id = d.event["id"].as_str().unwrap_or_default().to_owned();
            if !seen.insert(id) {
                repeated_deliveries += 1;
                continue;
            }
            let (Some(conv), Some(seq)) = (d.event["data"]["conversation_id"].as_str(), d.event["seq"].as_u64()) else { continue };
            let top = highest.entry(conv.to_owned()).or_default();
            if seq < *top {
                ordering_violations += 1;
            }
            *top = (*top).max(seq);
        }
        // Open conversations with two owners.
        let mut owner_of: HashMap<&str, usize> = HashMap::new();
        for (_, c) in owners {
            *owner_of.entry(c).or_default() += 1;
        }
        let double_owners = owner_of.values().filter(|n| **n > 1).count();
        // Replies at the provider.
        let mut sent: HashMap<String, usize> = HashMap::new();
        for t in peers.sent() {
            *sent.entry(t).or_default() += 1;
        }
        // The crash window: replies whose sender died mid-call, marked
        // `uncertain` and told to the agent (`send_failed`, reason
        // `uncertain`) instead of resent. Counted, not failed.
        let uncertain: HashSet<&str> = log
            .iter()
            .filter(|e| kind(e) == "switchboard.conversation.send_failed" && e["data"]["reason"] == "uncertain")
            .filter_map(|e| e["data"]["message"]["id"].as_str())
            .collect();
        let reply_ids: HashMap<String, &str> = log
            .iter()
            .filter(|e| kind(e) == "switchboard.conversation.replied")
            .filter_map(|e| Some((text(e), e["data"]["message"]["id"].as_str()?)))
            .collect();
        let unsent: Vec<&String> = l.replies.iter().map(|(_, t)| t).filter(|t| !sent.contains_key(*t)).collect();
        let crash_window = unsent.iter().filter(|t| reply_ids.get(**t).is_some_and(|id| uncertain.contains(id))).count();
        let replies_missing = unsent.len() - crash_window;
        let replies_sent_twice = sent.values().filter(|n| **n > 1).count();

        let mut table = String::new();
        let line = |t: &mut String, k: &str, v: String| t.push_str(&format!("| {k:<44} | {v:>12} |\n"));
        table.push_str(&match plan {
            Plan::Faults => format!(
                "fault run: {} messages (SMS, every fourth WeChat), 3 replicas, appendfsync {}, storm {} s, Redis outage {} s\n\n",
                size.messages, size.appendfsync, size.storm_secs, size.redis_outage_secs
            ),
            Plan::LeaderKill => format!(
                "cluster run: {} messages (SMS, every fourth WeChat), 3 replicas, 3 nats-servers, stream_replicas 3\n\n",
                size.messages
            ),
        });
        table.push_str(
            "| fault | lasted | intake 200 after | webhook after | longest intake gap |\n| --- | --- | --- | --- | --- |\n",
        );
        let oks: Vec<Instant> = l.intake.iter().filter(|(_, ok)| *ok).map(|(at, _)| *at).collect();
        for f in faults {
            let ok_after = oks.iter().filter(|at| **at >= f.recovered).map(|at| *at - f.recovered).min();
            let hook_after = delivered.iter().filter(|d| d.at >= f.recovered).map(|d| d.at - f.recovered).min();
            let ms = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{} ms", d.as_millis()));
            table.push_str(&format!(
                "| {} | {:.1} s | {} | {} | {} |\n",
                f.name,
                (f.recovered - f.injected).as_secs_f64(),
                ms(ok_after),
                ms(hook_after),
                ms(longest_gap(&oks, f.injected, f.recovered + Duration::from_secs(3)))
            ));
        }
        table.push('\n');
        let failed_answers = l.intake.iter().filter(|(_, ok)| !ok).count();
        line(&mut table, "inbound acknowledged (200)", l.inbound.len().to_string());
        line(&mut table, "intake answers other than 200 (retried)", failed_answers.to_string());
        line(&mut table, "events on the log", log.len().to_string());
        line(&mut table, "events delivered to the webhook", delivered.len().to_string());
        line(&mut table, "replies acknowledged / resolves acknowledged", format!("{} / {}", l.replies.len(), l.resolves.values().sum::<usize>()));
        let report = Report {
            acknowledged: l.inbound.len(),
            lost,
            stored_twice,
            actions_without_event,
            assigned_untold,
            ordering_violations,
            overruns: l.overruns.len(),
            double_owners,
            replies_missing,
            replies_sent_twice,
            table: String::new(),
        };
        line(&mut table, "lost inbound messages", lost.to_string());
        line(&mut table, "inbound messages stored twice", stored_twice.to_string());
        line(&mut table, "acknowledged actions without their event", actions_without_event.to_string());
        line(&mut table, "agent events never delivered", assigned_untold.to_string());
        line(&mut table, "ordering violations", ordering_violations.to_string());
        line(&mut table, "repeated deliveries (absorbed by id)", repeated_deliveries.to_string());
        line(&mut table, "sampled capacity overruns", l.overruns.len().to_string());
        line(&mut table, "conversations with two owners", double_owners.to_string());
        line(&mut table, "replies in the crash window (agent told)", crash_window.to_string());
        line(&mut table, "acknowledged replies never sent (untold)", replies_missing.to_string());
        line(&mut table, "replies sent twice", replies_sent_twice.to_string());
        Report { table, ..report }
    }

    /// The checks that must be zero.
    pub fn failures(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (n, what) in [
            (self.lost, "lost inbound messages"),
            (self.stored_twice, "inbound messages stored twice"),
            (self.actions_without_event, "acknowledged actions without their event"),
            (self.assigned_untold, "agent events never delivered"),
            (self.ordering_violations, "ordering violations"),
            (self.overruns, "capacity overruns"),
            (self.double_owners, "conversations with two owners"),
            (self.replies_missing, "acknowledged replies never sent"),
            (self.replies_sent_twice, "replies sent twice"),
        ] {
            if n > 0 {
                out.push(what);
            }
        }
        if self.acknowledged == 0 {
            out.push("no message was acknowledged at all");
        }
        out
    }
}

/// The longest time without a 200 at intake from `from` to `to`, starting
/// at `from`: how long intake was away around a fault (the traffic's own
/// spacing, a few hundred milliseconds at the suite's size, is its floor).
fn longest_gap(oks: &[Instant], from: Instant, to: Instant) -> Option<Duration> {
    let mut inside: Vec<Instant> = oks.iter().copied().filter(|at| *at >= from && *at <= to).collect();
    inside.sort();
    let mut last = from;
    let mut longest = Duration::ZERO;
    for at in inside {
        longest = longest.max(at - last);
        last = at;
    }
    (last > from).then_some(longest)
}
