//! The progress line on stderr: redrawn in place on a terminal, one line per second otherwise.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use super::view::Phase;

/// Width of the bar in characters.
const BAR_WIDTH: usize = 20;
/// Redraw period on a terminal.
const TTY_PERIOD: Duration = Duration::from_millis(100);
/// Line period when stderr is a file or a pipe.
const LOG_PERIOD: Duration = Duration::from_secs(1);

/// `[##########..........] 10/20 Ready · 6 Creating · 4 Pending  (3.2s)`
pub fn line(counts: &BTreeMap<Phase, usize>, total: usize, elapsed: Duration) -> String {
    let ready = counts.get(&Phase::Ready).copied().unwrap_or(0);
    let filled = (ready * BAR_WIDTH).checked_div(total).unwrap_or(0);
    let mut s = format!(
        "[{}{}] {ready}/{total} Ready",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled.min(BAR_WIDTH))
    );
    for phase in [Phase::Creating, Phase::Pending, Phase::Failed] {
        match counts.get(&phase).copied().unwrap_or(0) {
            0 if phase == Phase::Failed => {}
            n => s.push_str(&format!(" · {n} {}", phase.as_str())),
        }
    }
    s.push_str(&format!("  ({:.1}s)", elapsed.as_secs_f64()));
    s
}

/// Draws progress lines to stderr.
pub struct Progress {
    tty: bool,
    enabled: bool,
    last: Option<Instant>,
    last_line: String,
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            enabled,
            last: None,
            last_line: String::new(),
        }
    }

    /// How often [`Progress::draw`] wants to be called.
    pub fn period(&self) -> Duration {
        if self.tty { TTY_PERIOD } else { LOG_PERIOD }
    }

    /// Draws `text` if it is time to (always when `force`).
    pub fn draw(&mut self, text: &str, force: bool) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let due = self
            .last
            .is_none_or(|t| now.duration_since(t) >= self.period());
        if !(due || force) || (force && !self.tty && text == self.last_line) {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r\x1b[2K{text}")
        } else {
            writeln!(err, "{text}")
        };
        let _ = err.flush();
        self.last = Some(now);
        self.last_line = text.to_string();
    }

    /// Ends the progress display (a final newline on a terminal).
    pub fn finish(&mut self) {
        if self.enabled && self.tty && self.last.is_some() {
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts() {
        let counts: BTreeMap<_, _> = [
            (Phase::Ready, 12),
            (Phase::Creating, 5),
            (Phase::Pending, 3),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            line(&counts, 20, Duration::from_millis(3300)),
            "[############........] 12/20 Ready · 5 Creating · 3 Pending  (3.3s)"
        );
        let counts: BTreeMap<_, _> = [(Phase::Ready, 1), (Phase::Failed, 1)]
            .into_iter()
            .collect();
        assert_eq!(
            line(&counts, 2, Duration::ZERO),
            "[##########..........] 1/2 Ready · 0 Creating · 0 Pending · 1 Failed  (0.0s)"
        );
        assert!(line(&BTreeMap::new(), 0, Duration::ZERO).starts_with("[....."));
    }
}
