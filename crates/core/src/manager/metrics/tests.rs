//! The metrics (feature `metrics`) after scripted scenarios, read from a debugging recorder
//! installed for the test's thread only (`with_local_recorder`: tests run in parallel), and
//! the spans of renewals, HTTP attempts and waiting callers.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

use crate::manager::test_support::*;

/// A current-thread runtime on paused time: the renewal tasks it spawns run on this thread,
/// where the test's recorder and subscriber are installed.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

fn json() -> Vec<(&'static str, &'static str)> {
    vec![("content-type", "application/json")]
}

fn scripted(script: Vec<Scripted>) -> TokenManagerBuilder {
    TokenManager::builder()
        .clock(ManualClock::at_fixed_epoch())
        .http_client(ScriptedHttp::new(script))
        .grant(form_grant())
        .retry(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(100)),
        )
        .attempt_timeout(Duration::from_secs(2))
}

#[cfg(feature = "metrics")]
mod recorded {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    const INVALID_CLIENT: &str = r#"{"error":"invalid_client"}"#;

    /// What the recorder holds: `name{label=value,…}` → the value, counters and gauges as
    /// numbers, histograms as the number of samples.
    #[derive(Debug, Default, PartialEq)]
    struct Recorded {
        counters: BTreeMap<String, u64>,
        gauges: BTreeMap<String, f64>,
        histograms: BTreeMap<String, usize>,
    }

    fn run<T>(body: impl Future<Output = T>) -> (T, Recorded) {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let rt = runtime();
        let out = metrics::with_local_recorder(&recorder, || rt.block_on(body));
        let mut recorded = Recorded::default();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            match value {
                DebugValue::Counter(n) => {
                    recorded.counters.insert(name, n);
                }
                DebugValue::Gauge(g) => {
                    recorded.gauges.insert(name, g.into_inner());
                }
                DebugValue::Histogram(samples) => {
                    recorded.histograms.insert(name, samples.len());
                }
            }
        }
        (out, recorded)
    }

    fn map<V: Copy>(entries: &[(&str, V)]) -> BTreeMap<String, V> {
        entries.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn one_fetch() {
        let (token, m) = run(async {
            let manager = scripted(vec![Scripted::Respond(200, json(), OK_BODY)])
                .build()
                .unwrap();
            manager.token().await.unwrap()
        });
        assert_eq!(token.access_token().secret(), "good");
        assert_eq!(
            m.counters,
            map(&[
                ("grantkit.token.obtained{grant=test,source=endpoint}", 1),
                ("grantkit.token.renewals{grant=test,outcome=ok}", 1),
                ("grantkit.token.requests{grant=test,outcome=ok}", 1),
            ])
        );
        assert_eq!(
            m.histograms,
            map(&[
                ("grantkit.token.renewal.duration{grant=test,outcome=ok}", 1),
                ("grantkit.token.request.duration{grant=test,outcome=ok}", 1),
            ])
        );
        // Set when installed, recomputed at the end of the renewal: the hour, less the
        // second a parsed `expires_in` loses (whole seconds are taken to end early).
        assert_eq!(
            m.gauges,
            map(&[("grantkit.token.time_to_expiry{grant=test}", 3599.0)])
        );
    }

    #[test]
    fn a_refused_request() {
        let (error, m) = run(async {
            let manager = scripted(vec![Scripted::Respond(401, json(), INVALID_CLIENT)])
                .build()
                .unwrap();
            manager.token().await.unwrap_err()
        });
        assert!(error.is_invalid_client(), "{}", error.report());
        assert_eq!(
            m.counters,
            map(&[
                ("grantkit.token.renewals{grant=test,outcome=failed}", 1),
                ("grantkit.token.requests{grant=test,outcome=refused}", 1),
            ])
        );
        assert_eq!(
            m.gauges,
            map(&[("grantkit.token.time_to_expiry{grant=test}", 0.0)])
        );
    }

    #[test]
    fn a_transient_failure_then_success() {
        let (_, m) = run(async {
            let manager = scripted(vec![
                Scripted::Respond(503, vec![], "<html>busy</html>"),
                Scripted::Respond(200, json(), OK_BODY),
            ])
            .build()
            .unwrap();
            manager.token().await.unwrap()
        });
        assert_eq!(
            m.counters,
            map(&[
                ("grantkit.token.obtained{grant=test,source=endpoint}", 1),
                ("grantkit.token.renewals{grant=test,outcome=ok}", 1),
                ("grantkit.token.requests{grant=test,outcome=ok}", 1),
                ("grantkit.token.requests{grant=test,outcome=transient}", 1),
            ])
        );
    }

    #[test]
    fn a_hung_attempt_counts_as_a_timeout() {
        let (_, m) = run(async {
            let manager = scripted(vec![
                Scripted::Hang,
                Scripted::Respond(200, json(), OK_BODY),
            ])
            .build()
            .unwrap();
            manager.token().await.unwrap()
        });
        assert_eq!(
            m.counters,
            map(&[
                ("grantkit.token.obtained{grant=test,source=endpoint}", 1),
                ("grantkit.token.renewals{grant=test,outcome=ok}", 1),
                ("grantkit.token.requests{grant=test,outcome=ok}", 1),
                ("grantkit.token.requests{grant=test,outcome=timeout}", 1),
            ])
        );
    }

    #[test]
    fn a_token_from_the_store() {
        let (token, m) = run(async {
            let store = MemoryStore::new();
            let clock = ManualClock::at_fixed_epoch();
            let manager = scripted(vec![])
                .clock(clock.clone())
                .store(store.clone())
                .build()
                .unwrap();
            let now = clock.now();
            let stored = Token::new("from-store", now, now + Duration::from_secs(900));
            store.save(manager.cache_key(), &stored).await.unwrap();
            manager.token().await.unwrap()
        });
        assert_eq!(token.access_token().secret(), "from-store");
        assert_eq!(
            m.counters,
            map(&[
                ("grantkit.token.obtained{grant=test,source=store}", 1),
                ("grantkit.token.renewals{grant=test,outcome=ok}", 1),
            ])
        );
        assert_eq!(
            m.gauges,
            map(&[("grantkit.token.time_to_expiry{grant=test}", 900.0)])
        );
    }

    #[test]
    fn store_errors_by_backend_and_operation() {
        let (_, m) = run(async {
            let manager = scripted(vec![Scripted::Respond(200, json(), OK_BODY)])
                .store(BrokenStore)
                .build()
                .unwrap();
            manager.token().await.unwrap()
        });
        // Read-through, the lock, then the save of the new token: each failed once.
        assert_eq!(
            m.counters,
            map(&[
                (
                    "grantkit.store.errors{grant=test,operation=load,store=broken}",
                    1
                ),
                (
                    "grantkit.store.errors{grant=test,operation=lock,store=broken}",
                    1
                ),
                (
                    "grantkit.store.errors{grant=test,operation=save,store=broken}",
                    1
                ),
                ("grantkit.token.obtained{grant=test,source=endpoint}", 1),
                ("grantkit.token.renewals{grant=test,outcome=ok}", 1),
                ("grantkit.token.requests{grant=test,outcome=ok}", 1),
            ])
        );
    }

    /// Hits reach the recorder in batches of `CACHE_HIT_BATCH` per thread, and all of them
    /// on `flush_metrics`, which also recomputes the seconds until expiry.
    #[test]
    fn cache_hits_in_batches_and_on_flush() {
        let clock = ManualClock::at_fixed_epoch();
        let (batches, m) = run(async {
            let manager = scripted(vec![Scripted::Respond(200, json(), OK_BODY)])
                .clock(clock.clone())
                .build()
                .unwrap();
            manager.token().await.unwrap();
            let batch = crate::metrics::CACHE_HIT_BATCH;
            for _ in 0..batch + 10 {
                manager.token().await.unwrap();
            }
            assert_eq!(manager.stats().cache_hits, batch + 10);
            clock.advance(Duration::from_secs(600));
            manager.flush_metrics();
            batch
        });
        assert_eq!(
            m.counters
                .get("grantkit.token.cache.hits{grant=test}")
                .copied(),
            Some(batches + 10)
        );
        assert_eq!(
            m.gauges,
            map(&[("grantkit.token.time_to_expiry{grant=test}", 2999.0)])
        );
        // One batch without a flush.
        let (_, m) = run(async {
            let manager = scripted(vec![Scripted::Respond(200, json(), OK_BODY)])
                .build()
                .unwrap();
            manager.token().await.unwrap();
            for _ in 0..crate::metrics::CACHE_HIT_BATCH + 10 {
                manager.token().await.unwrap();
            }
        });
        assert_eq!(
            m.counters
                .get("grantkit.token.cache.hits{grant=test}")
                .copied(),
            Some(crate::metrics::CACHE_HIT_BATCH)
        );
    }

    /// Another process holds the renewal lock while the current token is still valid: the
    /// manager keeps serving it, and the renewal is `deferred`, neither ok nor failed.
    #[test]
    fn a_renewal_left_to_the_lock_holder_is_deferred() {
        let clock = ManualClock::at_fixed_epoch();
        let (_, m) = run(async {
            let store = MemoryStore::new();
            let manager = scripted(vec![Scripted::Respond(200, json(), OK_BODY)])
                .clock(clock.clone())
                .store(store.clone())
                .policy(RefreshBeforeExpiry::new(Duration::from_secs(60)).jitter(0.0))
                .build()
                .unwrap();
            manager.token().await.unwrap();
            let LockAttempt::Acquired(_held) = store
                .try_lock(manager.cache_key(), Duration::from_secs(30))
                .await
                .unwrap()
            else {
                panic!("the lock was free");
            };
            clock.advance(Duration::from_secs(3550));
            let token = manager.token().await.unwrap();
            assert_eq!(token.access_token().secret(), "good");
            // Let the background renewal finish.
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        });
        assert_eq!(
            m.counters
                .get("grantkit.token.renewals{grant=test,outcome=deferred}"),
            Some(&1)
        );
        assert_eq!(
            m.counters
                .get("grantkit.token.renewals{grant=test,outcome=ok}"),
            Some(&1)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Spans.

/// A span as recorded: its name, its fields (updated by `record`), and the spans it
/// follows from (indices into the log).
#[derive(Debug, Clone, Default)]
struct SpanData {
    name: String,
    fields: BTreeMap<String, String>,
    follows: Vec<usize>,
}

/// Every span opened on this thread; ids are reused once a span closes, so they map to
/// the latest span with that id.
#[derive(Clone, Default)]
struct SpanLog(Arc<Mutex<Spans>>);

/// The spans in order of opening, and the index of the latest span for each live id.
type Spans = (Vec<SpanData>, std::collections::HashMap<u64, usize>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for SpanLog {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut data = SpanData {
            name: attrs.metadata().name().to_owned(),
            ..SpanData::default()
        };
        attrs.record(&mut Fields(&mut data.fields));
        let mut log = self.0.lock().unwrap();
        log.0.push(data);
        let index = log.0.len() - 1;
        log.1.insert(id.into_u64(), index);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut log = self.0.lock().unwrap();
        if let Some(&i) = log.1.get(&id.into_u64()) {
            values.record(&mut Fields(&mut log.0[i].fields));
        }
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, _: Context<'_, S>) {
        let mut log = self.0.lock().unwrap();
        if let (Some(&a), Some(&b)) = (log.1.get(&span.into_u64()), log.1.get(&follows.into_u64()))
        {
            log.0[a].follows.push(b);
        }
    }
}

fn with_spans<T>(body: impl Future<Output = T>) -> (T, Vec<SpanData>) {
    let log = SpanLog::default();
    let subscriber = tracing_subscriber::registry().with(log.clone());
    let rt = runtime();
    let out = tracing::subscriber::with_default(subscriber, || rt.block_on(body));
    let spans = log.0.lock().unwrap().0.clone();
    (out, spans)
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<(usize, &'a SpanData)> {
    spans
        .iter()
        .enumerate()
        .filter(|(_, s)| s.name == name)
        .collect()
}

#[test]
fn each_http_attempt_has_a_span_with_host_grant_status_attempt_and_duration() {
    let (_, spans) = with_spans(async {
        let manager = scripted(vec![
            Scripted::Respond(503, vec![], "<html>busy</html>"),
            Scripted::Respond(200, json(), OK_BODY),
        ])
        .build()
        .unwrap();
        manager.token().await.unwrap()
    });
    let http = named(&spans, "grantkit.http");
    assert_eq!(http.len(), 2, "{spans:#?}");
    for ((_, span), (attempt, status)) in http.iter().zip([("1", "503"), ("2", "200")]) {
        let f = &span.fields;
        assert_eq!(f.get("host").map(String::as_str), Some("auth.example.com"));
        assert_eq!(f.get("method").map(String::as_str), Some("POST"));
        assert_eq!(f.get("grant").map(String::as_str), Some("test"));
        assert_eq!(f.get("attempt").map(String::as_str), Some(attempt));
        assert_eq!(f.get("status").map(String::as_str), Some(status));
        // Paused time: the scripted endpoint answers at once.
        assert_eq!(f.get("duration_ms").map(String::as_str), Some("0.0"));
        assert_eq!(
            f.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "attempt",
                "duration_ms",
                "grant",
                "host",
                "method",
                "status"
            ]
        );
    }
    assert_eq!(named(&spans, "grantkit.renew").len(), 1);
}

/// An attempt cut by the attempt timeout ends its span all the same: cancelled, after the
/// timeout.
#[test]
fn a_hung_http_attempt_is_recorded_as_cancelled() {
    let (_, spans) = with_spans(async {
        let manager = scripted(vec![
            Scripted::Hang,
            Scripted::Respond(200, json(), OK_BODY),
        ])
        .build()
        .unwrap();
        manager.token().await.unwrap()
    });
    let http = named(&spans, "grantkit.http");
    assert_eq!(http.len(), 2);
    let hung = &http[0].1.fields;
    assert_eq!(hung.get("error").map(String::as_str), Some("Cancelled"));
    assert_eq!(hung.get("duration_ms").map(String::as_str), Some("2000.0"));
    assert!(!hung.contains_key("status"));
    assert_eq!(
        http[1].1.fields.get("status").map(String::as_str),
        Some("200")
    );
}

#[test]
fn a_failed_http_attempt_records_the_error_kind() {
    let (_, spans) = with_spans(async {
        // An empty script fails every request with a connect error.
        let manager = scripted(vec![]).build().unwrap();
        manager.token().await.unwrap_err()
    });
    let http = named(&spans, "grantkit.http");
    assert_eq!(http.len(), 3, "three attempts");
    for (_, span) in http {
        assert_eq!(
            span.fields.get("error").map(String::as_str),
            Some("Connect")
        );
        assert!(!span.fields.contains_key("status"));
    }
}

/// Every caller that waited for a renewal has a `grantkit.token.wait` span that follows
/// from that renewal's span; the renewal span is a root, shared by all of them.
#[test]
fn callers_that_waited_follow_from_the_renewal_they_waited_for() {
    let (_, spans) = with_spans(async {
        let manager = scripted(vec![Scripted::Respond(200, json(), OK_BODY)])
            .build()
            .unwrap();
        let (a, b, c) = tokio::join!(manager.token(), manager.token(), manager.token());
        let tokens = [a.unwrap(), b.unwrap(), c.unwrap()];
        assert!(tokens.iter().all(|t| t.access_token().secret() == "good"));
        // A cached token: no wait.
        manager.token().await.unwrap();
    });
    let renewals = named(&spans, "grantkit.renew");
    assert_eq!(renewals.len(), 1, "{spans:#?}");
    let renewal = renewals[0].0;
    let waits = named(&spans, "grantkit.token.wait");
    assert_eq!(waits.len(), 3, "{spans:#?}");
    for (_, wait) in waits {
        assert_eq!(wait.follows, vec![renewal]);
        assert_eq!(wait.fields.get("grant").map(String::as_str), Some("test"));
    }
}
