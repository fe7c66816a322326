//! The run store: SQLite in the data directory, created on first use.
//!
//! Every event is written here before it is broadcast, so what a live viewer
//! sees is always already history. A late viewer reads the history, then follows
//! the live events with higher sequence numbers; nothing is missed or repeated.
//! When a run cannot be recorded any more (a full disk, a read-only directory),
//! its live stream ends with the reason ([`Store::abandon`]): nobody is left
//! waiting for an event that will never be written.

mod resources;

pub use resources::{ResourceKind, SavedBucket, SavedHistoryItem};

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use guardrail_core::event::{Event, EventKind, RunOutcome, RunSummary};
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::broadcast;

/// A failure of the store. Messages never include SQL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the run store at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the run store failed while {doing}: {source}")]
    Query {
        doing: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("no run {0}")]
    NoRun(String),
    #[error("the run store was written by a newer guardrail (schema version {found}; this one reads up to {supported}): upgrade guardrail, or choose another --data-dir")]
    Newer { found: i64, supported: i64 },
    #[error("run {run}: event {seq} (line {seq} of its record) in the run store cannot be read ({reason}); the record is damaged from there")]
    DamagedEvent {
        run: String,
        seq: u64,
        reason: String,
    },
    #[error("the run store's {kind} {name} cannot be read ({reason})")]
    DamagedResource {
        kind: &'static str,
        name: String,
        reason: String,
    },
    #[error("the run store is unavailable (a previous operation panicked)")]
    Poisoned,
}

fn query(doing: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Query { doing, source }
}

/// A new run's description.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub id: String,
    pub endpoint: String,
    pub from_config: String,
    pub to_config: String,
    pub backend: String,
    pub time_scale: f64,
    pub plan_json: String,
    pub started_wall_ms: u64,
    /// What a backend needs to resume watching the run after a restart (JSON,
    /// never credentials); `None` for runs that cannot be resumed.
    pub watch: Option<String>,
}

/// A run left unfinished that a backend can resume watching.
#[derive(Clone, Debug)]
pub struct Unfinished {
    pub id: String,
    pub plan_json: String,
    pub watch: String,
}

/// Appends a run's events in order: sequence numbers 1, 2, 3… and times that
/// never go back. After a failed append it appends nothing more, so the record
/// stays a gapless prefix, and `failure` says why.
pub struct Recorder {
    store: Store,
    run_id: String,
    seq: u64,
    last_at_ms: u64,
    pub failure: Option<String>,
}

impl Recorder {
    pub fn new(store: Store, run_id: &str) -> Recorder {
        Recorder::after(store, run_id, 0, 0)
    }

    /// A recorder that continues a record whose last event is `seq` at `at_ms`.
    pub fn after(store: Store, run_id: &str, seq: u64, at_ms: u64) -> Recorder {
        Recorder {
            store,
            run_id: run_id.to_string(),
            seq,
            last_at_ms: at_ms,
            failure: None,
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The time of the last event recorded.
    pub fn last_at_ms(&self) -> u64 {
        self.last_at_ms
    }

    pub fn emit(&mut self, at_ms: u64, kind: EventKind) {
        if self.failure.is_some() {
            return;
        }
        let at_ms = self.last_at_ms.max(at_ms);
        let event = Event {
            run_id: self.run_id.clone(),
            seq: self.seq + 1,
            at_ms,
            wall_ms: crate::engine::clock::wall_ms(),
            kind,
        };
        match self.store.append(&event) {
            Ok(()) => {
                self.seq = event.seq;
                self.last_at_ms = at_ms;
            }
            Err(error) => {
                tracing::error!(run = %self.run_id, "cannot record event {}: {error}", event.seq);
                self.failure = Some(format!(
                    "the run store could not record event {} ({error})",
                    event.seq
                ));
            }
        }
    }
}

/// A run's record for a viewer: its events, how to follow the rest while it
/// runs, and the damage that ends a record that cannot be read whole.
pub struct Followed {
    pub history: Vec<Event>,
    pub live: Option<broadcast::Receiver<Live>>,
    pub damage: Option<String>,
}

/// What a live viewer of a run receives.
#[derive(Clone, Debug)]
pub enum Live {
    /// An event, already in the store.
    Event(Box<Event>),
    /// The run's record ends here without `Finished`, for this reason.
    Ended(String),
}

struct Inner {
    connection: Connection,
    live: HashMap<String, broadcast::Sender<Live>>,
}

/// The store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
}

/// The pragmas every connection that writes sets. In WAL mode with
/// `synchronous = NORMAL`, a committed transaction survives the process being
/// killed (`kill -9`); only a crash of the whole machine may lose the last ones.
const PRAGMAS: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
";

/// The store's schema version (`PRAGMA user_version`). Stores written before
/// versions were kept read 0 (their tables are version 1's).
pub const SCHEMA_VERSION: i64 = 3;

/// Version 1: runs and their events (the schema of every store written before
/// versions were kept; `ADDED_COLUMNS` came later within it).
const SCHEMA_1: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    from_config TEXT NOT NULL,
    to_config TEXT NOT NULL,
    backend TEXT NOT NULL,
    time_scale REAL NOT NULL,
    plan_json TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT,
    started_wall_ms INTEGER NOT NULL,
    finished_wall_ms INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
";

/// Columns added to `runs` within version 1: (name, definition).
const ADDED_COLUMNS: [(&str, &str); 2] = [("watch", "TEXT"), ("watcher_pid", "INTEGER")];

/// Version 2: what users create through the AWS APIs (`resources`), the
/// alarms' history, the API clock (`meta`) and published metrics.
const SCHEMA_2: &str = "
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS alarm_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metric_buckets (
    endpoint TEXT NOT NULL,
    variant TEXT NOT NULL,
    config TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (endpoint, variant, config, start_ms)
);
CREATE INDEX IF NOT EXISTS metric_buckets_by_start ON metric_buckets (start_ms);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Version 3: the metrics users publish with `PutMetricData`, one row per
/// metric and bucket (the metric as JSON: namespace, name, sorted dimensions).
const SCHEMA_3: &str = "
CREATE TABLE IF NOT EXISTS custom_metric_buckets (
    series TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (series, start_ms)
);
CREATE INDEX IF NOT EXISTS custom_metric_buckets_by_start ON custom_metric_buckets (start_ms);
";

impl Store {
    /// Opens (creating if needed) `guardrail.sqlite3` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open_limited(data_dir, None)
    }

    /// As [`Store::open`], with the database capped at `max_bytes`: writes that
    /// would grow it further fail as they do on a full disk.
    pub fn open_limited(data_dir: &Path, max_bytes: Option<u64>) -> Result<Store, StoreError> {
        let open_error = |reason: String| StoreError::Open {
            path: data_dir.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(data_dir).map_err(|error| open_error(error.to_string()))?;
        // Say plainly when the directory cannot be written (SQLite says only
        // that it cannot open the file).
        let probe = data_dir.join(".guardrail-write-probe");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|error| {
                open_error(format!(
                    "the directory cannot be written ({error}): runs could not be recorded; \
                     choose another with --data-dir or GUARDRAIL_DATA_DIR"
                ))
            })?;
        let connection = Connection::open(data_dir.join("guardrail.sqlite3"))
            .map_err(|error| open_error(error.to_string()))?;
        let store = Self::with_connection(connection)
            .map_err(|error| open_error(format!("{error} (is the directory writable?)")))?;
        if let Some(max_bytes) = max_bytes {
            let inner = store.lock()?;
            let page_size: u64 = inner
                .connection
                .query_row("PRAGMA page_size", [], |row| row.get::<_, i64>(0))
                .map_err(query("setting up"))?
                .max(512) as u64;
            inner
                .connection
                .pragma_update(
                    None,
                    "max_page_count",
                    (max_bytes / page_size).max(1) as i64,
                )
                .map_err(query("setting up"))?;
        }
        Ok(store)
    }

    /// Opens an existing store for reading only, as `guardrail runs` and
    /// `guardrail events` do: they work on a read-only data directory, and never
    /// write.
    pub fn open_read_only(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join("guardrail.sqlite3");
        let open_error = |reason: String| StoreError::Open {
            path: data_dir.display().to_string(),
            reason,
        };
        if !path.exists() {
            return Err(open_error("no runs recorded there yet".into()));
        }
        let connection = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|error| open_error(error.to_string()))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(query("setting up"))?;
        // Older stores read as they are (their runs and events are version
        // 1's); a newer one is refused rather than misread.
        refuse_newer(schema_version(&connection)?)?;
        Ok(Store {
            inner: Arc::new(Mutex::new(Inner {
                connection,
                live: HashMap::new(),
            })),
        })
    }

    /// An in-memory store, for tests.
    pub fn in_memory() -> Result<Store, StoreError> {
        let connection = Connection::open_in_memory().map_err(|error| StoreError::Open {
            path: ":memory:".into(),
            reason: error.to_string(),
        })?;
        Self::with_connection(connection)
    }

    fn with_connection(mut connection: Connection) -> Result<Store, StoreError> {
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(query("setting up"))?;
        connection
            .execute_batch(PRAGMAS)
            .map_err(query("setting up"))?;
        migrate(&mut connection)?;
        Ok(Store {
            inner: Arc::new(Mutex::new(Inner {
                connection,
                live: HashMap::new(),
            })),
        })
    }

    /// The schema version the store is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        schema_version(&self.lock()?.connection)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner.lock().map_err(|_| StoreError::Poisoned)
    }

    pub fn create_run(&self, run: &NewRun) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        inner
            .connection
            .execute(
                "INSERT INTO runs (id, endpoint, from_config, to_config, backend, time_scale, plan_json, status, started_wall_ms, watch, watcher_pid)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8, ?9, ?10)",
                params![
                    run.id,
                    run.endpoint,
                    run.from_config,
                    run.to_config,
                    run.backend,
                    run.time_scale,
                    run.plan_json,
                    run.started_wall_ms as i64,
                    run.watch,
                    i64::from(std::process::id())
                ],
            )
            .map_err(query("recording a new run"))?;
        let (sender, _) = broadcast::channel(4_096);
        inner.live.insert(run.id.clone(), sender);
        Ok(())
    }

    /// Writes an event, then broadcasts it. A `Finished` event closes the run.
    pub fn append(&self, event: &Event) -> Result<(), StoreError> {
        let body = serde_json::to_string(event).unwrap_or_default();
        let mut inner = self.lock()?;
        let transaction = inner
            .connection
            .transaction()
            .map_err(query("recording an event"))?;
        transaction
            .execute(
                "INSERT INTO events (run_id, seq, at_ms, wall_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    event.run_id,
                    event.seq as i64,
                    event.at_ms as i64,
                    event.wall_ms as i64,
                    body
                ],
            )
            .map_err(query("recording an event"))?;
        if let EventKind::Finished { outcome } = &event.kind {
            transaction
                .execute(
                    "UPDATE runs SET status = ?2, outcome = ?3, finished_wall_ms = ?4 WHERE id = ?1",
                    params![
                        event.run_id,
                        outcome.status(),
                        serde_json::to_string(outcome).unwrap_or_default(),
                        event.wall_ms as i64
                    ],
                )
                .map_err(query("closing a run"))?;
        }
        transaction.commit().map_err(query("recording an event"))?;
        let finished = matches!(event.kind, EventKind::Finished { .. });
        if let Some(sender) = inner.live.get(&event.run_id) {
            // No receivers is fine: nobody is watching.
            let _ = sender.send(Live::Event(Box::new(event.clone())));
        }
        if finished {
            inner.live.remove(&event.run_id);
        }
        Ok(())
    }

    /// Ends a run's record without `Finished`: live viewers receive `reason` and
    /// their stream ends. The run is marked failed if the store still can.
    pub fn abandon(&self, run_id: &str, reason: &str, now_wall_ms: u64) {
        let Ok(mut inner) = self.lock() else {
            return;
        };
        if let Some(sender) = inner.live.remove(run_id) {
            let _ = sender.send(Live::Ended(reason.to_string()));
        }
        let _ = mark_failed(&inner.connection, run_id, reason, now_wall_ms);
    }

    /// How a finished run ended, from its record; `None` while it runs.
    pub fn outcome(&self, run_id: &str) -> Result<Option<RunOutcome>, StoreError> {
        let inner = self.lock()?;
        let outcome: Option<Option<String>> = inner
            .connection
            .query_row(
                "SELECT outcome FROM runs WHERE id = ?1",
                params![run_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(query("looking up a run"))?;
        match outcome {
            None => Err(StoreError::NoRun(run_id.to_string())),
            Some(text) => Ok(text.and_then(|text| serde_json::from_str(&text).ok())),
        }
    }

    /// The run's events so far, and (while it runs) a receiver for the rest.
    /// Subscribing and reading happen under one lock, so no event falls between.
    pub fn follow(
        &self,
        run_id: &str,
    ) -> Result<(Vec<Event>, Option<broadcast::Receiver<Live>>), StoreError> {
        let inner = self.lock()?;
        let exists: Option<String> = inner
            .connection
            .query_row(
                "SELECT id FROM runs WHERE id = ?1",
                params![run_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(query("looking up a run"))?;
        if exists.is_none() {
            return Err(StoreError::NoRun(run_id.to_string()));
        }
        let receiver = inner.live.get(run_id).map(broadcast::Sender::subscribe);
        let history = Self::read_events(&inner.connection, run_id)?;
        Ok((history, receiver))
    }

    pub fn events(&self, run_id: &str) -> Result<Vec<Event>, StoreError> {
        self.follow(run_id).map(|(history, _)| history)
    }

    /// As [`Store::follow`], but a damaged record is not an error: its events
    /// up to the damage, and the damage, so that a viewer shows both.
    pub fn follow_record(&self, run_id: &str) -> Result<Followed, StoreError> {
        match self.follow(run_id) {
            Ok((history, live)) => Ok(Followed {
                history,
                live,
                damage: None,
            }),
            Err(damage @ StoreError::DamagedEvent { .. }) => {
                let inner = self.lock()?;
                let (history, _) = Self::read_record(&inner.connection, run_id)?;
                Ok(Followed {
                    history,
                    live: None,
                    damage: Some(damage.to_string()),
                })
            }
            Err(other) => Err(other),
        }
    }

    fn read_events(connection: &Connection, run_id: &str) -> Result<Vec<Event>, StoreError> {
        match Self::read_record(connection, run_id)? {
            (events, None) => Ok(events),
            (_, Some(damage)) => Err(damage),
        }
    }

    /// A run's events as far as they can be read, and the damage that stops
    /// the rest, if any. An event that cannot be read is damage to report,
    /// never a gap to skip: a shorter history would look like a whole one.
    fn read_record(
        connection: &Connection,
        run_id: &str,
    ) -> Result<(Vec<Event>, Option<StoreError>), StoreError> {
        let mut statement = connection
            .prepare("SELECT seq, body FROM events WHERE run_id = ?1 ORDER BY seq")
            .map_err(query("reading events"))?;
        let rows = statement
            .query_map(params![run_id], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(query("reading events"))?;
        let mut events = Vec::new();
        for row in rows {
            let (seq, body) = row.map_err(query("reading events"))?;
            let damaged = |reason: String| StoreError::DamagedEvent {
                run: shown_id(run_id),
                seq: seq.max(0) as u64,
                reason,
            };
            let event = match serde_json::from_str::<Event>(&body) {
                Ok(event) => event,
                Err(error) => return Ok((events, Some(damaged(error.to_string())))),
            };
            let expected = events.len() as u64 + 1;
            if event.seq != expected || seq.max(0) as u64 != expected || event.run_id != run_id {
                let reason = format!(
                    "expected event {expected} of this run, found event {} of run {}",
                    event.seq,
                    shown_id(&event.run_id)
                );
                return Ok((events, Some(damaged(reason))));
            }
            events.push(event);
        }
        Ok((events, None))
    }

    pub fn runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        let inner = self.lock()?;
        let mut statement = inner
            .connection
            .prepare(
                "SELECT r.id, r.endpoint, r.from_config, r.to_config, r.backend, r.time_scale, r.status, r.outcome,
                        r.started_wall_ms, r.finished_wall_ms, (SELECT COUNT(*) FROM events e WHERE e.run_id = r.id)
                 FROM runs r ORDER BY r.started_wall_ms DESC, r.id DESC",
            )
            .map_err(query("listing runs"))?;
        let rows = statement
            .query_map([], |row| {
                let outcome: Option<String> = row.get(7)?;
                Ok(RunSummary {
                    id: row.get(0)?,
                    endpoint: row.get(1)?,
                    from_config: row.get(2)?,
                    to_config: row.get(3)?,
                    backend: row.get(4)?,
                    time_scale: row.get(5)?,
                    status: row.get(6)?,
                    outcome: outcome
                        .and_then(|text| serde_json::from_str::<RunOutcome>(&text).ok())
                        .map(|outcome| outcome.describe()),
                    started_wall_ms: row.get::<_, i64>(8)? as u64,
                    finished_wall_ms: row.get::<_, Option<i64>>(9)?.map(|value| value as u64),
                    events: row.get::<_, i64>(10)? as u64,
                })
            })
            .map_err(query("listing runs"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(query("listing runs"))
    }

    /// The backend a run ran on.
    pub fn backend(&self, run_id: &str) -> Result<String, StoreError> {
        let inner = self.lock()?;
        inner
            .connection
            .query_row(
                "SELECT backend FROM runs WHERE id = ?1",
                params![run_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(query("looking up a run"))?
            .ok_or_else(|| StoreError::NoRun(run_id.to_string()))
    }

    /// The plan a run executed, as its JSON.
    pub fn plan_json(&self, run_id: &str) -> Result<String, StoreError> {
        let inner = self.lock()?;
        inner
            .connection
            .query_row(
                "SELECT plan_json FROM runs WHERE id = ?1",
                params![run_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(query("reading a run's plan"))?
            .ok_or_else(|| StoreError::NoRun(run_id.to_string()))
    }

    /// Runs of `backend` left unfinished by a process that is gone, which this
    /// process now watches: the caller resumes them. A run whose watcher still
    /// lives (a `guardrail run` beside this server) is left to it.
    pub fn claim_unfinished(&self, backend: &str) -> Result<Vec<Unfinished>, StoreError> {
        let mut inner = self.lock()?;
        let candidates: Vec<(String, String, Option<String>, Option<i64>)> = {
            let mut statement = inner
                .connection
                .prepare(
                    "SELECT id, plan_json, watch, watcher_pid FROM runs
                     WHERE status = 'running' AND backend = ?1 ORDER BY started_wall_ms",
                )
                .map_err(query("finding unfinished runs"))?;
            let rows = statement
                .query_map(params![backend], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .map_err(query("finding unfinished runs"))?;
            rows.collect::<Result<_, _>>()
                .map_err(query("finding unfinished runs"))?
        };
        let mut claimed = Vec::new();
        for (id, plan_json, watch, pid) in candidates {
            let Some(watch) = watch else { continue };
            if !claim_orphan(&inner.connection, &id, pid)? {
                continue;
            }
            let (sender, _) = broadcast::channel(4_096);
            inner.live.insert(id.clone(), sender);
            claimed.push(Unfinished {
                id,
                plan_json,
                watch,
            });
        }
        Ok(claimed)
    }

    /// Local runs left "running" by a process that is gone (a crash, a kill):
    /// this process claims them, so that it alone resolves them. A run whose
    /// process still lives (a `guardrail run` beside this server) is left to it.
    pub fn claim_interrupted(&self) -> Result<Vec<InterruptedRun>, StoreError> {
        let inner = self.lock()?;
        let candidates: Vec<(String, String, String, String, Option<i64>)> = {
            let mut statement = inner
                .connection
                .prepare(
                    "SELECT id, endpoint, from_config, to_config, watcher_pid FROM runs
                     WHERE status = 'running' AND watch IS NULL ORDER BY started_wall_ms",
                )
                .map_err(query("finding interrupted runs"))?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })
                .map_err(query("finding interrupted runs"))?;
            rows.collect::<Result<_, _>>()
                .map_err(query("finding interrupted runs"))?
        };
        let mut claimed = Vec::new();
        for (id, endpoint, from_config, to_config, pid) in candidates {
            if !claim_orphan(&inner.connection, &id, pid)? {
                continue;
            }
            let events = match Self::read_events(&inner.connection, &id) {
                Ok(events) => events,
                // A damaged record cannot be resolved from: the run is failed
                // with the damage named, and the others are still resolved.
                Err(damage @ StoreError::DamagedEvent { .. }) => {
                    tracing::error!(run = %id, "{damage}");
                    mark_failed(
                        &inner.connection,
                        &id,
                        &format!("interrupted, and {damage}"),
                        crate::engine::clock::wall_ms(),
                    )?;
                    continue;
                }
                Err(other) => return Err(other),
            };
            claimed.push(InterruptedRun {
                id,
                endpoint,
                from_config,
                to_config,
                events,
            });
        }
        Ok(claimed)
    }

    /// The config local runs last left `endpoint` on: the new one after a
    /// success, the old one after anything else. `None` before any finished run.
    pub fn last_config(&self, endpoint: &str) -> Result<Option<String>, StoreError> {
        let inner = self.lock()?;
        inner
            .connection
            .query_row(
                "SELECT CASE status WHEN 'succeeded' THEN to_config ELSE from_config END
                 FROM runs WHERE endpoint = ?1 AND watch IS NULL AND backend = 'local'
                   AND status != 'running'
                 ORDER BY started_wall_ms DESC, rowid DESC LIMIT 1",
                params![endpoint],
                |row| row.get(0),
            )
            .optional()
            .map_err(query("finding an endpoint's config"))
    }
}

/// Marks a run still running as failed for `reason`.
fn mark_failed(
    connection: &Connection,
    run_id: &str,
    reason: &str,
    now_wall_ms: u64,
) -> Result<(), StoreError> {
    let outcome = RunOutcome::Failed {
        reason: reason.to_string(),
    };
    connection
        .execute(
            "UPDATE runs SET status = 'failed', outcome = ?2, finished_wall_ms = ?3 WHERE id = ?1 AND status = 'running'",
            params![
                run_id,
                serde_json::to_string(&outcome).unwrap_or_default(),
                now_wall_ms as i64
            ],
        )
        .map_err(query("closing a run"))?;
    Ok(())
}

/// A run id as quoted in a message: at most 80 characters.
fn shown_id(id: &str) -> String {
    id.chars().take(80).collect()
}

/// The schema version of the store on `connection`.
fn schema_version(connection: &Connection) -> Result<i64, StoreError> {
    connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(query("reading its schema version"))
}

/// Refuses a store that a newer guardrail wrote: this one would misread it.
fn refuse_newer(version: i64) -> Result<(), StoreError> {
    if version > SCHEMA_VERSION {
        return Err(StoreError::Newer {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Brings a store written by an earlier version up to [`SCHEMA_VERSION`], in
/// one transaction: a store is at one version or the next, never between.
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let version = schema_version(connection)?;
    refuse_newer(version)?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let transaction = connection
        .transaction()
        .map_err(query("updating its tables"))?;
    if version < 1 {
        transaction
            .execute_batch(SCHEMA_1)
            .map_err(query("creating its tables"))?;
        add_columns(&transaction)?;
    }
    if version < 2 {
        transaction
            .execute_batch(SCHEMA_2)
            .map_err(query("creating its tables"))?;
    }
    if version < 3 {
        transaction
            .execute_batch(SCHEMA_3)
            .map_err(query("creating its tables"))?;
    }
    transaction
        .pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(query("updating its tables"))?;
    transaction.commit().map_err(query("updating its tables"))
}

/// Adds the columns version 1 gained over time to a store that lacks them.
fn add_columns(connection: &Connection) -> Result<(), StoreError> {
    let mut statement = connection
        .prepare("SELECT name FROM pragma_table_info('runs')")
        .map_err(query("reading its tables"))?;
    let present: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .map_err(query("reading its tables"))?
        .collect::<Result<_, _>>()
        .map_err(query("reading its tables"))?;
    for (name, definition) in ADDED_COLUMNS {
        if !present.iter().any(|column| column == name) {
            connection
                .execute_batch(&format!("ALTER TABLE runs ADD COLUMN {name} {definition}"))
                .map_err(query("updating its tables"))?;
        }
    }
    Ok(())
}

/// A local run whose process stopped mid-run: its record so far.
#[derive(Clone, Debug)]
pub struct InterruptedRun {
    pub id: String,
    pub endpoint: String,
    pub from_config: String,
    pub to_config: String,
    pub events: Vec<Event>,
}

/// Claims run `id` for this process, unless the process recorded as running
/// or watching it (`pid`) still lives; says whether it did.
fn claim_orphan(connection: &Connection, id: &str, pid: Option<i64>) -> Result<bool, StoreError> {
    let own = i64::from(std::process::id());
    if pid.is_some_and(|pid| pid != own && process_lives(pid)) {
        return Ok(false);
    }
    connection
        .execute(
            "UPDATE runs SET watcher_pid = ?2 WHERE id = ?1",
            params![id, own],
        )
        .map_err(query("claiming a run left unfinished"))?;
    Ok(true)
}

/// Whether process `pid` still runs (a zombie, killed and not yet reaped,
/// does not).
fn process_lives(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the command's closing parenthesis.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, kind: EventKind) -> Event {
        Event {
            run_id: "run-a".into(),
            seq,
            at_ms: seq * 1_000,
            wall_ms: 100 + seq,
            kind,
        }
    }

    fn new_run() -> NewRun {
        NewRun {
            id: "run-a".into(),
            endpoint: "guardrail-demo".into(),
            from_config: "baseline".into(),
            to_config: "fixed".into(),
            backend: "local".into(),
            time_scale: 60.0,
            plan_json: "{}".into(),
            watch: None,
            started_wall_ms: 100,
        }
    }

    #[tokio::test]
    async fn a_late_viewer_gets_history_then_live_events() {
        let store = Store::in_memory().expect("store");
        store.create_run(&new_run()).expect("run");
        store
            .append(&event(1, EventKind::GreenProvisioning { instances: 3 }))
            .expect("append");
        let (history, receiver) = store.follow("run-a").expect("follow");
        assert_eq!(history.len(), 1);
        let mut receiver = receiver.expect("still live");
        store
            .append(&event(2, EventKind::Succeeded))
            .expect("append");
        store
            .append(&event(
                3,
                EventKind::Finished {
                    outcome: RunOutcome::Succeeded,
                },
            ))
            .expect("append");
        for seq in [2, 3] {
            match receiver.recv().await.expect("live") {
                Live::Event(event) => assert_eq!(event.seq, seq),
                Live::Ended(reason) => panic!("ended: {reason}"),
            }
        }
        let (history, receiver) = store.follow("run-a").expect("follow");
        assert_eq!(
            history.iter().map(|event| event.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!(receiver.is_none(), "a finished run has no live stream");
        let runs = store.runs().expect("runs");
        assert_eq!(runs[0].status, "succeeded");
        assert_eq!(runs[0].events, 3);
    }

    #[test]
    fn unknown_runs_and_duplicate_events_are_errors_without_sql() {
        let store = Store::in_memory().expect("store");
        let error = store.events("nope").expect_err("no such run");
        assert_eq!(error.to_string(), "no run nope");
        store.create_run(&new_run()).expect("run");
        store
            .append(&event(1, EventKind::Succeeded))
            .expect("first");
        let error = store
            .append(&event(1, EventKind::Succeeded))
            .expect_err("duplicate");
        assert!(
            error
                .to_string()
                .starts_with("the run store failed while recording an event: "),
            "{error}"
        );
        assert!(!error.to_string().contains("INSERT"), "{error}");
    }

    #[tokio::test]
    async fn a_full_store_refuses_events_and_an_abandoned_run_ends_its_live_stream() {
        let directory = std::env::temp_dir().join(format!("guardrail-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let store = Store::open_limited(&directory, Some(64 * 1024)).expect("store");
        store.create_run(&new_run()).expect("run");
        let (_, receiver) = store.follow("run-a").expect("follow");
        let mut receiver = receiver.expect("live");
        let big = "x".repeat(4_000);
        let mut seq = 0;
        let error = loop {
            seq += 1;
            let result = store.append(&event(
                seq,
                EventKind::Failed {
                    reason: big.clone(),
                },
            ));
            if let Err(error) = result {
                break error;
            }
            assert!(seq < 100, "the cap never bit");
        };
        assert!(error.to_string().contains("full"), "{error}");
        store.abandon("run-a", "the run store is full", 1);
        let mut last = None;
        while let Ok(live) = receiver.recv().await {
            last = Some(live);
        }
        assert!(matches!(last, Some(Live::Ended(reason)) if reason == "the run store is full"));
        // What was written is there, in order, without a gap.
        let events = store.events("run-a").expect("events");
        let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
        assert_eq!(seqs, (1..seq).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn a_read_only_store_reads_and_refuses_to_write() {
        let directory = std::env::temp_dir().join(format!("guardrail-ro-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let writable = Store::open(&directory).expect("store");
        writable.create_run(&new_run()).expect("run");
        drop(writable);
        let store = Store::open_read_only(&directory).expect("read-only store");
        assert_eq!(store.runs().expect("runs").len(), 1);
        let mut second = new_run();
        second.id = "run-b".into();
        let error = store.create_run(&second).expect_err("read-only");
        assert!(error.to_string().contains("readonly"), "{error}");
        let missing = Store::open_read_only(&directory.join("nowhere"))
            .err()
            .expect("missing");
        assert!(
            missing.to_string().contains("no runs recorded"),
            "{missing}"
        );
        let _ = std::fs::remove_dir_all(&directory);
    }

    #[test]
    fn a_run_whose_process_is_gone_is_claimed_once_and_a_live_ones_is_left() {
        let store = Store::in_memory().expect("store");
        store.create_run(&new_run()).expect("run");
        let mut other = new_run();
        other.id = "run-b".into();
        store.create_run(&other).expect("run");
        store
            .append(&event(1, EventKind::GreenProvisioning { instances: 3 }))
            .expect("append");
        // run-b belongs to a process that lives (init), run-a to one that is gone.
        {
            let inner = store.lock().expect("lock");
            inner
                .connection
                .execute("UPDATE runs SET watcher_pid = 1 WHERE id = 'run-b'", [])
                .expect("pid");
            inner
                .connection
                .execute(
                    "UPDATE runs SET watcher_pid = 999999999 WHERE id = 'run-a'",
                    [],
                )
                .expect("pid");
        }
        let claimed = store.claim_interrupted().expect("claim");
        assert_eq!(
            claimed
                .iter()
                .map(|run| run.id.as_str())
                .collect::<Vec<_>>(),
            ["run-a"]
        );
        assert_eq!(claimed[0].events.len(), 1);
        assert_eq!(claimed[0].from_config, "baseline");
        // Claimed by this process, which lives: nobody else claims it.
        assert!(process_lives(i64::from(std::process::id())));
        assert!(!process_lives(999_999_999));
    }

    #[test]
    fn an_endpoint_is_left_on_the_new_config_only_by_a_success() {
        let store = Store::in_memory().expect("store");
        assert_eq!(store.last_config("guardrail-demo").expect("query"), None);
        let finish = |id: &str, started: u64, outcome: RunOutcome| {
            let mut run = new_run();
            run.id = id.into();
            run.started_wall_ms = started;
            store.create_run(&run).expect("run");
            store
                .append(&Event {
                    run_id: id.into(),
                    seq: 1,
                    at_ms: 0,
                    wall_ms: started,
                    kind: EventKind::Finished { outcome },
                })
                .expect("finish");
        };
        finish("one", 1, RunOutcome::Succeeded);
        assert_eq!(
            store
                .last_config("guardrail-demo")
                .expect("query")
                .as_deref(),
            Some("fixed")
        );
        finish(
            "two",
            2,
            RunOutcome::Failed {
                reason: "store full".into(),
            },
        );
        assert_eq!(
            store
                .last_config("guardrail-demo")
                .expect("query")
                .as_deref(),
            Some("baseline")
        );
        // A run still in progress does not count.
        let mut running = new_run();
        running.id = "three".into();
        running.started_wall_ms = 3;
        running.from_config = "other".into();
        store.create_run(&running).expect("run");
        assert_eq!(
            store
                .last_config("guardrail-demo")
                .expect("query")
                .as_deref(),
            Some("baseline")
        );
        assert_eq!(store.last_config("elsewhere").expect("query"), None);
    }

    #[test]
    fn a_directory_that_cannot_be_written_is_named_at_open() {
        let directory =
            std::env::temp_dir().join(format!("guardrail-unwritable-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        // The probe's own name taken by a directory: the write fails as on a
        // read-only file system (which a test running as root cannot make).
        std::fs::create_dir_all(directory.join(".guardrail-write-probe")).expect("dirs");
        let error = Store::open(&directory).err().expect("refused").to_string();
        assert!(
            error.contains("cannot be written") && error.contains("--data-dir"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&directory);
    }
}
