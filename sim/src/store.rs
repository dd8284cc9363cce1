//! The object store behind the simulated API server: objects as JSON, one global
//! resourceVersion counter like etcd's revision, and a history of changes so that a
//! watch can resume from any resourceVersion it was given.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// `group/plural`, e.g. `apps/deployments` or `/pods`.
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(resource: &str, namespace: &str, name: &str) -> Self {
        Key {
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub key: Key,
    pub kind: EventType,
    pub object: Arc<Value>,
}

pub struct Store {
    rv: u64,
    uid_counter: u64,
    /// Shared, not copied: controllers list whole resources every pass, and a list hands out
    /// references to the stored objects (copying them was most of the test suite's CPU).
    objects: BTreeMap<Key, Arc<Value>>,
    history: Vec<Arc<Event>>,
    events: broadcast::Sender<Arc<Event>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(4096);
        Store {
            rv: 1,
            uid_counter: 0,
            objects: BTreeMap::new(),
            history: Vec::new(),
            events,
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Changes after `rv`, or `None` when `rv` is older than the oldest kept change
    /// (the real server answers 410 Gone then).
    pub fn history_since(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        if rv + 1 < self.history.first().map_or(1, |e| e.rv) {
            return None;
        }
        Some(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key).map(|v| &**v)
    }

    /// The stored object itself, shared: to read it while writing to the store.
    pub fn get_shared(&self, key: &Key) -> Option<Arc<Value>> {
        self.objects.get(key).cloned()
    }

    /// The stored objects of one resource, keys in order (`Key` sorts by resource first).
    fn of_resource<'a>(
        &'a self,
        resource: &'a str,
    ) -> impl Iterator<Item = (&'a Key, &'a Arc<Value>)> + 'a {
        self.objects
            .range(Key::new(resource, "", "")..)
            .take_while(move |(k, _)| k.resource == resource)
    }

    /// Borrow the objects of one resource, in one namespace or (with `None`) in all.
    pub fn iter<'a>(
        &'a self,
        resource: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.of_resource(resource)
            .filter(move |(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(_, v)| &**v)
    }

    /// Objects of one resource, in one namespace or (with `None`) in all.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
        self.of_resource(resource)
            .filter(|(k, _)| namespace.is_none_or(|ns| k.namespace == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Insert or replace an object, stamping uid, resourceVersion, creationTimestamp and
    /// generation the way the API server does.
    pub fn put(&mut self, key: Key, mut object: Value) -> Arc<Value> {
        self.rv += 1;
        let previous = self.objects.get(&key);
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        let meta = object
            .as_object_mut()
            .expect("objects are JSON objects")
            .entry("metadata")
            .or_insert_with(|| json!({}));
        match previous {
            Some(prev) => {
                for field in ["uid", "creationTimestamp"] {
                    meta[field] = prev["metadata"][field].clone();
                }
                let prev_gen = prev["metadata"]["generation"].as_u64().unwrap_or(1);
                let spec_changed = prev.get("spec") != object_spec(&object);
                let generation = if spec_changed { prev_gen + 1 } else { prev_gen };
                object["metadata"]["generation"] = json!(generation);
            }
            None => {
                self.uid_counter += 1;
                meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", self.uid_counter));
                meta["creationTimestamp"] = json!(crate::now_rfc3339());
                meta["generation"] = json!(1);
            }
        }
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let object = Arc::new(object);
        self.objects.insert(key.clone(), object.clone());
        self.record(key, kind, object.clone());
        object
    }

    pub fn delete(&mut self, key: &Key) -> Option<Arc<Value>> {
        let mut object = Arc::unwrap_or_clone(self.objects.remove(key)?);
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let object = Arc::new(object);
        self.record(key.clone(), EventType::Deleted, object.clone());
        Some(object)
    }

    fn record(&mut self, key: Key, kind: EventType, object: Arc<Value>) {
        let event = Arc::new(Event {
            rv: self.rv,
            key,
            kind,
            object,
        });
        self.history.push(event.clone());
        // Nobody listening is fine: watchers subscribe when they start.
        let _ = self.events.send(event);
    }
}

fn object_spec(object: &Value) -> Option<&Value> {
    object.get("spec")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_stamps_metadata_and_bumps_generation_on_spec_change_only() {
        let mut store = Store::new();
        let key = Key::new("apps/deployments", "ns", "d");
        let first = store.put(
            key.clone(),
            json!({"metadata": {"name": "d"}, "spec": {"replicas": 1}}),
        );
        assert_eq!(first["metadata"]["generation"], 1);
        let uid = first["metadata"]["uid"].clone();
        let second = store.put(
            key.clone(),
            json!({"metadata": {"name": "d"}, "spec": {"replicas": 1}, "status": {}}),
        );
        assert_eq!(second["metadata"]["generation"], 1);
        assert_eq!(second["metadata"]["uid"], uid);
        let third = store.put(
            key,
            json!({"metadata": {"name": "d"}, "spec": {"replicas": 2}}),
        );
        assert_eq!(third["metadata"]["generation"], 2);
    }

    #[test]
    fn history_replays_changes_after_a_resource_version() {
        let mut store = Store::new();
        let a = store.put(
            Key::new("/pods", "ns", "a"),
            json!({"metadata": {"name": "a"}}),
        );
        let rv_a: u64 = a["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        store.put(
            Key::new("/pods", "ns", "b"),
            json!({"metadata": {"name": "b"}}),
        );
        store.delete(&Key::new("/pods", "ns", "a"));
        let since = store.history_since(rv_a).unwrap();
        let kinds: Vec<_> = since
            .iter()
            .map(|e| (e.key.name.as_str(), e.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![("b", EventType::Added), ("a", EventType::Deleted)]
        );
    }
}
