//! The pod log view: a bounded ring buffer of sanitized lines, follow mode and scrolling.
use crate::text::sanitize;
use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogView {
    /// Replies for other requests (an older stream) are dropped.
    pub request: u64,
    pub env: String,
    pub namespace: String,
    pub pod: String,
    pub container: Option<String>,
    lines: VecDeque<String>,
    capacity: usize,
    /// Lines dropped from the front since the view opened.
    pub dropped: u64,
    /// Follow the tail: new lines keep the view at the bottom.
    pub follow: bool,
    /// Lines between the bottom of the view and the newest line (0 while following).
    pub scroll: usize,
    /// Set when the stream ended; `Some(error)` when it failed.
    pub ended: Option<Option<String>>,
}

impl LogView {
    pub fn new(
        request: u64,
        env: String,
        namespace: String,
        pod: String,
        container: Option<String>,
        capacity: usize,
    ) -> LogView {
        LogView {
            request,
            env,
            namespace,
            pod,
            container,
            lines: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
            follow: true,
            scroll: 0,
            ended: None,
        }
    }

    /// Appends lines (sanitized once here, not per frame), dropping the oldest past the capacity.
    pub fn push(&mut self, lines: Vec<String>) {
        let added = lines.len();
        for line in lines {
            if self.lines.len() == self.capacity {
                self.lines.pop_front();
                self.dropped += 1;
            }
            self.lines.push_back(sanitize(&line).into_owned());
        }
        // Scrolled back: keep the same lines in view while new ones arrive below.
        if !self.follow {
            self.scroll = (self.scroll + added).min(self.max_scroll());
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The lines a view of `height` rows shows, oldest first.
    pub fn window(&self, height: usize) -> impl Iterator<Item = &str> {
        let end = self.lines.len().saturating_sub(self.scroll);
        let start = end.saturating_sub(height);
        self.lines.range(start..end).map(String::as_str)
    }

    fn max_scroll(&self) -> usize {
        self.lines.len().saturating_sub(1)
    }

    /// Scrolls back (`up`) or forward by `n` lines; reaching the bottom resumes following.
    pub fn scroll_by(&mut self, up: bool, n: usize) {
        if up {
            self.scroll = (self.scroll + n).min(self.max_scroll());
        } else {
            self.scroll = self.scroll.saturating_sub(n);
        }
        self.follow = self.scroll == 0;
    }

    pub fn to_top(&mut self) {
        self.scroll = self.max_scroll();
        self.follow = self.scroll == 0;
    }

    pub fn to_bottom(&mut self) {
        self.scroll = 0;
        self.follow = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(cap: usize) -> LogView {
        LogView::new(1, "e".into(), "ns".into(), "pod".into(), None, cap)
    }

    #[test]
    fn bounded_and_sanitized() {
        let mut v = view(3);
        v.push((0..5).map(|i| format!("line {i}\u{1b}[2J")).collect());
        assert_eq!(v.len(), 3);
        assert_eq!(v.dropped, 2);
        let shown: Vec<_> = v.window(10).collect();
        assert_eq!(shown, ["line 2", "line 3", "line 4"]);
    }

    #[test]
    fn scrolling_stops_following_and_holds_position() {
        let mut v = view(100);
        v.push((0..10).map(|i| i.to_string()).collect());
        v.scroll_by(true, 3);
        assert!(!v.follow);
        assert_eq!(v.window(2).collect::<Vec<_>>(), ["5", "6"]);
        v.push(vec!["10".into()]);
        assert_eq!(v.window(2).collect::<Vec<_>>(), ["5", "6"]);
        v.to_bottom();
        assert!(v.follow);
        assert_eq!(v.window(2).collect::<Vec<_>>(), ["9", "10"]);
    }
}
