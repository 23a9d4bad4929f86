//! Per-stream maps kept to a fixed size: a stream with ever-new keys (label
//! values, templates) must not grow its state without end, so a full map
//! forgets its stalest entry before taking a new key.

use std::collections::BTreeMap;

/// Makes room for `key` in `map` when it is new and the map holds `cap`
/// entries: the entry with the smallest `age` (its last update or its
/// position) is removed, and its key returned.
pub(crate) fn make_room<V>(
    map: &mut BTreeMap<u64, V>,
    key: u64,
    cap: usize,
    age: impl Fn(&V) -> u64,
) -> Option<u64> {
    if map.contains_key(&key) || map.len() < cap {
        return None;
    }
    let stale = map
        .iter()
        .min_by_key(|(_, v)| age(v))
        .map(|(k, _)| *k)
        .expect("the map is full");
    map.remove(&stale);
    Some(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_key_in_a_full_map_evicts_the_stalest() {
        let mut m: BTreeMap<u64, u64> = [(1, 30), (2, 10), (3, 20)].into();
        make_room(&mut m, 2, 3, |v| *v);
        assert_eq!(m.len(), 3, "a known key takes no room");
        make_room(&mut m, 9, 4, |v| *v);
        assert_eq!(m.len(), 3, "room is left");
        make_room(&mut m, 9, 3, |v| *v);
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), vec![1, 3]);
    }
}
