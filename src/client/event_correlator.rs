//! What becomes of an Event before it is sent, as client-go's correlator decides it: similar
//! Events (same object, type and reason, different messages) are combined once there are too many
//! of them in a window, a repeat of a recorded Event bumps its `count`, and each object has a
//! budget of Events (a burst, refilled slowly) so one object cannot flood the API server.
//! Plain data and the clock: no IO.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::events::EventType;

/// client-go's defaults: 10 distinct messages in 10 minutes before similar Events are combined.
pub const MAX_SIMILAR: usize = 10;
pub const SIMILAR_WINDOW: Duration = Duration::from_secs(600);
/// The message prefix of a combined Event (as client-go writes it).
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";
/// Entries kept per table before the oldest half is forgotten.
const LIMIT: usize = 4096;

/// The Event an object's change is about: `kind/namespace/name`, type, reason.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subject {
    pub object: String,
    pub type_: EventType,
    pub reason: String,
}

/// What to do with one Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Correlated {
    /// Create a new Event with this message.
    Create { message: String },
    /// The same Event was recorded as `namespace/name` with `count`: bump it (and set its
    /// message, which differs for a combined Event).
    Bump {
        namespace: String,
        name: String,
        count: i32,
        message: String,
    },
    /// Over the object's budget: drop it.
    Drop,
}

struct Similar {
    since: Instant,
    messages: HashSet<String>,
}

struct Budget {
    tokens: f64,
    at: Instant,
}

struct Recorded {
    namespace: String,
    name: String,
    count: i32,
    at: Instant,
}

/// The correlator's memory (bounded: [`LIMIT`] entries per table).
pub struct Correlator {
    burst: u32,
    refill: Duration,
    similar: HashMap<Subject, Similar>,
    recorded: HashMap<(Subject, String), Recorded>,
    budgets: HashMap<String, Budget>,
}

impl Correlator {
    /// `burst` Events per object, refilled at one per `refill` (client-go: 25 and 5 minutes).
    pub fn new(burst: u32, refill: Duration) -> Self {
        Self {
            burst: burst.max(1),
            refill: refill.max(Duration::from_millis(1)),
            similar: HashMap::new(),
            recorded: HashMap::new(),
            budgets: HashMap::new(),
        }
    }

    /// Decide about `message` on `subject` at `now`.
    pub fn correlate(&mut self, subject: &Subject, message: &str, now: Instant) -> Correlated {
        let message = self.aggregate(subject, message, now);
        if !self.spend(&subject.object, now) {
            return Correlated::Drop;
        }
        match self
            .recorded
            .get(&(subject.clone(), dedup_key(&message).to_string()))
        {
            Some(r) => Correlated::Bump {
                namespace: r.namespace.clone(),
                name: r.name.clone(),
                count: r.count + 1,
                message,
            },
            None => Correlated::Create { message },
        }
    }

    /// The Event `subject`/`message` now exists as `namespace/name` with `count`.
    pub fn recorded(
        &mut self,
        subject: &Subject,
        message: String,
        namespace: String,
        name: String,
        count: i32,
        now: Instant,
    ) {
        bound(&mut self.recorded, |r| r.at);
        self.recorded.insert(
            (subject.clone(), dedup_key(&message).to_string()),
            Recorded {
                namespace,
                name,
                count,
                at: now,
            },
        );
    }

    /// Forget `subject`/`message` (its Event could not be bumped: it is gone).
    pub fn forget(&mut self, subject: &Subject, message: &str) {
        self.recorded
            .remove(&(subject.clone(), message.to_string()));
    }

    /// The message to send: `message`, or the combined form once the subject had
    /// [`MAX_SIMILAR`] distinct messages within [`SIMILAR_WINDOW`].
    fn aggregate(&mut self, subject: &Subject, message: &str, now: Instant) -> String {
        bound(&mut self.similar, |s| s.since);
        let entry = self.similar.entry(subject.clone()).or_insert(Similar {
            since: now,
            messages: HashSet::new(),
        });
        if now.saturating_duration_since(entry.since) > SIMILAR_WINDOW {
            entry.since = now;
            entry.messages.clear();
        }
        if entry.messages.contains(message) {
            return message.to_string();
        }
        if entry.messages.len() >= MAX_SIMILAR {
            return format!("{COMBINED_PREFIX}{message}");
        }
        entry.messages.insert(message.to_string());
        message.to_string()
    }

    /// Take one Event from `object`'s budget; false when it is spent.
    fn spend(&mut self, object: &str, now: Instant) -> bool {
        bound(&mut self.budgets, |b| b.at);
        let (burst, refill) = (f64::from(self.burst), self.refill.as_secs_f64());
        let b = self.budgets.entry(object.to_string()).or_insert(Budget {
            tokens: burst,
            at: now,
        });
        let earned = now.saturating_duration_since(b.at).as_secs_f64() / refill;
        b.tokens = (b.tokens + earned).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What makes two Events of a subject the same Event: the message, except that every combined
/// message is one Event (its message is the latest one combined).
fn dedup_key(message: &str) -> &str {
    if message.starts_with(COMBINED_PREFIX) {
        COMBINED_PREFIX
    } else {
        message
    }
}

/// Keep `map` under [`LIMIT`] entries by forgetting the older half when it is full.
fn bound<K: Clone + Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>, at: impl Fn(&V) -> Instant) {
    if map.len() < LIMIT {
        return;
    }
    let mut times: Vec<Instant> = map.values().map(&at).collect();
    times.sort_unstable();
    let cut = times[times.len() / 2];
    map.retain(|_, v| at(v) > cut);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(object: &str, reason: &str) -> Subject {
        Subject {
            object: object.into(),
            type_: EventType::Normal,
            reason: reason.into(),
        }
    }

    #[test]
    fn a_repeat_bumps_the_recorded_event() {
        let mut c = Correlator::new(25, Duration::from_secs(300));
        let s = subject("CAPTCluster/ns/a", "VPCCreated");
        let now = Instant::now();
        let first = c.correlate(&s, "VPC vpc-1 is ready", now);
        assert_eq!(
            first,
            Correlated::Create {
                message: "VPC vpc-1 is ready".into()
            }
        );
        c.recorded(
            &s,
            "VPC vpc-1 is ready".into(),
            "ns".into(),
            "a.1".into(),
            1,
            now,
        );
        assert_eq!(
            c.correlate(&s, "VPC vpc-1 is ready", now),
            Correlated::Bump {
                namespace: "ns".into(),
                name: "a.1".into(),
                count: 2,
                message: "VPC vpc-1 is ready".into()
            }
        );
        // Another object's same Event is its own.
        let other = subject("CAPTCluster/ns/b", "VPCCreated");
        assert!(matches!(
            c.correlate(&other, "VPC vpc-1 is ready", now),
            Correlated::Create { .. }
        ));
    }

    #[test]
    fn many_similar_messages_are_combined_into_one_event() {
        let mut c = Correlator::new(100, Duration::from_secs(300));
        let s = subject("CAPTControlPlane/ns/a", "WorkspaceError");
        let now = Instant::now();
        for i in 0..MAX_SIMILAR {
            let m = format!("error {i}");
            assert_eq!(c.correlate(&s, &m, now), Correlated::Create { message: m });
        }
        let combined = format!("{COMBINED_PREFIX}error 99");
        assert_eq!(
            c.correlate(&s, "error 99", now),
            Correlated::Create {
                message: combined.clone()
            }
        );
        c.recorded(&s, combined.clone(), "ns".into(), "a.x".into(), 1, now);
        // Further new messages bump the one combined Event.
        assert!(matches!(
            c.correlate(&s, "error 100", now),
            Correlated::Bump { count: 2, .. }
        ));
        // A message seen in the window is still sent as itself.
        assert_eq!(
            c.correlate(&s, "error 3", now),
            Correlated::Create {
                message: "error 3".into()
            }
        );
        // After the window, messages are distinct again.
        let later = now + SIMILAR_WINDOW + Duration::from_secs(1);
        assert_eq!(
            c.correlate(&s, "error 101", later),
            Correlated::Create {
                message: "error 101".into()
            }
        );
    }

    #[test]
    fn each_object_has_a_burst_refilled_slowly() {
        let mut c = Correlator::new(3, Duration::from_secs(300));
        let s = subject("CAPTCluster/ns/a", "R");
        let now = Instant::now();
        for i in 0..3 {
            assert_ne!(c.correlate(&s, &format!("m{i}"), now), Correlated::Drop);
        }
        assert_eq!(c.correlate(&s, "m3", now), Correlated::Drop);
        // Another object is not affected.
        let t = subject("CAPTCluster/ns/b", "R");
        assert_ne!(c.correlate(&t, "m", now), Correlated::Drop);
        // One Event is earned back per refill period.
        let later = now + Duration::from_secs(300);
        assert_ne!(c.correlate(&s, "m4", later), Correlated::Drop);
        assert_eq!(c.correlate(&s, "m5", later), Correlated::Drop);
    }

    #[test]
    fn memory_stays_bounded() {
        let mut c = Correlator::new(1, Duration::from_secs(300));
        let start = Instant::now();
        for i in 0..3 * LIMIT {
            let now = start + Duration::from_millis(i as u64);
            let s = subject(&format!("CAPTCluster/ns/{i}"), "R");
            if let Correlated::Create { message } = c.correlate(&s, "m", now) {
                c.recorded(&s, message, "ns".into(), format!("{i}"), 1, now);
            }
        }
        assert!(c.similar.len() <= LIMIT);
        assert!(c.recorded.len() <= LIMIT);
        assert!(c.budgets.len() <= LIMIT);
    }
}
