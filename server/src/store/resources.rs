//! What users create through the AWS APIs, kept in the run store: models,
//! endpoint configs, endpoints and alarms (each a JSON body under its kind and
//! name), the alarms' history, the published metrics and the API clock.
//!
//! Every write is one committed transaction before the API that asked for it
//! answers, so a `kill -9` straight after a success loses nothing.

use rusqlite::{params, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{query, Store, StoreError};

/// A kind of resource the store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    Model,
    EndpointConfig,
    Endpoint,
    Alarm,
    CompositeAlarm,
    /// A registry resource (the demo, `engine.json`) deleted through the API:
    /// it stays deleted across restarts.
    Deleted,
}

impl ResourceKind {
    /// The name kept in the store and used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::EndpointConfig => "endpoint config",
            Self::Endpoint => "endpoint",
            Self::Alarm => "alarm",
            Self::CompositeAlarm => "composite alarm",
            Self::Deleted => "deleted",
        }
    }
}

/// One item of an alarm's history, as kept.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedHistoryItem {
    pub alarm: String,
    pub at_ms: u64,
    pub kind: String,
    pub summary: String,
    pub data: String,
}

/// One published metric bucket, as kept: an endpoint's variant, one config's
/// fleet, the bucket's start on the API clock, and its sums (JSON).
#[derive(Clone, Debug, PartialEq)]
pub struct SavedBucket {
    pub endpoint: String,
    pub variant: String,
    pub config: String,
    pub start_ms: u64,
    pub body: String,
}

/// What [`Store::mark_deleted`] keeps.
#[derive(Serialize, serde::Deserialize)]
struct Deletion {
    kind: String,
    name: String,
}

impl Store {
    /// Creates or replaces resource `name` of `kind`.
    pub fn save_resource(
        &self,
        kind: ResourceKind,
        name: &str,
        body: &impl Serialize,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(body).map_err(|error| StoreError::DamagedResource {
            kind: kind.as_str(),
            name: name.to_string(),
            reason: error.to_string(),
        })?;
        let inner = self.lock()?;
        inner
            .connection
            .execute(
                "INSERT INTO resources (kind, name, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body",
                params![kind.as_str(), name, body],
            )
            .map_err(query("keeping a resource"))?;
        Ok(())
    }

    /// Forgets resources `names` of `kind`, all or none.
    pub fn delete_resources(&self, kind: ResourceKind, names: &[&str]) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let transaction = inner
            .connection
            .transaction()
            .map_err(query("deleting a resource"))?;
        for name in names {
            transaction
                .execute(
                    "DELETE FROM resources WHERE kind = ?1 AND name = ?2",
                    params![kind.as_str(), name],
                )
                .map_err(query("deleting a resource"))?;
        }
        transaction.commit().map_err(query("deleting a resource"))
    }

    /// Notes that `name` of `kind` was deleted through the API, so that a
    /// registry definition of it does not bring it back at start-up. An API
    /// resource of that name created later is kept as any other.
    pub fn mark_deleted(&self, kind: ResourceKind, name: &str) -> Result<(), StoreError> {
        self.save_resource(
            ResourceKind::Deleted,
            &format!("{}:{name}", kind.as_str()),
            &Deletion {
                kind: kind.as_str().to_string(),
                name: name.to_string(),
            },
        )
    }

    /// The names of `kind` deleted through the API.
    pub fn deleted(&self, kind: ResourceKind) -> Result<Vec<String>, StoreError> {
        Ok(self
            .resources::<Deletion>(ResourceKind::Deleted)?
            .into_iter()
            .filter(|deletion| deletion.kind == kind.as_str())
            .map(|deletion| deletion.name)
            .collect())
    }

    /// Every resource of `kind`, by name. One that cannot be read is an error
    /// that names it: a restart never quietly forgets a resource.
    pub fn resources<T: DeserializeOwned>(&self, kind: ResourceKind) -> Result<Vec<T>, StoreError> {
        let inner = self.lock()?;
        let mut statement = inner
            .connection
            .prepare("SELECT name, body FROM resources WHERE kind = ?1 ORDER BY name")
            .map_err(query("reading resources"))?;
        let rows = statement
            .query_map(params![kind.as_str()], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(query("reading resources"))?;
        let mut resources = Vec::new();
        for row in rows {
            let (name, body) = row.map_err(query("reading resources"))?;
            let resource =
                serde_json::from_str(&body).map_err(|error| StoreError::DamagedResource {
                    kind: kind.as_str(),
                    name: name.chars().take(80).collect(),
                    reason: error.to_string(),
                })?;
            resources.push(resource);
        }
        Ok(resources)
    }

    /// Appends an item to the alarms' history, keeping the newest `keep`.
    pub fn append_alarm_history(
        &self,
        item: &SavedHistoryItem,
        keep: usize,
    ) -> Result<(), StoreError> {
        let inner = self.lock()?;
        inner
            .connection
            .execute(
                "INSERT INTO alarm_history (alarm, at_ms, kind, summary, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![item.alarm, item.at_ms as i64, item.kind, item.summary, item.data],
            )
            .map_err(query("keeping an alarm's history"))?;
        let id = inner.connection.last_insert_rowid();
        // Ids only grow, so the newest `keep` items are those above this one.
        inner
            .connection
            .execute(
                "DELETE FROM alarm_history WHERE id <= ?1",
                params![id.saturating_sub(keep as i64)],
            )
            .map_err(query("keeping an alarm's history"))?;
        Ok(())
    }

    /// The alarms' history, oldest first.
    pub fn alarm_history(&self) -> Result<Vec<SavedHistoryItem>, StoreError> {
        let inner = self.lock()?;
        let mut statement = inner
            .connection
            .prepare("SELECT alarm, at_ms, kind, summary, data FROM alarm_history ORDER BY id")
            .map_err(query("reading alarms' history"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(SavedHistoryItem {
                    alarm: row.get(0)?,
                    at_ms: row.get::<_, i64>(1)?.max(0) as u64,
                    kind: row.get(2)?,
                    summary: row.get(3)?,
                    data: row.get(4)?,
                })
            })
            .map_err(query("reading alarms' history"))?;
        rows.collect::<Result<_, _>>()
            .map_err(query("reading alarms' history"))
    }

    /// In one transaction: forgets the buckets of each `rolled_up` range
    /// (endpoint, variant, `[from_ms, to_ms)`), keeps `buckets` (replacing
    /// any kept for the same bucket), and forgets those that started before
    /// `oldest_ms`.
    pub fn save_buckets(
        &self,
        rolled_up: &[(String, String, u64, u64)],
        buckets: &[SavedBucket],
        oldest_ms: u64,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let transaction = inner
            .connection
            .transaction()
            .map_err(query("keeping metrics"))?;
        for (endpoint, variant, from_ms, to_ms) in rolled_up {
            transaction
                .execute(
                    "DELETE FROM metric_buckets WHERE endpoint = ?1 AND variant = ?2 AND start_ms >= ?3 AND start_ms < ?4",
                    params![endpoint, variant, *from_ms as i64, *to_ms as i64],
                )
                .map_err(query("keeping metrics"))?;
        }
        for bucket in buckets {
            transaction
                .execute(
                    "INSERT INTO metric_buckets (endpoint, variant, config, start_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (endpoint, variant, config, start_ms) DO UPDATE SET body = excluded.body",
                    params![
                        bucket.endpoint,
                        bucket.variant,
                        bucket.config,
                        bucket.start_ms as i64,
                        bucket.body
                    ],
                )
                .map_err(query("keeping metrics"))?;
        }
        transaction
            .execute(
                "DELETE FROM metric_buckets WHERE start_ms < ?1",
                params![oldest_ms as i64],
            )
            .map_err(query("keeping metrics"))?;
        transaction.commit().map_err(query("keeping metrics"))
    }

    /// The published metric buckets kept, oldest first.
    pub fn buckets(&self) -> Result<Vec<SavedBucket>, StoreError> {
        let inner = self.lock()?;
        let mut statement = inner
            .connection
            .prepare(
                "SELECT endpoint, variant, config, start_ms, body FROM metric_buckets
                 ORDER BY start_ms, endpoint, config",
            )
            .map_err(query("reading metrics"))?;
        let rows = statement
            .query_map([], |row| {
                Ok(SavedBucket {
                    endpoint: row.get(0)?,
                    variant: row.get(1)?,
                    config: row.get(2)?,
                    start_ms: row.get::<_, i64>(3)?.max(0) as u64,
                    body: row.get(4)?,
                })
            })
            .map_err(query("reading metrics"))?;
        rows.collect::<Result<_, _>>()
            .map_err(query("reading metrics"))
    }

    /// In one transaction: keeps custom metric `buckets` (series JSON, start,
    /// body), replacing any kept for the same bucket; for each of `rolled_up`
    /// (series JSON, `[from_ms, to_ms)`) first forgets the buckets inside;
    /// and forgets every bucket that started before `oldest_ms`.
    pub fn save_custom_buckets(
        &self,
        rolled_up: &[(String, u64, u64)],
        buckets: &[(String, u64, String)],
        oldest_ms: u64,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock()?;
        let transaction = inner
            .connection
            .transaction()
            .map_err(query("keeping published metric data"))?;
        for (series, from_ms, to_ms) in rolled_up {
            transaction
                .execute(
                    "DELETE FROM custom_metric_buckets WHERE series = ?1 AND start_ms >= ?2 AND start_ms < ?3",
                    params![series, *from_ms as i64, *to_ms as i64],
                )
                .map_err(query("keeping published metric data"))?;
        }
        for (series, start_ms, body) in buckets {
            transaction
                .execute(
                    "INSERT INTO custom_metric_buckets (series, start_ms, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (series, start_ms) DO UPDATE SET body = excluded.body",
                    params![series, *start_ms as i64, body],
                )
                .map_err(query("keeping published metric data"))?;
        }
        transaction
            .execute(
                "DELETE FROM custom_metric_buckets WHERE start_ms < ?1",
                params![oldest_ms as i64],
            )
            .map_err(query("keeping published metric data"))?;
        transaction
            .commit()
            .map_err(query("keeping published metric data"))
    }

    /// The custom metric buckets kept: (series JSON, start, body), oldest first.
    pub fn custom_buckets(&self) -> Result<Vec<(String, u64, String)>, StoreError> {
        let inner = self.lock()?;
        let mut statement = inner
            .connection
            .prepare("SELECT series, start_ms, body FROM custom_metric_buckets ORDER BY start_ms, series")
            .map_err(query("reading published metric data"))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?.max(0) as u64,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(query("reading published metric data"))?;
        rows.collect::<Result<_, _>>()
            .map_err(query("reading published metric data"))
    }

    /// Keeps the API clock's reading, so that a restart does not turn it back.
    pub fn save_api_clock(&self, api_ms: u64) -> Result<(), StoreError> {
        let inner = self.lock()?;
        inner
            .connection
            .execute(
                "INSERT INTO meta (key, value) VALUES ('api_clock_ms', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![api_ms.to_string()],
            )
            .map_err(query("keeping the API clock"))?;
        Ok(())
    }

    /// The API clock's last reading kept, if any.
    pub fn api_clock(&self) -> Result<Option<u64>, StoreError> {
        let inner = self.lock()?;
        let value: Option<String> = inner
            .connection
            .query_row(
                "SELECT value FROM meta WHERE key = 'api_clock_ms'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(query("reading the API clock"))?;
        Ok(value.and_then(|text| text.parse().ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Thing {
        name: String,
        size: u32,
    }

    #[test]
    fn resources_are_kept_replaced_and_deleted_and_damage_is_named() {
        let store = Store::in_memory().expect("store");
        let thing = |name: &str, size| Thing {
            name: name.into(),
            size,
        };
        store
            .save_resource(ResourceKind::Model, "b", &thing("b", 1))
            .expect("save");
        store
            .save_resource(ResourceKind::Model, "a", &thing("a", 1))
            .expect("save");
        store
            .save_resource(ResourceKind::Model, "a", &thing("a", 2))
            .expect("replace");
        store
            .save_resource(ResourceKind::Alarm, "a", &thing("alarm", 3))
            .expect("another kind");
        let models: Vec<Thing> = store.resources(ResourceKind::Model).expect("read");
        assert_eq!(models, [thing("a", 2), thing("b", 1)]);
        store
            .delete_resources(ResourceKind::Model, &["a"])
            .expect("delete");
        let models: Vec<Thing> = store.resources(ResourceKind::Model).expect("read");
        assert_eq!(models, [thing("b", 1)]);
        let alarms: Vec<Thing> = store.resources(ResourceKind::Alarm).expect("read");
        assert_eq!(alarms, [thing("alarm", 3)]);
        {
            let inner = store.lock().expect("lock");
            inner
                .connection
                .execute(
                    "UPDATE resources SET body = '{\"name\": 1' WHERE name = 'b'",
                    [],
                )
                .expect("damage");
        }
        let error = store
            .resources::<Thing>(ResourceKind::Model)
            .expect_err("damaged");
        assert!(
            error
                .to_string()
                .starts_with("the run store's model b cannot be read"),
            "{error}"
        );
    }

    #[test]
    fn history_keeps_the_newest_items_and_the_clock_its_reading() {
        let store = Store::in_memory().expect("store");
        for at_ms in 0..5 {
            store
                .append_alarm_history(
                    &SavedHistoryItem {
                        alarm: "a".into(),
                        at_ms,
                        kind: "StateUpdate".into(),
                        summary: format!("item {at_ms}"),
                        data: "{}".into(),
                    },
                    3,
                )
                .expect("append");
        }
        let kept: Vec<u64> = store
            .alarm_history()
            .expect("history")
            .iter()
            .map(|item| item.at_ms)
            .collect();
        assert_eq!(kept, [2, 3, 4]);
        assert_eq!(store.api_clock().expect("clock"), None);
        store.save_api_clock(1_234).expect("save");
        store.save_api_clock(5_678).expect("save");
        assert_eq!(store.api_clock().expect("clock"), Some(5_678));
    }

    #[test]
    fn buckets_are_replaced_and_forgotten_after_the_retention() {
        let store = Store::in_memory().expect("store");
        let bucket = |start_ms, body: &str| SavedBucket {
            endpoint: "e".into(),
            variant: "AllTraffic".into(),
            config: "c".into(),
            start_ms,
            body: body.into(),
        };
        store
            .save_buckets(&[], &[bucket(0, "old"), bucket(10_000, "first")], 0)
            .expect("save");
        store
            .save_buckets(&[], &[bucket(10_000, "second")], 10_000)
            .expect("save");
        assert_eq!(store.buckets().expect("read"), [bucket(10_000, "second")]);
        // A roll-up replaces a minute's 10-second buckets with one.
        let fine: Vec<SavedBucket> = (0..6)
            .map(|n| bucket(60_000 + n * 10_000, "ten seconds"))
            .chain([bucket(120_000, "the next minute")])
            .collect();
        store.save_buckets(&[], &fine, 10_000).expect("save");
        let range = ("e".to_string(), "AllTraffic".to_string(), 60_000, 120_000);
        store
            .save_buckets(&[range], &[bucket(60_000, "a minute")], 10_000)
            .expect("save");
        assert_eq!(
            store.buckets().expect("read"),
            [
                bucket(10_000, "second"),
                bucket(60_000, "a minute"),
                bucket(120_000, "the next minute")
            ]
        );
    }
}
