//! The steps of one load run: environment, controller, load, convergence, quiet window, churn,
//! restart, report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, ListParams};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::args::Args;
use super::controller::{ControllerProc, Launch, Scraper};
use super::objects::{self, cluster_objects};
use super::observer::{self, Observations};
use super::otlp_sink::OtlpSink;
use super::promtext::{self, Sample};
use super::report::{self, Point, Report, WRITE_VERBS};
use super::stats::Dist;
use super::usage::{Phase, Usage};
use super::{chaos, churn, stack, svg};
use crate::invariants::{InvariantReport, Settle, check_settled};

const RECONCILES: &str = "controller_runtime_reconcile_total";
const LEADER: &str = "capt_leader";
const API_REQUESTS: &str = "capt_api_requests_total";
const MAILBOX_WAIT: &str = "capt_mailbox_wait_seconds";
const TRIGGERS: &str = "capt_reconcile_triggers_total";

/// Per key, the growth of the samples named `name` from `earlier` to `later` (keys that grew).
fn diff_by(
    later: &[Sample],
    earlier: &[Sample],
    name: &str,
    key: impl Fn(&Sample) -> Option<String>,
) -> BTreeMap<String, f64> {
    let before = promtext::by_key(earlier, name, &key);
    promtext::by_key(later, name, &key)
        .into_iter()
        .map(|(k, v)| {
            let d = (v - before.get(&k).copied().unwrap_or(0.0)).max(0.0);
            (k, d)
        })
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

fn diff_by_label(
    later: &[Sample],
    earlier: &[Sample],
    name: &str,
    label: &str,
) -> BTreeMap<String, u64> {
    diff_by(later, earlier, name, |s| {
        Some(s.labels.get(label).cloned().unwrap_or_default())
    })
    .into_iter()
    .map(|(k, d)| (k, d.round() as u64))
    .filter(|(_, v)| *v > 0)
    .collect()
}

/// The controller's writes per cluster by `verb resource` between two scrapes.
fn writes_by_resource(
    later: &[Sample],
    earlier: &[Sample],
    clusters: usize,
) -> BTreeMap<String, f64> {
    let write = |s: &Sample| {
        let verb = s.labels.get("verb")?;
        let res = s.labels.get("resource")?;
        WRITE_VERBS
            .contains(&verb.as_str())
            .then(|| format!("{verb} {res}"))
    };
    per_cluster_by(later, earlier, API_REQUESTS, clusters, write)
}

/// Reconciles per cluster by controller and what triggered them (`"<controller> <trigger>"`).
fn reconciles_by_trigger(
    later: &[Sample],
    earlier: &[Sample],
    clusters: usize,
) -> BTreeMap<String, f64> {
    let key = |s: &Sample| {
        let c = s.labels.get("controller")?;
        let t = s.labels.get("trigger")?;
        Some(format!("{c} {t}"))
    };
    per_cluster_by(later, earlier, TRIGGERS, clusters, key)
}

/// [`diff_by`], divided by the number of clusters.
fn per_cluster_by(
    later: &[Sample],
    earlier: &[Sample],
    name: &str,
    clusters: usize,
    key: impl Fn(&Sample) -> Option<String>,
) -> BTreeMap<String, f64> {
    diff_by(later, earlier, name, key)
        .into_iter()
        .map(|(k, d)| (k, d / clusters.max(1) as f64))
        .collect()
}

/// Controller writes counted in one scrape of its metrics.
pub(crate) fn controller_writes(samples: &[Sample]) -> u64 {
    writes(&diff_by_label(samples, &[], API_REQUESTS, "verb"))
}

pub(crate) fn writes(by_verb: &BTreeMap<String, u64>) -> u64 {
    WRITE_VERBS
        .iter()
        .map(|v| by_verb.get(*v).copied().unwrap_or(0))
        .sum()
}

fn per_cluster(m: &BTreeMap<String, u64>, n: usize) -> BTreeMap<String, f64> {
    m.iter()
        .map(|(k, v)| (k.clone(), *v as f64 / n.max(1) as f64))
        .collect()
}

async fn create_all(
    client: kube::Client,
    ids: Vec<(String, String)>,
    rate: f64,
    obs: Observations,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let sem = Arc::new(Semaphore::new(64));
    let mut tasks = JoinSet::new();
    for (name, ns) in ids {
        tick.tick().await;
        let permit = sem.clone().acquire_owned().await?;
        obs.created(&name, Instant::now());
        let client = client.clone();
        tasks.spawn(async move {
            for (ar, v) in cluster_objects(&name, &ns) {
                objects::create(&client, &ar, &v).await?;
            }
            drop(permit);
            anyhow::Ok(())
        });
        while let Some(r) = tasks.try_join_next() {
            r??;
        }
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

async fn install_templates(client: &kube::Client, args: &Args) -> anyhow::Result<()> {
    for i in 0..args.namespaces.max(1) {
        let ns = objects::namespace(i);
        objects::ensure_namespace(client, &ns).await?;
        for t in objects::templates_for(&args.templates, &ns)? {
            objects::apply(client, &objects::template_ar(), &t).await?;
        }
    }
    Ok(())
}

async fn count(client: &kube::Client, ar: &kube::core::ApiResource) -> usize {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    api.list_metadata(&ListParams::default())
        .await
        .map_or(0, |l| l.items.len())
}

fn machine() -> report::Machine {
    report::Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        os: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| format!("Linux {}", r.trim()))
            .unwrap_or_else(|_| std::env::consts::OS.to_string()),
    }
}

fn settle(args: &Args) -> Settle {
    Settle {
        window: Duration::from_secs(args.invariants_window),
        timeout: Duration::from_secs(args.invariants_timeout),
        ..Settle::default()
    }
}

/// The invariant check, waiting up to `--invariants-timeout` for a clean or settled result;
/// progress on stderr. `None` (with a note) when the objects could not be listed.
async fn invariants(
    client: &kube::Client,
    args: &Args,
    when: &str,
    notes: &mut Vec<String>,
) -> Option<InvariantReport> {
    match check_settled(client, &settle(args)).await {
        Ok(r) => {
            eprintln!("invariants {when}: {}", r.counts_line());
            eprint!("{}", r.first_details(10, "  "));
            Some(r)
        }
        Err(e) => {
            notes.push(format!("invariant check {when} failed: {e}"));
            None
        }
    }
}

/// Restart the controller and measure how long until it is ready and has reconciled every object
/// once without anything left to do.
async fn restart_check(
    ctrl: &ControllerProc,
    client: &kube::Client,
    timeout: Duration,
) -> anyhow::Result<report::Restart> {
    let expected = count(client, &objects::capt_cluster_ar()).await
        + count(client, &objects::control_plane_ar()).await
        + count(client, &objects::apply_ar()).await;
    let t0 = Instant::now();
    ctrl.restart().await?;
    ctrl.wait_ready(timeout).await?;
    let ready_secs = t0.elapsed().as_secs_f64();
    let mut last = (-1.0, t0.elapsed());
    let mut noop = None;
    let mut samples = Vec::new();
    while t0.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Some(s) = ctrl.scrape().await else {
            continue;
        };
        let total = promtext::sum(&s, RECONCILES);
        samples = s;
        if total != last.0 {
            last = (total, t0.elapsed());
        } else if total >= expected as f64 && t0.elapsed() - last.1 >= Duration::from_secs(1) {
            noop = Some(last.1.as_secs_f64());
            break;
        }
    }
    let by_verb = diff_by_label(&samples, &[], API_REQUESTS, "verb");
    Ok(report::Restart {
        ready_secs,
        noop_pass_secs: noop,
        reconciles: promtext::sum(&samples, RECONCILES) as u64,
        controller_writes: writes(&by_verb),
    })
}

/// Starts the controller replicas (none with `--controller-cmd none`): the first is waited for
/// until ready (it leads), the others until alive (they stand by).
async fn start_replicas(
    args: &Args,
    kubeconfig: &std::path::Path,
    otlp: Option<&OtlpSink>,
) -> anyhow::Result<Vec<ControllerProc>> {
    if args.controller_cmd.trim() == "none" {
        return Ok(Vec::new());
    }
    let launch = Launch {
        command: args
            .controller_cmd
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        extra: args
            .controller_args
            .iter()
            .cloned()
            .chain(
                args.token_refresh_interval
                    .iter()
                    .map(|i| format!("--token-refresh-interval={i}")),
            )
            .collect(),
        kubeconfig: kubeconfig.to_path_buf(),
        runtime: args.runtime,
        log: args.out.join("controller.log"),
        env: otlp
            .map(|o| vec![("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), o.endpoint())])
            .unwrap_or_default(),
    };
    let n = usize::from(args.replicas);
    let mut replicas = Vec::with_capacity(n);
    for i in 0..n {
        let l = launch.replica(i, n, args.sharding);
        let _ = std::fs::remove_file(&l.log);
        let c = ControllerProc::spawn(l)?;
        // Sharded replicas are all active; with leader election the first leads.
        let active = i == 0 || args.sharding;
        let took = if active {
            c.wait_ready(Duration::from_secs(120)).await?
        } else {
            c.wait_live(Duration::from_secs(120)).await?
        };
        let role = if active { "ready" } else { "standing by" };
        eprintln!(
            "controller replica-{i} pid {} {role} in {:.2}s",
            c.pid(),
            took.as_secs_f64()
        );
        replicas.push(c);
    }
    Ok(replicas)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let n = args.clusters;
    let mut notes = Vec::new();
    let stack = stack::start(&args).await?;
    let client = stack.client.clone();
    eprintln!("target: {}", stack.target());
    install_templates(&client, &args).await?;

    let otlp = if args.otlp_sink {
        Some(OtlpSink::start().await?)
    } else {
        None
    };
    let replicas = start_replicas(&args, &stack.kubeconfig, otlp.as_ref()).await?;
    let ctrl = replicas.first().cloned();
    let scraper = Scraper::new(&replicas, args.metrics_url.as_deref());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut usage = Usage::new(replicas.len());
    usage.mark(&replicas, Phase::Idle);

    let obs = Observations::default();
    let watches = observer::start(&client, &obs);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server0 = stack.server.as_ref().map(|h| h.counters());
    let scrape0 = scraper.scrape().await;

    let ids: Vec<(String, String)> = (0..n)
        .map(|i| objects::cluster_id(i, args.namespaces))
        .collect();
    let t0 = Instant::now();
    let creator = tokio::spawn(create_all(
        client.clone(),
        ids.clone(),
        args.rate,
        obs.clone(),
    ));
    let mut creator = Some(creator);
    let deadline = t0 + Duration::from_secs(args.timeout);
    let chaos = match args.chaos_settings() {
        Some(settings) => {
            let target = chaos::Target {
                server: stack.server.clone(),
                controllers: replicas.clone(),
                client: client.clone(),
            };
            Some(chaos::start(
                settings,
                target,
                args.sharding,
                t0,
                obs.clone(),
                deadline,
            )?)
        }
        None => None,
    };
    let mut controller_exits = 0;
    let mut leaders_max = 0_u64;
    let mut timeline = Vec::new();
    let mut peak_rate: f64 = 0.0;
    let mut last_total: Option<(f64, Instant)> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let converged = loop {
        tick.tick().await;
        let c = obs.counts();
        let t = t0.elapsed().as_secs_f64();
        timeline.push(Point {
            t,
            created: c.created,
            ready: c.ready,
        });
        eprintln!("[{t:>6.1}s] {c}");
        usage.sample(&replicas);
        if let Some(s) = scraper.scrape().await {
            leaders_max = leaders_max.max(promtext::sum(&s, LEADER) as u64);
            let total = promtext::sum(&s, RECONCILES);
            let now = Instant::now();
            if let Some((prev, at)) = last_total {
                let dt = now.duration_since(at).as_secs_f64();
                if dt > 0.0 {
                    peak_rate = peak_rate.max((total - prev) / dt);
                }
            }
            last_total = Some((total, now));
        }
        if creator.as_ref().is_some_and(|h| h.is_finished())
            && let Some(h) = creator.take()
        {
            match h.await {
                Ok(Ok(())) => eprintln!("all {n} clusters created in {t:.1}s"),
                Ok(Err(e)) => notes.push(format!("creating clusters failed: {e}")),
                Err(e) => notes.push(format!("creator task failed: {e}")),
            }
        }
        for (i, c) in replicas.iter().enumerate() {
            if c.restart_if_exited()? {
                controller_exits += 1;
                notes.push(format!(
                    "controller replica-{i} exited at {t:.1}s and was started again"
                ));
            }
        }
        if creator.is_none() && c.ready >= n && chaos.as_ref().is_none_or(|c| c.is_finished()) {
            break true;
        }
        if Instant::now() >= deadline {
            notes.push(format!("not converged within {}s: {c}", args.timeout));
            break false;
        }
    };
    if let Some(h) = creator.take() {
        h.abort();
    }
    let load_secs = t0.elapsed().as_secs_f64();
    let snap = obs.snapshot();
    let mut ttr = Vec::new();
    let mut e2s = Vec::new();
    let mut last_ready: f64 = 0.0;
    for (name, _) in &ids {
        let Some(s) = snap.get(name) else { continue };
        if let (Some(c), Some(r)) = (s.created_at, s.ready_at) {
            ttr.push(r.saturating_duration_since(c).as_secs_f64());
            last_ready = last_ready.max(r.saturating_duration_since(t0).as_secs_f64());
        }
        if let Some(l) = s.event_to_status {
            e2s.push(l * 1000.0);
        }
    }
    let ready_clusters = ttr.len();
    let server1 = stack.server.as_ref().map(|h| h.counters());
    let scrape1 = scraper.scrape().await;
    usage.mark(&replicas, Phase::Converged);
    let chaos = match chaos {
        Some(c) => {
            let settle = settle(&args);
            match c
                .finish(&client, &settle, converged, n, controller_exits)
                .await
            {
                Ok(r) => Some(r),
                Err(e) => {
                    notes.push(format!("chaos schedule failed: {e}"));
                    None
                }
            }
        }
        None => None,
    };
    // The quiet window starts after the chaos invariant check.
    let (quiet_server0, quiet_scrape0) = match &chaos {
        None => (server1.clone(), scrape1.clone()),
        Some(_) => (
            stack.server.as_ref().map(|h| h.counters()),
            scraper.scrape().await,
        ),
    };

    // Quiet window: a converged controller should write nothing.
    tokio::time::sleep(Duration::from_secs(args.quiet_secs)).await;
    let server2 = stack.server.as_ref().map(|h| h.counters());
    let scrape2 = scraper.scrape().await;
    usage.mark(&replicas, Phase::Quiet);

    let mut api = report::ApiRequests::default();
    if let (Some(a), Some(b)) = (&server0, &server1) {
        api.server_by_verb = b.since(a).total_by_verb();
        api.server_per_cluster = per_cluster(&api.server_by_verb, n);
    }
    let mut reconciles = None;
    if let (Some(a), Some(b)) = (&scrape0, &scrape1) {
        api.controller_by_verb = diff_by_label(b, a, API_REQUESTS, "verb");
        api.controller_per_cluster = per_cluster(&api.controller_by_verb, n);
        api.controller_writes_per_cluster_by_resource = writes_by_resource(b, a, n);
        let total = (promtext::sum(b, RECONCILES) - promtext::sum(a, RECONCILES)).max(0.0);
        let errors = (promtext::sum_where(b, RECONCILES, "result", "error")
            - promtext::sum_where(a, RECONCILES, "result", "error"))
        .max(0.0);
        let count = promtext::sum(b, &format!("{MAILBOX_WAIT}_count"))
            - promtext::sum(a, &format!("{MAILBOX_WAIT}_count"));
        let sum = promtext::sum(b, &format!("{MAILBOX_WAIT}_sum"))
            - promtext::sum(a, &format!("{MAILBOX_WAIT}_sum"));
        let hist = promtext::bucket_diff(
            &promtext::buckets(b, MAILBOX_WAIT),
            &promtext::buckets(a, MAILBOX_WAIT),
        );
        reconciles = Some(report::Reconciles {
            total: total as u64,
            errors: errors as u64,
            per_sec_avg: total / load_secs.max(1e-9),
            per_sec_peak: peak_rate,
            per_cluster: total / n.max(1) as f64,
            mailbox_wait_mean_ms: if count > 0.0 {
                sum / count * 1000.0
            } else {
                0.0
            },
            mailbox_wait_p99_ms: promtext::quantile(&hist, 0.99).unwrap_or(0.0) * 1000.0,
            by_controller: diff_by_label(b, a, RECONCILES, "controller"),
            by_trigger_per_cluster: reconciles_by_trigger(b, a, n),
        });
    }
    let quiet = report::Quiet {
        secs: args.quiet_secs,
        server_writes: match (&quiet_server0, &server2) {
            (Some(a), Some(b)) => Some(writes(&b.since(a).total_by_verb())),
            _ => None,
        },
        controller_writes: match (&quiet_scrape0, &scrape2) {
            (Some(a), Some(b)) => Some(writes(&diff_by_label(b, a, API_REQUESTS, "verb"))),
            _ => None,
        },
        controller_reconciles: match (&quiet_scrape0, &scrape2) {
            (Some(a), Some(b)) => {
                Some((promtext::sum(b, RECONCILES) - promtext::sum(a, RECONCILES)).max(0.0) as u64)
            }
            _ => None,
        },
        controller_writes_per_cluster: None,
    };
    let quiet = report::Quiet {
        controller_writes_per_cluster: quiet.controller_writes.map(|w| w as f64 / n.max(1) as f64),
        ..quiet
    };
    let per_replica = usage.per_replica(n);

    let invariants_converged = invariants(&client, &args, "after convergence", &mut notes).await;

    let token_refresh = match (&args.token_refresh_interval, converged) {
        (Some(i), true) => {
            let window = 2 * crate::tfsim::parse_duration(i).map_err(anyhow::Error::msg)?;
            Some(super::tokens::measure(&client, i, window).await)
        }
        _ => None,
    };

    let mut churns = Vec::new();
    if converged {
        let limit = Duration::from_secs(args.timeout);
        let ready: Vec<(String, String)> = ids.clone();
        if args.churn_version_bump > 0.0 {
            let p = churn::pick(&ready, args.churn_version_bump, args.seed);
            churns.push(churn::version_bump(&client, &p, &obs, limit).await?);
        }
        if args.churn_secret_rotation > 0.0 {
            let p = churn::pick(&ready, args.churn_secret_rotation, args.seed + 1);
            churns.push(churn::secret_rotation(&client, &p, &obs, limit).await?);
        }
        if args.churn_delete > 0.0 {
            let p = churn::pick(&ready, args.churn_delete, args.seed + 2);
            churns.push(churn::delete(&client, &p, &obs, limit).await?);
        }
    } else if args.churn_delete + args.churn_version_bump + args.churn_secret_rotation > 0.0 {
        notes.push("churn skipped: not converged".into());
    }
    if args.restart_check && replicas.len() > 1 {
        notes.push("restart check skipped: it measures a single replica (--replicas 1)".into());
    }
    let restart = match ctrl.as_ref() {
        Some(c) if args.restart_check && replicas.len() == 1 => {
            match restart_check(c, &client, Duration::from_secs(120)).await {
                Ok(r) => Some(r),
                Err(e) => {
                    notes.push(format!("restart check failed: {e}"));
                    None
                }
            }
        }
        _ => None,
    };

    let invariants_after_churn = if churns.is_empty() && restart.is_none() {
        None
    } else {
        invariants(&client, &args, "after churn and restart", &mut notes).await
    };

    let label = args
        .label
        .clone()
        .unwrap_or_else(|| format!("{}-{n}", args.runtime.as_str()));
    let report = Report {
        schema: report::SCHEMA.into(),
        label: label.clone(),
        runtime: args.runtime.as_str().into(),
        target: stack.target(),
        machine: machine(),
        clusters: n,
        namespaces: args.namespaces,
        rate_per_sec: args.rate,
        tf_delay: args.tf_delay.clone(),
        timeout_secs: args.timeout,
        converged,
        ready_clusters,
        convergence_secs: last_ready,
        time_to_ready_secs: Dist::of(&ttr),
        event_to_status_ms: Dist::of(&e2s),
        api_requests: api,
        controller: per_replica.first().cloned().flatten(),
        controllers: if replicas.len() > 1 {
            per_replica
        } else {
            Vec::new()
        },
        reconciles,
        quiet,
        restart,
        churn: churns,
        invariants: invariants_converged,
        invariants_after_churn,
        chaos,
        replicas: args.replicas,
        sharding: args.sharding,
        otlp: otlp.as_ref().map(OtlpSink::counts),
        leaders_max: (args.replicas > 1 && !args.sharding).then_some(leaders_max),
        token_refresh,
        timeline,
        notes,
    };
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(args.out.join("summary.md"), report.summary_md())?;
    std::fs::write(
        args.out.join("convergence.svg"),
        svg::convergence(
            &format!("{label}: clusters Ready over time"),
            &report.timeline,
            n,
        ),
    )?;
    print!("{}", report.summary_md());
    for w in watches {
        w.abort();
    }
    for c in replicas {
        eprintln!("controller log: {}", c.log().display());
        c.stop().await;
    }
    if let Some(o) = otlp {
        o.stop();
    }
    stack.stop();
    anyhow::ensure!(
        converged,
        "{ready_clusters}/{n} clusters Ready within {}s (report in {})",
        args.timeout,
        args.out.display()
    );
    match report.invariant_violations() {
        Some(0) => Ok(()),
        Some(v) => anyhow::bail!(
            "{v} invariant violations: clusters lack, duplicate or leak objects, or are stuck (details in {})",
            args.out.join("report.json").display()
        ),
        None => anyhow::bail!(
            "the invariant check could not run (see notes in {})",
            args.out.join("summary.md").display()
        ),
    }
}
