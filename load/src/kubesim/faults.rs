//! Deterministic fault injection: rules matched by verb and resource.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::status::ApiError;

/// What a matching rule does to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer with this HTTP status (as a `Status` object). 429 carries `Retry-After`.
    /// On a watch, 410 is sent as a watch `ERROR` event, like a compacted resourceVersion.
    Error { code: u16, retry_after: Option<u64> },
    /// Delay the request.
    Latency(Duration),
    /// Close watch streams after this many events.
    CutAfterEvents(u64),
    /// Close watch streams after this long.
    CutAfter(Duration),
}

/// One fault rule. `verb` is get/list/watch/create/update/patch/delete/deletecollection or `*`;
/// `resource` is a plural (also matching its subresources), `plural/subresource`, or `*`.
/// With `count`, the rule fires for the first `count` matching requests; with `rate`, each
/// matching request fires with that probability (seeded); with neither it always fires.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub verb: String,
    pub resource: String,
    pub kind: FaultKind,
    pub rate: Option<f64>,
    pub count: Option<u64>,
}

/// A set of fault rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    pub rules: Vec<FaultRule>,
}

impl FaultPlan {
    /// Parses `--fault` specs, see [`FaultRule::parse`].
    pub fn parse(specs: &[String]) -> anyhow::Result<FaultPlan> {
        let rules = specs
            .iter()
            .map(|s| FaultRule::parse(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(FaultPlan { rules })
    }
}

impl FaultRule {
    /// Parses `verb=update,resource=captclusters,code=409,count=3`. Keys: `verb`, `resource`,
    /// `code`, `retry_after` (seconds, for 429), `latency_ms`, `cut_after_events`,
    /// `cut_after_ms` / `cut_after_s`, `rate`, `count`.
    pub fn parse(spec: &str) -> anyhow::Result<FaultRule> {
        let mut verb = "*".to_string();
        let mut resource = "*".to_string();
        let mut rate = None;
        let mut count = None;
        let mut code: Option<u16> = None;
        let mut retry_after = None;
        let mut kind = None;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("fault spec {spec:?}: expected key=value, got {part:?}")
            })?;
            let v = v.trim();
            match k.trim() {
                "verb" => verb = v.to_string(),
                "resource" => resource = v.to_string(),
                "rate" => {
                    let r: f64 = v.parse()?;
                    anyhow::ensure!((0.0..=1.0).contains(&r), "fault rate must be within 0..1");
                    rate = Some(r);
                }
                "count" => count = Some(v.parse()?),
                "code" => code = Some(v.parse()?),
                "retry_after" => retry_after = Some(v.parse()?),
                "latency_ms" => kind = Some(FaultKind::Latency(Duration::from_millis(v.parse()?))),
                "cut_after_events" => kind = Some(FaultKind::CutAfterEvents(v.parse()?)),
                "cut_after_ms" => {
                    kind = Some(FaultKind::CutAfter(Duration::from_millis(v.parse()?)))
                }
                "cut_after_s" => {
                    kind = Some(FaultKind::CutAfter(Duration::from_secs_f64(v.parse()?)))
                }
                other => anyhow::bail!("fault spec {spec:?}: unknown key {other:?}"),
            }
        }
        let kind = match (kind, code) {
            (Some(_), Some(_)) => {
                anyhow::bail!("fault spec {spec:?}: code and latency/cut are exclusive")
            }
            (Some(k), None) => k,
            (None, Some(c)) => {
                anyhow::ensure!((400..600).contains(&c), "fault code must be 4xx or 5xx");
                FaultKind::Error {
                    code: c,
                    retry_after: if c == 429 {
                        Some(retry_after.unwrap_or(1))
                    } else {
                        retry_after
                    },
                }
            }
            (None, None) => anyhow::bail!(
                "fault spec {spec:?}: needs one of code, latency_ms, cut_after_events, cut_after_ms"
            ),
        };
        Ok(FaultRule {
            verb,
            resource,
            kind,
            rate,
            count,
        })
    }

    fn matches(&self, verb: &str, resource: &str) -> bool {
        let verb_ok = self.verb == "*" || self.verb == verb;
        let res_ok = self.resource == "*"
            || self.resource == resource
            || resource
                .strip_prefix(self.resource.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
        verb_ok && res_ok
    }
}

/// What to do to one request.
#[derive(Debug, Default)]
pub struct Decision {
    pub latency: Duration,
    pub error: Option<ApiError>,
    pub cut_after_events: Option<u64>,
    pub cut_after: Option<Duration>,
}

struct State {
    rules: Vec<(FaultRule, u64)>,
    rng: StdRng,
}

/// Runtime handle to the fault plan of a running server.
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("plan", &self.plan())
            .finish()
    }
}

impl Faults {
    pub(crate) fn new(plan: FaultPlan, seed: u64) -> Faults {
        Faults {
            inner: Arc::new(Mutex::new(State {
                rules: plan.rules.into_iter().map(|r| (r, 0)).collect(),
                rng: StdRng::seed_from_u64(seed ^ 0x6b75_6265_7369_6d00),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the plan (fire counts restart).
    pub fn set(&self, plan: FaultPlan) {
        self.lock().rules = plan.rules.into_iter().map(|r| (r, 0)).collect();
    }

    /// Adds one rule.
    pub fn add(&self, rule: FaultRule) {
        self.lock().rules.push((rule, 0));
    }

    /// Adds one rule from its `--fault` spelling.
    pub fn add_spec(&self, spec: &str) -> anyhow::Result<()> {
        self.add(FaultRule::parse(spec)?);
        Ok(())
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Removes the rules equal to `rule` and returns how many times they fired.
    pub fn remove(&self, rule: &FaultRule) -> u64 {
        let mut st = self.lock();
        let fired = st
            .rules
            .iter()
            .filter(|(r, _)| r == rule)
            .map(|(_, n)| *n)
            .sum();
        st.rules.retain(|(r, _)| r != rule);
        fired
    }

    /// The current rules.
    pub fn plan(&self) -> FaultPlan {
        FaultPlan {
            rules: self.lock().rules.iter().map(|(r, _)| r.clone()).collect(),
        }
    }

    /// How many times each rule has fired, in plan order.
    pub fn fired(&self) -> Vec<u64> {
        self.lock().rules.iter().map(|(_, n)| *n).collect()
    }

    pub(crate) fn decide(&self, verb: &str, resource: &str) -> Decision {
        let mut d = Decision::default();
        let mut st = self.lock();
        if st.rules.is_empty() {
            return d;
        }
        let State { rules, rng } = &mut *st;
        for (rule, fired) in rules.iter_mut() {
            if !rule.matches(verb, resource) {
                continue;
            }
            if let FaultKind::Error { .. } = rule.kind {
                if d.error.is_some() {
                    continue;
                }
            }
            if let Some(c) = rule.count {
                if *fired >= c {
                    continue;
                }
            }
            if let Some(r) = rule.rate {
                if rng.random::<f64>() >= r {
                    continue;
                }
            }
            *fired += 1;
            match &rule.kind {
                FaultKind::Error { code, retry_after } => {
                    let mut e = ApiError::injected(*code);
                    e.retry_after = *retry_after;
                    d.error = Some(e);
                }
                FaultKind::Latency(l) => d.latency += *l,
                FaultKind::CutAfterEvents(n) => {
                    d.cut_after_events = Some(d.cut_after_events.map_or(*n, |x| x.min(*n)))
                }
                FaultKind::CutAfter(t) => d.cut_after = Some(d.cut_after.map_or(*t, |x| x.min(*t))),
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_count() {
        let f = Faults::new(
            FaultPlan::parse(&["verb=update,resource=captclusters,code=409,count=2".into()])
                .unwrap(),
            1,
        );
        assert!(f.decide("update", "captclusters/status").error.is_some());
        assert!(f.decide("get", "captclusters").error.is_none());
        assert!(f.decide("update", "captclusters").error.is_some());
        assert!(f.decide("update", "captclusters").error.is_none());
        assert!(FaultRule::parse("verb=*,resource=*,latency_ms=5").is_ok());
        assert!(FaultRule::parse("verb=watch,resource=*,cut_after_events=100").is_ok());
        assert!(FaultRule::parse("verb=get").is_err());
        let latency = FaultRule::parse("verb=get,latency_ms=1").unwrap();
        f.add(latency.clone());
        f.decide("get", "secrets");
        f.decide("get", "secrets");
        assert_eq!(f.remove(&latency), 2);
        assert_eq!(f.plan().rules.len(), 1);
        let r = FaultRule::parse("code=429").unwrap();
        assert_eq!(
            r.kind,
            FaultKind::Error {
                code: 429,
                retry_after: Some(1)
            }
        );
    }
}
