//! The traffic of a run, drawn up front from the seed: who writes, when,
//! on which channel, about what, in which language, whether they are VIP
//! and whether they continue on a second channel. The same seed gives the
//! same plan; only the identifiers the providers would make unique
//! (message ids, numbers, addresses) carry a per-run salt, so that a
//! second run is not taken for a replay of the first.

use std::time::Duration;

use rand::distributions::{Distribution as _, WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use crate::content::{names, Lang, Topic, TOPIC_WEIGHTS};

/// A channel a customer writes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ch {
    Sms,
    Wechat,
    Email,
    Webchat,
}

impl Ch {
    pub const ALL: [Ch; 4] = [Ch::Sms, Ch::Wechat, Ch::Email, Ch::Webchat];
    /// How often each channel is picked, in the order of [`Ch::ALL`].
    const WEIGHTS: [u32; 4] = [22, 25, 20, 33];

    pub fn name(self) -> &'static str {
        match self {
            Ch::Sms => "sms",
            Ch::Wechat => "wechat",
            Ch::Email => "email",
            Ch::Webchat => "webchat",
        }
    }
}

/// What the run can do, from the configuration.
#[derive(Clone, Debug)]
pub struct Capabilities {
    /// Channels with an account.
    pub channels: Vec<Ch>,
    /// The admin token is known: profiles (VIP tier, linked identities) can be set.
    pub admin: bool,
    /// Web chat visitors can carry the shop's signed identity.
    pub identity: bool,
}

/// One simulated customer and their conversation.
#[derive(Clone, Debug)]
pub struct Customer {
    pub n: usize,
    /// When they first write, from the start of the run.
    pub at: Duration,
    pub lang: Lang,
    pub topic: Topic,
    pub name: String,
    pub vip: bool,
    pub first: Ch,
    /// The channel of the follow-ups, when they switch.
    pub second: Option<Ch>,
    /// The texts, the first and the follow-ups.
    pub messages: Vec<String>,
    /// Think time before each follow-up, at pace 1.
    pub think: Vec<Duration>,
    pub order: String,
}

/// `rate` conversations a minute for `duration`: Poisson arrivals.
pub fn draw(seed: u64, rate: f64, duration: Duration, caps: &Capabilities) -> Vec<Customer> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut t = 0.0_f64;
    let mean_gap = 60.0 / rate.max(0.001);
    let topics = WeightedIndex::new(TOPIC_WEIGHTS).ok();
    let weights: Vec<u32> = caps
        .channels
        .iter()
        .map(|c| Ch::ALL.iter().position(|a| a == c).map_or(1, |i| Ch::WEIGHTS[i]))
        .collect();
    let channels = WeightedIndex::new(&weights).ok();
    loop {
        let n = out.len();
        if n > 0 {
            // Exponential gaps; the first customer writes at once.
            let u: f64 = rng.gen_range(f64::EPSILON..1.0);
            t += -u.ln() * mean_gap;
        }
        if t >= duration.as_secs_f64() || caps.channels.is_empty() {
            return out;
        }
        // The first customers cover every channel, so even a short run
        // shows all of them.
        let first = match (&channels, n < caps.channels.len()) {
            (_, true) => caps.channels[n],
            (Some(w), false) => caps.channels[w.sample(&mut rng)],
            (None, false) => caps.channels[n % caps.channels.len()],
        };
        let topic = topics.as_ref().map_or(Topic::Order, |w| Topic::ALL[w.sample(&mut rng)]);
        let lang = if rng.gen_bool(0.55) { Lang::Zh } else { Lang::En };
        let pool = names(lang);
        let name = pool[rng.gen_range(0..pool.len())].to_owned();
        let order = format!("SO{}", rng.gen_range(20_260_000_000u64..20_269_999_999));
        let vip = rng.gen_bool(0.15) && (caps.admin || (first == Ch::Webchat && caps.identity));
        let second = if caps.admin && caps.channels.len() > 1 && rng.gen_bool(0.2) {
            let others: Vec<Ch> = caps
                .channels
                .iter()
                .copied()
                .filter(|c| *c != first && (caps.identity || (*c != Ch::Webchat && first != Ch::Webchat)))
                .collect();
            (!others.is_empty()).then(|| others[rng.gen_range(0..others.len())])
        } else {
            None
        };
        let follow_ups = match rng.gen_range(0..10) {
            0..=3 => 0,
            4..=8 => 1,
            _ => 2,
        }
        .max(usize::from(second.is_some()));
        let openers = topic.openers(lang);
        let mut messages = vec![openers[rng.gen_range(0..openers.len())].replace("{order}", &order)];
        let mut think = Vec::new();
        let more = topic.follow_ups(lang);
        for _ in 0..follow_ups {
            messages.push(more[rng.gen_range(0..more.len())].to_owned());
            think.push(Duration::from_millis(rng.gen_range(3_000..10_000)));
        }
        out.push(Customer {
            n,
            at: Duration::from_secs_f64(t),
            lang,
            topic,
            name,
            vip,
            first,
            second,
            messages,
            think,
            order,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> Capabilities {
        Capabilities { channels: Ch::ALL.to_vec(), admin: true, identity: true }
    }

    #[test]
    fn the_same_seed_draws_the_same_traffic() {
        let a = draw(7, 120.0, Duration::from_secs(60), &caps());
        let b = draw(7, 120.0, Duration::from_secs(60), &caps());
        let c = draw(8, 120.0, Duration::from_secs(60), &caps());
        let key = |v: &[Customer]| v.iter().map(|c| (c.at, c.first, c.messages.clone(), c.vip)).collect::<Vec<_>>();
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
        // About `rate` a minute.
        assert!((80..170).contains(&a.len()), "{}", a.len());
        assert!(a.iter().any(|c| c.vip) && a.iter().any(|c| c.second.is_some()));
        assert!(a.iter().any(|c| c.lang == Lang::Zh) && a.iter().any(|c| c.lang == Lang::En));
    }

    #[test]
    fn the_first_customers_cover_every_channel() {
        let plan = draw(1, 30.0, Duration::from_secs(60), &caps());
        let first: Vec<Ch> = plan.iter().take(4).map(|c| c.first).collect();
        assert_eq!(first, Ch::ALL.to_vec());
    }

    #[test]
    fn without_an_admin_token_nobody_switches_channel() {
        let caps = Capabilities { admin: false, ..caps() };
        let plan = draw(3, 200.0, Duration::from_secs(60), &caps);
        assert!(plan.iter().all(|c| c.second.is_none() && (!c.vip || c.first == Ch::Webchat)));
    }
}
