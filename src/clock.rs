//! Clock: the system clock, or a fixed/settable one so ages and timestamps are testable.
use jiff::{SignedDuration, Timestamp};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub enum Clock {
    #[default]
    System,
    /// A clock that only moves when told (tests, snapshots).
    Manual(Arc<Mutex<Timestamp>>),
    /// Another clock, such as the simulated estate's (which may run faster or be paused), so ages
    /// and metric windows agree with the data. `rate`: its seconds per wall second (0 = paused).
    Source {
        now: Arc<dyn Fn() -> Timestamp + Send + Sync>,
        rate: Arc<dyn Fn() -> f64 + Send + Sync>,
    },
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Clock::System => f.write_str("Clock::System"),
            Clock::Manual(t) => f.debug_tuple("Clock::Manual").field(t).finish(),
            Clock::Source { .. } => f.write_str("Clock::Source"),
        }
    }
}

impl Clock {
    pub fn fixed(at: Timestamp) -> Clock {
        Clock::Manual(Arc::new(Mutex::new(at)))
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Manual(t) => t.lock().map(|t| *t).unwrap_or(Timestamp::UNIX_EPOCH),
            Clock::Source { now, .. } => now(),
        }
    }

    /// How long to sleep on the wall clock until this clock has moved `ahead`; `None` when it is
    /// paused (it will not get there by waiting). A manual clock counts as the wall clock.
    pub fn wall_wait(&self, ahead: std::time::Duration) -> Option<std::time::Duration> {
        match self {
            Clock::System | Clock::Manual(_) => Some(ahead),
            Clock::Source { rate, .. } => {
                let rate = rate();
                (rate.is_finite() && rate > 0.0).then(|| ahead.div_f64(rate))
            }
        }
    }

    /// Moves a manual clock forward; no effect on the system clock.
    pub fn advance(&self, by: SignedDuration) {
        if let Clock::Manual(t) = self
            && let Ok(mut t) = t.lock()
        {
            *t = t.checked_add(by).unwrap_or(*t);
        }
    }
}

/// Age as the board shows it: `45s`, `12m`, `3h`, `5d`.
pub fn age(now: Timestamp, then: Timestamp) -> String {
    let secs = now.duration_since(then).as_secs().max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Seconds until `age(now, then)` next changes its text; the UI sets its age timer from this.
pub fn next_age_change(now: Timestamp, then: Timestamp) -> i64 {
    let secs = now.duration_since(then).as_secs().max(0);
    let unit = match secs {
        s if s < 60 => 1,
        s if s < 3600 => 60,
        s if s < 86_400 => 3600,
        _ => 86_400,
    };
    unit - secs % unit
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn a_faster_clock_wakes_sooner_and_a_paused_one_not_at_all() {
        let at = Timestamp::UNIX_EPOCH;
        let fast = Clock::Source {
            now: Arc::new(move || at),
            rate: Arc::new(|| 60.0),
        };
        assert_eq!(
            fast.wall_wait(Duration::from_secs(60)),
            Some(Duration::from_secs(1))
        );
        let paused = Clock::Source {
            now: Arc::new(move || at),
            rate: Arc::new(|| 0.0),
        };
        assert_eq!(paused.wall_wait(Duration::from_secs(60)), None);
        assert_eq!(
            Clock::System.wall_wait(Duration::from_secs(5)),
            Some(Duration::from_secs(5))
        );
    }

    use super::*;

    #[test]
    fn ages() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let at = |s: i64| t0.checked_add(SignedDuration::from_secs(s)).unwrap();
        assert_eq!(age(at(59), t0), "59s");
        assert_eq!(age(at(61), t0), "1m");
        assert_eq!(age(at(7200), t0), "2h");
        assert_eq!(age(at(200_000), t0), "2d");
        assert_eq!(age(t0, at(5)), "0s");
        assert_eq!(next_age_change(at(61), t0), 59);
        assert_eq!(next_age_change(at(10), t0), 1);
    }

    #[test]
    fn manual_clock_advances() {
        let c = Clock::fixed(Timestamp::UNIX_EPOCH);
        c.advance(SignedDuration::from_secs(90));
        assert_eq!(c.now().as_second(), 90);
    }
}
