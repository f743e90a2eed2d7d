//! Numbers for the summary: percentiles, peak memory, and sums read from the Prometheus text.

use std::collections::BTreeMap;
use std::time::Duration;

/// Nearest-rank percentile (`q` in 0..=1) of `values`; `None` when empty.
pub fn percentile(values: &[Duration], q: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort();
    let q = if q.is_finite() {
        q.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let rank = (q * v.len() as f64).ceil() as usize;
    v.get(rank.saturating_sub(1).min(v.len() - 1)).copied()
}

/// Peak resident set size of this process in KiB (`VmHWM` of /proc/self/status).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_hwm_kib(&status)
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// One sample line of a Prometheus/OpenMetrics text: metric name, labels, value.
fn samples(text: &str) -> impl Iterator<Item = (&str, Vec<(&str, &str)>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.trim().parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.trim(), v.trim().trim_matches('"')))
                })
                .collect();
            Some((name, labels, value))
        })
}

/// Sum of every series of `metric` grouped by the value of `label`.
pub fn metric_by_label(text: &str, metric: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (_, labels, v) in samples(text).filter(|(n, _, _)| *n == metric) {
        let key = labels
            .iter()
            .find(|(k, _)| *k == label)
            .map_or("", |(_, v)| v);
        *out.entry(key.to_string()).or_insert(0.0) += v;
    }
    out
}

/// `1.23s` or `456ms`.
pub fn fmt_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<_> = (1..=100).map(Duration::from_secs).collect();
        assert_eq!(percentile(&v, 0.5), Some(Duration::from_secs(50)));
        assert_eq!(percentile(&v, 0.99), Some(Duration::from_secs(99)));
        assert_eq!(percentile(&v, 1.0), Some(Duration::from_secs(100)));
        assert_eq!(percentile(&v[..1], 0.99), Some(Duration::from_secs(1)));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&v, f64::NAN), Some(Duration::from_secs(100)));
    }

    #[test]
    fn reads_vm_hwm() {
        let s = "Name:\tcapt\nVmPeak:\t  100 kB\nVmHWM:\t   53412 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(vm_hwm_kib(s), Some(53412));
        assert_eq!(vm_hwm_kib("nothing"), None);
    }

    #[test]
    fn sums_metrics() {
        let text = "# TYPE controller_runtime_reconcile counter\n\
            controller_runtime_reconcile_total{controller=\"captcluster\",result=\"success\"} 5\n\
            controller_runtime_reconcile_total{controller=\"captcluster\",result=\"error\"} 2\n\
            controller_runtime_reconcile_total{controller=\"wta\",result=\"success\"} 7\n\
            controller_runtime_reconcile_errors_total{controller=\"wta\"} 1\n\
            capt_api_requests_total{verb=\"get\",resource=\"secrets\",code=\"200\"} 3\n\
            capt_api_requests_total{verb=\"patch\",resource=\"captclusters/status\",code=\"200\"} 4\n\
            capt_api_requests_total{verb=\"get\",resource=\"workspaces\",code=\"404\"} 1\n\
            # EOF\n";
        let by_controller =
            metric_by_label(text, "controller_runtime_reconcile_total", "controller");
        assert_eq!(by_controller.values().sum::<f64>(), 14.0);
        assert_eq!(by_controller["wta"], 7.0);
        let by_verb = metric_by_label(text, "capt_api_requests_total", "verb");
        assert_eq!(by_verb["get"], 4.0);
        assert_eq!(by_verb["patch"], 4.0);
        assert!(metric_by_label("garbage {{ line\nx{a=\"1\"} nan-ish\n", "x", "a").is_empty());
    }
}
