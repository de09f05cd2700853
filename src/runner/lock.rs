//! The lock table: runs whose lock keys are equal take turns, first come first served, within
//! this warroom process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Held for the whole run; dropping it lets the next run with the same key start.
pub(crate) type LockGuard = tokio::sync::OwnedMutexGuard<()>;

#[derive(Debug, Default)]
pub(crate) struct LockTable {
    /// Weak, so a key nobody holds or waits for takes no memory once pruned.
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl LockTable {
    /// The lock for `key`, shared by everyone holding or waiting for it. Tokio's mutex
    /// queues waiters fairly, so runs start in the order they asked.
    pub(crate) fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(lock) = locks.get(key).and_then(Weak::upgrade) {
            return lock;
        }
        locks.retain(|_, lock| lock.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(key.to_owned(), Arc::downgrade(&lock));
        lock
    }

    /// Whether a run holds `key` right now.
    pub(crate) fn is_held(&self, key: &str) -> bool {
        let locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks
            .get(key)
            .and_then(Weak::upgrade)
            .is_some_and(|lock| lock.try_lock().is_err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_key_one_holder_and_unused_keys_are_forgotten() {
        let table = LockTable::default();
        let held = table.get("db:app").try_lock_owned().unwrap();
        assert!(table.is_held("db:app"));
        assert!(table.get("db:app").try_lock_owned().is_err());
        assert!(table.get("db:analytics").try_lock_owned().is_ok());
        drop(held);
        assert!(!table.is_held("db:app"));
        let _other = table.get("unit:nginx");
        assert_eq!(
            table.locks.lock().unwrap().len(),
            1,
            "only the key still referenced is kept"
        );
    }
}
