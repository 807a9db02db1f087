//! Which scenes are resident on the GPU, which are staged in RAM, and which must wait:
//! a cache with a count budget and byte budgets per tier, pins (a scene in use cannot
//! be evicted), and eviction by *furthest next use* (Belady's rule, which the batch
//! knows exactly because it knows its remaining work).
//!
//! A request for a scene is served in the cheapest way that fits:
//! it is already on the GPU ([`Admission::Resident`]), it is staged in RAM and is
//! promoted ([`Admission::Promoted`]), or it is loaded ([`Admission::Loaded`]). To make
//! room, idle (unpinned) GPU scenes are evicted, furthest next use first; an evicted
//! scene that future work still needs is demoted to RAM when the RAM budget allows,
//! else dropped. When nothing idle is left to evict the request must
//! [`Admission::Wait`] for a release. A sequence (an animated scene's frames) is
//! uploaded whole when it fits the GPU budget on its own and otherwise
//! [`Admission::Streamed`] frame by frame from RAM: never partly uploaded.
//!
//! ```
//! use scheduler::jobs::residency::{Admission, Budgets, Residency, Size};
//! let mut r = Residency::new(Budgets { max_resident: 1, gpu_bytes: 100, ram_bytes: 100 });
//! // Remaining work: scene "a", then "b", then "a" again.
//! r.plan(["a", "b", "a"]);
//! let size = Size { gpu: 60, ram: 50 };
//! assert_eq!(r.acquire("a", size, false).unwrap(), Admission::Loaded);
//! assert_eq!(r.acquire("b", size, false).unwrap(), Admission::Wait); // "a" is pinned
//! r.release("a");
//! assert_eq!(r.acquire("b", size, false).unwrap(), Admission::Loaded); // "a" -> RAM
//! assert_eq!(r.ram_bytes(), 50);
//! r.release("b");
//! assert_eq!(r.acquire("a", size, false).unwrap(), Admission::Promoted);
//! ```

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// The budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Scenes resident on the GPU at once.
    pub max_resident: usize,
    /// GPU bytes.
    pub gpu_bytes: u64,
    /// RAM bytes for staged (demoted or prefetched) scenes.
    pub ram_bytes: u64,
}

/// A scene's size in each tier: on the GPU, and staged in RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    /// Bytes it takes on the GPU.
    pub gpu: u64,
    /// Bytes it takes staged in RAM.
    pub ram: u64,
}

/// How a request was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Already on the GPU.
    Resident,
    /// Moved from RAM to the GPU.
    Promoted,
    /// Loaded from disk to the GPU.
    Loaded,
    /// A sequence too big for the GPU budget: its frames stream from RAM (it holds
    /// no GPU residency of its own).
    Streamed,
    /// No room until something is released.
    Wait,
}

/// A request that can never be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResidencyError {
    /// The scene alone is larger than the GPU budget (and is not a sequence that could
    /// stream).
    #[error("{bytes} bytes do not fit the GPU budget of {budget} bytes")]
    TooLarge {
        /// Its size.
        bytes: u64,
        /// The budget.
        budget: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Gpu { pins: u32 },
    Ram,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: Size,
    tier: Tier,
    sequence: bool,
    last_used: u64,
}

/// Where one scene is, for status files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement<K> {
    /// The scene.
    pub key: K,
    /// On the GPU (else staged in RAM).
    pub on_gpu: bool,
    /// Uses in progress.
    pub pins: u32,
    /// A sequence.
    pub sequence: bool,
    /// Bytes in its tier.
    pub bytes: u64,
}

impl Entry {
    fn bytes(&self) -> u64 {
        match self.tier {
            Tier::Gpu { .. } => self.size.gpu,
            Tier::Ram => self.size.ram,
        }
    }
}

/// What an eviction or admission did, for logs and status files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<K> {
    /// Moved from the GPU to RAM.
    Demoted(K),
    /// Dropped from the GPU (no future use, or no RAM for it).
    Dropped(K),
    /// Dropped from RAM.
    Forgotten(K),
}

/// The residency cache over scene keys `K`.
#[derive(Debug)]
pub struct Residency<K> {
    budgets: Budgets,
    entries: HashMap<K, Entry>,
    /// Remaining uses of each key, as positions in the remaining work.
    future: HashMap<K, VecDeque<u64>>,
    events: Vec<Event<K>>,
    clock: u64,
}

impl<K: Clone + Eq + Hash> Residency<K> {
    /// An empty cache.
    #[must_use]
    pub fn new(budgets: Budgets) -> Self {
        Self {
            budgets,
            entries: HashMap::new(),
            future: HashMap::new(),
            events: Vec::new(),
            clock: 0,
        }
    }

    /// Declares the remaining work, in order (each item is one use of its key); the
    /// next use of each key decides what is evicted first.
    pub fn plan(&mut self, uses: impl IntoIterator<Item = K>) {
        self.future.clear();
        for (i, k) in uses.into_iter().enumerate() {
            self.future.entry(k).or_default().push_back(i as u64);
        }
    }

    fn next_use(&self, k: &K) -> u64 {
        self.future
            .get(k)
            .and_then(|q| q.front().copied())
            .unwrap_or(u64::MAX)
    }

    /// Bytes on the GPU.
    #[must_use]
    pub fn gpu_bytes(&self) -> u64 {
        self.sum(|t| matches!(t, Tier::Gpu { .. }))
    }

    /// Bytes staged in RAM.
    #[must_use]
    pub fn ram_bytes(&self) -> u64 {
        self.sum(|t| t == Tier::Ram)
    }

    /// Scenes on the GPU.
    #[must_use]
    pub fn resident(&self) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.tier, Tier::Gpu { .. }))
            .count()
    }

    /// Whether `k` is on the GPU.
    #[must_use]
    pub fn is_resident(&self, k: &K) -> bool {
        self.entries
            .get(k)
            .is_some_and(|e| matches!(e.tier, Tier::Gpu { .. }))
    }

    /// Whether `k` is staged in RAM.
    #[must_use]
    pub fn is_staged(&self, k: &K) -> bool {
        self.entries.get(k).is_some_and(|e| e.tier == Tier::Ram)
    }

    /// The events since the last call.
    pub fn take_events(&mut self) -> Vec<Event<K>> {
        std::mem::take(&mut self.events)
    }

    fn sum(&self, f: impl Fn(Tier) -> bool) -> u64 {
        self.entries
            .values()
            .filter(|e| f(e.tier))
            .map(Entry::bytes)
            .sum()
    }

    /// Requests `k` (of `size`) for one use on the GPU; a served request pins it
    /// until [`Residency::release`]. `sequence`: a whole animated sequence, streamed
    /// from RAM when it alone exceeds the GPU budget.
    ///
    /// # Errors
    /// [`ResidencyError::TooLarge`] when a non-sequence alone exceeds the GPU budget.
    pub fn acquire(
        &mut self,
        k: K,
        size: Size,
        sequence: bool,
    ) -> Result<Admission, ResidencyError> {
        let bytes = size.gpu;
        self.clock += 1;
        if let Some(e) = self.entries.get_mut(&k) {
            if let Tier::Gpu { pins } = &mut e.tier {
                *pins += 1;
                e.last_used = self.clock;
                return Ok(Admission::Resident);
            }
        }
        if bytes > self.budgets.gpu_bytes || self.budgets.max_resident == 0 {
            if sequence {
                return Ok(Admission::Streamed);
            }
            return Err(ResidencyError::TooLarge {
                bytes,
                budget: self.budgets.gpu_bytes,
            });
        }
        // Make room: evict idle GPU scenes, furthest next use first, until it fits.
        while self.resident() >= self.budgets.max_resident
            || self.gpu_bytes() + bytes > self.budgets.gpu_bytes
        {
            let victim = self
                .entries
                .iter()
                .filter(|(key, e)| e.tier == Tier::Gpu { pins: 0 } && **key != k)
                .max_by_key(|(key, _)| self.next_use(key))
                .map(|(key, _)| key.clone());
            let Some(victim) = victim else {
                return Ok(Admission::Wait);
            };
            self.demote(victim);
        }
        let staged = self.entries.remove(&k).is_some();
        self.entries.insert(
            k,
            Entry {
                size,
                tier: Tier::Gpu { pins: 1 },
                sequence,
                last_used: self.clock,
            },
        );
        Ok(if staged {
            Admission::Promoted
        } else {
            Admission::Loaded
        })
    }

    /// Moves an idle GPU scene to RAM if future work needs it and RAM can hold it
    /// (evicting staged scenes of later next use to make room), else drops it.
    fn demote(&mut self, k: K) {
        let Some(e) = self.entries.get(&k).copied() else {
            return;
        };
        let needed = self.next_use(&k) != u64::MAX;
        if needed && e.size.ram <= self.budgets.ram_bytes {
            let mine = self.next_use(&k);
            if self.make_ram_room(e.size.ram, mine) {
                self.entries.insert(
                    k.clone(),
                    Entry {
                        tier: Tier::Ram,
                        ..e
                    },
                );
                self.events.push(Event::Demoted(k));
                return;
            }
        }
        self.entries.remove(&k);
        self.events.push(Event::Dropped(k));
    }

    /// Ends one use of `k`: unpins it and consumes its next planned use. A scene no
    /// future work needs is freed at once when idle, from either tier.
    pub fn release(&mut self, k: K) {
        self.unpin(&k);
        self.forgo(k);
    }

    /// Consumes `k`'s next planned use without a pin (a unit that gave up before it
    /// was served); frees `k` when idle and no future work needs it.
    pub fn forgo(&mut self, k: K) {
        if let Some(q) = self.future.get_mut(&k) {
            q.pop_front();
            if q.is_empty() {
                self.future.remove(&k);
            }
        }
        let idle = match self.entries.get(&k) {
            Some(Entry {
                tier: Tier::Gpu { pins },
                ..
            }) => *pins == 0,
            Some(_) => true,
            None => false,
        };
        if idle && self.next_use(&k) == u64::MAX {
            if let Some(e) = self.entries.remove(&k) {
                self.events.push(match e.tier {
                    Tier::Gpu { .. } => Event::Dropped(k),
                    Tier::Ram => Event::Forgotten(k),
                });
            }
        }
    }

    /// Unpins `k` after a failed attempt, keeping its planned use (it will be
    /// requested again).
    pub fn unpin(&mut self, k: &K) {
        if let Some(Entry {
            tier: Tier::Gpu { pins },
            ..
        }) = self.entries.get_mut(k)
        {
            *pins = pins.saturating_sub(1);
        }
    }

    /// Undoes a served request whose upload failed: `k` leaves the GPU (its planned
    /// use is not consumed; it may be requested again).
    pub fn abort(&mut self, k: &K) {
        if self.is_resident(k) {
            self.entries.remove(k);
        }
    }

    /// First step of the out-of-memory ladder: moves every idle sequence off the GPU
    /// (to RAM when future work needs it and RAM has room); how many moved.
    pub fn evict_sequences(&mut self) -> usize {
        let victims: Vec<K> = self
            .entries
            .iter()
            .filter(|(_, e)| e.sequence && e.tier == Tier::Gpu { pins: 0 })
            .map(|(k, _)| k.clone())
            .collect();
        for v in &victims {
            self.demote(v.clone());
        }
        victims.len()
    }

    /// Second step of the out-of-memory ladder: moves the least recently used idle
    /// scene off the GPU; which one.
    pub fn evict_least_recent(&mut self) -> Option<K> {
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| e.tier == Tier::Gpu { pins: 0 })
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone())?;
        self.demote(victim.clone());
        Some(victim)
    }

    /// Where every known scene is.
    #[must_use]
    pub fn placements(&self) -> Vec<Placement<K>> {
        self.entries
            .iter()
            .map(|(k, e)| Placement {
                key: k.clone(),
                on_gpu: matches!(e.tier, Tier::Gpu { .. }),
                pins: match e.tier {
                    Tier::Gpu { pins } => pins,
                    Tier::Ram => 0,
                },
                sequence: e.sequence,
                bytes: e.bytes(),
            })
            .collect()
    }

    /// The budgets.
    #[must_use]
    pub fn budgets(&self) -> Budgets {
        self.budgets
    }

    /// Stages `k` in RAM ahead of use (prefetch), if it is neither resident nor
    /// staged, future work needs it, and RAM holds it without evicting anything needed
    /// sooner.
    pub fn prefetch(&mut self, k: K, size: Size) -> bool {
        let bytes = size.ram;
        if self.entries.contains_key(&k)
            || bytes > self.budgets.ram_bytes
            || self.next_use(&k) == u64::MAX
        {
            return false;
        }
        let mine = self.next_use(&k);
        if !self.make_ram_room(bytes, mine) {
            return false;
        }
        self.entries.insert(
            k,
            Entry {
                size,
                tier: Tier::Ram,
                sequence: false,
                last_used: 0,
            },
        );
        true
    }

    /// Frees RAM for `bytes` by forgetting staged scenes needed later than `next_use`
    /// (furthest first); whether they now fit.
    fn make_ram_room(&mut self, bytes: u64, next_use: u64) -> bool {
        while self.ram_bytes() + bytes > self.budgets.ram_bytes {
            let victim = self
                .entries
                .iter()
                .filter(|(key, x)| x.tier == Tier::Ram && self.next_use(key) > next_use)
                .max_by_key(|(key, _)| self.next_use(key))
                .map(|(key, _)| key.clone());
            match victim {
                Some(v) => {
                    self.entries.remove(&v);
                    self.events.push(Event::Forgotten(v));
                }
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Random job streams and budgets: the count and byte budgets are never
        /// exceeded, pinned scenes are never evicted, and every job is eventually served
        /// when jobs release in order.
        #[test]
        fn budgets_hold_for_random_streams(
            max_resident in 1usize..4,
            gpu in 50u64..400,
            ram in 0u64..400,
            sizes in proptest::collection::vec(1u64..200, 6),
            stream in proptest::collection::vec((0usize..6, any::<bool>(), 0usize..3), 1..60),
        ) {
            let mut r = Residency::new(Budgets { max_resident, gpu_bytes: gpu, ram_bytes: ram });
            r.plan(stream.iter().map(|&(k, _, _)| k));
            let mut held: VecDeque<usize> = VecDeque::new();
            for &(k, sequence, prefetch) in &stream {
                let size = |k: usize| Size { gpu: sizes[k], ram: sizes[(k + 1) % 6] };
                let _ = r.prefetch(prefetch, size(prefetch));
                loop {
                    match r.acquire(k, size(k), sequence) {
                        Ok(Admission::Wait) => {
                            // Release the oldest use; there must be one to wait for.
                            let done = held.pop_front().expect("waits only while something is held");
                            r.release(done);
                        }
                        Ok(Admission::Streamed) => {
                            prop_assert!(sizes[k] > gpu);
                            r.release(k);
                            break;
                        }
                        Ok(_) => {
                            held.push_back(k);
                            prop_assert!(r.is_resident(&k));
                            break;
                        }
                        Err(ResidencyError::TooLarge { .. }) => {
                            prop_assert!(sizes[k] > gpu && !sequence);
                            r.release(k);
                            break;
                        }
                    }
                    prop_assert!(r.resident() <= max_resident);
                }
                prop_assert!(r.resident() <= max_resident);
                prop_assert!(r.gpu_bytes() <= gpu, "gpu {} > {gpu}", r.gpu_bytes());
                prop_assert!(r.ram_bytes() <= ram, "ram {} > {ram}", r.ram_bytes());
                for h in &held {
                    prop_assert!(r.is_resident(h), "a held scene was evicted");
                }
            }
        }
    }

    const TEN: Size = Size { gpu: 10, ram: 10 };

    fn both(b: u64) -> Size {
        Size { gpu: b, ram: b }
    }

    #[test]
    fn evicts_the_scene_needed_furthest_ahead() {
        let mut r = Residency::new(Budgets {
            max_resident: 2,
            gpu_bytes: 1000,
            ram_bytes: 1000,
        });
        r.plan(["a", "b", "c", "b", "a"]);
        for k in ["a", "b"] {
            assert_eq!(r.acquire(k, TEN, false).unwrap(), Admission::Loaded);
            r.release(k);
        }
        // "c" needs room: "a" (next used last) goes to RAM, "b" stays.
        assert_eq!(r.acquire("c", TEN, false).unwrap(), Admission::Loaded);
        assert!(r.is_staged(&"a") && r.is_resident(&"b"));
        assert_eq!(r.take_events(), vec![Event::Demoted("a")]);
        r.release("c");
        assert_eq!(r.acquire("b", TEN, false).unwrap(), Admission::Resident);
    }

    #[test]
    fn sequences_stream_when_too_big_and_plain_scenes_are_refused() {
        let mut r = Residency::new(Budgets {
            max_resident: 2,
            gpu_bytes: 100,
            ram_bytes: 1000,
        });
        assert_eq!(
            r.acquire("seq", both(500), true).unwrap(),
            Admission::Streamed
        );
        assert_eq!(r.gpu_bytes(), 0, "never partly uploaded");
        assert!(matches!(
            r.acquire("big", both(500), false),
            Err(ResidencyError::TooLarge { .. })
        ));
        assert_eq!(
            r.acquire("seq2", both(100), true).unwrap(),
            Admission::Loaded
        );
    }

    #[test]
    fn out_of_memory_ladder_and_release_of_finished_scenes() {
        let mut r = Residency::new(Budgets {
            max_resident: 3,
            gpu_bytes: 1000,
            ram_bytes: 1000,
        });
        r.plan(["seq", "a", "b", "seq", "a", "b"]);
        for (k, seq) in [("seq", true), ("a", false), ("b", false)] {
            assert_eq!(r.acquire(k, TEN, seq).unwrap(), Admission::Loaded);
        }
        r.release("seq");
        // "a" and "b" are in use: only the idle sequence can go.
        assert_eq!(r.evict_sequences(), 1);
        assert!(r.is_staged(&"seq"));
        assert_eq!(r.evict_least_recent(), None, "nothing idle");
        r.release("a");
        r.release("b");
        assert_eq!(r.evict_least_recent(), Some("a"), "a was used before b");
        // The last planned uses: each scene leaves both tiers as it is released.
        assert_eq!(r.acquire("seq", TEN, true).unwrap(), Admission::Promoted);
        r.release("seq");
        assert!(!r.is_staged(&"seq") && !r.is_resident(&"seq"));
        assert_eq!(r.acquire("b", TEN, false).unwrap(), Admission::Resident);
        r.abort(&"b");
        assert!(!r.is_resident(&"b"), "a failed upload leaves nothing");
        assert_eq!(r.placements().len(), 1, "only a, staged");
    }
}
