//! Request counters by verb, resource and response code.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// Snapshot of request counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// `(verb, resource, code) -> requests`.
    pub requests: BTreeMap<(String, String, u16), u64>,
}

impl Counters {
    /// Requests per verb.
    pub fn total_by_verb(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((verb, _, _), n) in &self.requests {
            *out.entry(verb.clone()).or_insert(0) += n;
        }
        out
    }

    /// Requests per resource.
    pub fn total_by_resource(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, res, _), n) in &self.requests {
            *out.entry(res.clone()).or_insert(0) += n;
        }
        out
    }

    /// Requests per response code.
    pub fn total_by_code(&self) -> BTreeMap<u16, u64> {
        let mut out = BTreeMap::new();
        for ((_, _, code), n) in &self.requests {
            *out.entry(*code).or_insert(0) += n;
        }
        out
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.requests.values().sum()
    }

    /// Requests with this verb, resource and code.
    pub fn get(&self, verb: &str, resource: &str, code: u16) -> u64 {
        self.requests
            .get(&(verb.to_string(), resource.to_string(), code))
            .copied()
            .unwrap_or(0)
    }

    /// Requests matching the given parts (`None` = any).
    pub fn sum(&self, verb: Option<&str>, resource: Option<&str>, code: Option<u16>) -> u64 {
        self.requests
            .iter()
            .filter(|((v, r, c), _)| {
                verb.is_none_or(|x| x == v)
                    && resource.is_none_or(|x| x == r)
                    && code.is_none_or(|x| x == *c)
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// Difference to an earlier snapshot.
    pub fn since(&self, earlier: &Counters) -> Counters {
        let mut requests = BTreeMap::new();
        for (k, n) in &self.requests {
            let d = n - earlier.requests.get(k).copied().unwrap_or(0).min(*n);
            if d > 0 {
                requests.insert(k.clone(), d);
            }
        }
        Counters { requests }
    }

    /// Prometheus text exposition.
    pub fn to_prometheus(&self) -> String {
        let mut s = String::from(
            "# HELP kubesim_requests_total Requests served by kubesim.\n# TYPE kubesim_requests_total counter\n",
        );
        for ((verb, res, code), n) in &self.requests {
            let _ = writeln!(
                s,
                "kubesim_requests_total{{verb=\"{verb}\",resource=\"{res}\",code=\"{code}\"}} {n}"
            );
        }
        s
    }
}

type CounterMap = BTreeMap<(String, String, u16), u64>;

#[derive(Clone, Default)]
pub(crate) struct Metrics {
    inner: Arc<Mutex<CounterMap>>,
}

impl Metrics {
    pub fn record(&self, verb: &str, resource: &str, code: u16) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&(verb.to_string(), resource.to_string(), code)) {
            *n += 1;
        } else {
            m.insert((verb.to_string(), resource.to_string(), code), 1);
        }
    }

    pub fn snapshot(&self) -> Counters {
        Counters {
            requests: self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}
