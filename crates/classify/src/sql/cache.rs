//! Caching decisions by statement shape, safely.
//!
//! pg_query's fingerprint is the same for statements that differ only in literal values (and
//! parameters, casts of literals, aliases, the order of FROM items and select lists). Most
//! decisions do not depend on those, so one parse per statement shape is enough. Some do:
//! `DELETE FROM t WHERE 1=1` deletes everything, `DELETE FROM t WHERE 1=2` nothing, and both
//! have one fingerprint. The classifier flags such statements, and their decisions are cached
//! only for the exact text.

use std::collections::HashMap;

use super::Analysis;

/// The literal-insensitive key of a SQL text: pg_query's 64-bit fingerprint; `None` when the
/// text does not parse.
pub fn statement_key(sql: &str) -> Option<u64> {
    pg_query::fingerprint(sql).ok().map(|f| f.value)
}

/// Where a decision may be cached.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CacheKey {
    /// Every text with this fingerprint gets the same decision.
    Shape(u64),
    /// The decision depends on literal values: only this exact text (with its fingerprint).
    Exact(u64, String),
}

/// Decisions of type `V` by statement shape, bounded: when full, it starts again empty.
#[derive(Debug)]
pub struct DecisionCache<V> {
    slots: HashMap<u64, Slot<V>>,
    entries: usize,
    capacity: usize,
}

#[derive(Debug)]
enum Slot<V> {
    /// One decision for the whole shape.
    Shape(V),
    /// The shape's decisions depend on literals: one per exact text.
    Exact(HashMap<String, V>),
}

impl<V> DecisionCache<V> {
    /// An empty cache that holds at most `capacity` decisions.
    pub fn new(capacity: usize) -> Self {
        DecisionCache { slots: HashMap::new(), entries: 0, capacity: capacity.max(1) }
    }

    /// How many decisions it holds.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether it holds no decision.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The decision cached for `sql`, computing its fingerprint.
    pub fn get(&self, sql: &str) -> Option<&V> {
        self.get_keyed(statement_key(sql)?, sql)
    }

    /// The decision cached for `sql` whose fingerprint is `key`.
    pub fn get_keyed(&self, key: u64, sql: &str) -> Option<&V> {
        match self.slots.get(&key)? {
            Slot::Shape(v) => Some(v),
            Slot::Exact(texts) => texts.get(sql),
        }
    }

    /// Remember the decision about `sql`, whose analysis is `analysis`. A text that does not
    /// parse is not cached.
    pub fn insert(&mut self, sql: &str, analysis: &Analysis, value: V) {
        let Some(key) = analysis.cache_key(sql) else { return };
        if self.entries >= self.capacity {
            self.slots.clear();
            self.entries = 0;
        }
        match key {
            CacheKey::Shape(k) => match self.slots.get_mut(&k) {
                // A shape already known to depend on literals stays exact.
                Some(Slot::Exact(texts)) => {
                    if texts.insert(sql.to_owned(), value).is_none() {
                        self.entries += 1;
                    }
                }
                Some(slot) => *slot = Slot::Shape(value),
                None => {
                    self.slots.insert(k, Slot::Shape(value));
                    self.entries += 1;
                }
            },
            CacheKey::Exact(k, text) => {
                let slot = self.slots.entry(k).or_insert_with(|| Slot::Exact(HashMap::new()));
                if let Slot::Shape(_) = slot {
                    // Never reuse a shape decision for a literal-dependent text.
                    *slot = Slot::Exact(HashMap::new());
                    self.entries = self.entries.saturating_sub(1);
                }
                if let Slot::Exact(texts) = slot
                    && texts.insert(text, value).is_none()
                {
                    self.entries += 1;
                }
            }
        }
    }
}
