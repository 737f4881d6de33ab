//! The simulated clock: sim time = start + wall elapsed × speed, pausable, with a change signal.
use jiff::{SignedDuration, Timestamp};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy)]
struct State {
    /// Sim time at `base_wall`.
    base_sim: Timestamp,
    base_wall: Instant,
    speed: f64,
    paused: bool,
}

impl State {
    fn now(&self) -> Timestamp {
        if self.paused {
            return self.base_sim;
        }
        let wall = self.base_wall.elapsed().as_secs_f64() * self.speed;
        let nanos = (wall * 1e9).min(i64::MAX as f64) as i64;
        self.base_sim
            .checked_add(SignedDuration::from_nanos(nanos))
            .unwrap_or(self.base_sim)
    }

    /// Moves the base to now so speed and pause changes apply from here on.
    fn rebase(&mut self) {
        self.base_sim = self.now();
        self.base_wall = Instant::now();
    }
}

/// A clock shared by the store (timestamps), the controller (timers) and traffic (rates).
#[derive(Debug)]
pub struct SimClock {
    state: Mutex<State>,
    /// Bumped on every pause, resume, speed change or jump; the controller re-plans its sleep.
    changed: watch::Sender<u64>,
}

impl SimClock {
    pub fn new(start: Timestamp, speed: f64, paused: bool) -> SimClock {
        SimClock {
            state: Mutex::new(State {
                base_sim: start,
                base_wall: Instant::now(),
                speed: sanitize_speed(speed),
                paused,
            }),
            changed: watch::Sender::new(0),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.with(|s| s.now())
    }

    /// Sim time in milliseconds since the Unix epoch (the controller's timer unit).
    pub fn now_ms(&self) -> i64 {
        self.now().as_millisecond()
    }

    pub fn speed(&self) -> f64 {
        self.with(|s| s.speed)
    }

    pub fn is_paused(&self) -> bool {
        self.with(|s| s.paused)
    }

    pub fn pause(&self) {
        self.update(|s| {
            s.rebase();
            s.paused = true;
        });
    }

    pub fn resume(&self) {
        self.update(|s| {
            s.rebase();
            s.paused = false;
        });
    }

    pub fn set_speed(&self, speed: f64) {
        self.update(|s| {
            s.rebase();
            s.speed = sanitize_speed(speed);
        });
    }

    /// Jumps sim time forward (tests; also works while paused).
    pub fn advance(&self, by: SignedDuration) {
        self.update(|s| {
            s.rebase();
            s.base_sim = s.base_sim.checked_add(by).unwrap_or(s.base_sim);
        });
    }

    /// Wall time until sim time reaches `at_ms`; `None` while paused (it never comes).
    pub fn wall_until(&self, at_ms: i64) -> Option<Duration> {
        self.with(|s| {
            if s.paused {
                return None;
            }
            let sim_ms = (at_ms - s.now().as_millisecond()).max(0) as f64;
            Some(Duration::from_secs_f64(sim_ms / 1000.0 / s.speed))
        })
    }

    /// A receiver that changes whenever pause, speed or time jumps.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn with<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        match self.state.lock() {
            Ok(s) => f(&s),
            Err(p) => f(&p.into_inner()),
        }
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

fn sanitize_speed(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        speed.clamp(0.001, 100_000.0)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_clock_stands_still_and_advance_jumps() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let c = SimClock::new(t0, 10.0, true);
        assert_eq!(c.now(), t0);
        assert!(c.wall_until(t0.as_millisecond() + 1000).is_none());
        c.advance(SignedDuration::from_secs(5));
        assert_eq!(c.now().as_second(), t0.as_second() + 5);
    }

    #[test]
    fn speed_scales_wall_time() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let c = SimClock::new(t0, 1000.0, false);
        let w = c.wall_until(t0.as_millisecond() + 10_000).unwrap();
        assert!(w <= Duration::from_millis(10), "{w:?}");
        std::thread::sleep(Duration::from_millis(20));
        assert!(c.now().as_second() - t0.as_second() >= 19);
        let mut rx = c.subscribe();
        c.set_speed(0.0); // invalid → 1.0
        assert!(rx.has_changed().unwrap());
        assert_eq!(c.speed(), 1.0);
        rx.mark_unchanged();
        c.pause();
        let a = c.now();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.now(), a);
        c.resume();
        assert!(!c.is_paused());
    }
}
