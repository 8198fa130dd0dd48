//! One stable sort for the plugin's configuration-time sorting.
//!
//! The standard library's sort is compiled once per element type and comparator, ~2.5 KB of
//! .wasm each (25 KB for ten of them), and the module's size is the time Envoy takes to compile
//! it at start. Here the sorting is one merge sort of indices, compiled once, behind a short
//! generic step that moves the elements into that order. It allocates, so it is for the
//! configuration and for rare request paths, not the hot one.

use std::cmp::Ordering;

/// Sorts `v` by `cmp`, stably (equal elements keep their order), as `slice::sort_by` does.
pub fn sort_by<T>(v: &mut Vec<T>, mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let order = {
        let items = v.as_slice();
        stable_order(
            items.len(),
            &mut |i, j| match (items.get(i), items.get(j)) {
                (Some(a), Some(b)) => cmp(a, b) == Ordering::Less,
                _ => false,
            },
        )
    };
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    v.extend(
        order
            .iter()
            .filter_map(|&i| slots.get_mut(i).and_then(Option::take)),
    );
}

/// Sorts `v` in its natural order, stably.
pub fn sort<T: Ord>(v: &mut Vec<T>) {
    sort_by(v, T::cmp);
}

/// The stable order of `n` items by `less(i, j)` ("item i goes strictly before item j"): a
/// bottom-up merge sort of their indices.
fn stable_order(n: usize, less: &mut dyn FnMut(usize, usize) -> bool) -> Vec<usize> {
    let mut from: Vec<usize> = (0..n).collect();
    let mut to = vec![0usize; n];
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = start.saturating_add(width).min(n);
            let end = start.saturating_add(2 * width).min(n);
            if let (Some(left), Some(right), Some(out)) = (
                from.get(start..mid),
                from.get(mid..end),
                to.get_mut(start..end),
            ) {
                merge(left, right, out, less);
            }
            start = end;
        }
        std::mem::swap(&mut from, &mut to);
        width = width.saturating_mul(2);
    }
    from
}

/// `left` and `right` (each in order) merged into `out`; on a tie the left one first.
fn merge(
    left: &[usize],
    right: &[usize],
    out: &mut [usize],
    less: &mut dyn FnMut(usize, usize) -> bool,
) {
    let (mut l, mut r) = (left.iter().peekable(), right.iter().peekable());
    for o in out.iter_mut() {
        let take_right = match (l.peek(), r.peek()) {
            (Some(&&a), Some(&&b)) => less(b, a),
            (None, Some(_)) => true,
            _ => false,
        };
        let next = if take_right { r.next() } else { l.next() };
        if let Some(&i) = next {
            *o = i;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// The same result as the standard library's stable sort, ties and all, for every length
    /// up to a few hundred and for inputs sorted, reversed and with few distinct keys.
    #[test]
    fn agrees_with_the_standard_stable_sort() {
        let mut next = rng(3);
        for n in (0..70).chain([127, 128, 129, 500]) {
            for shape in 0..4 {
                let items: Vec<(u32, usize)> = (0..n)
                    .map(|i| {
                        let key = match shape {
                            0 => next() as u32 % 1000,
                            1 => next() as u32 % 3,
                            2 => i as u32,
                            _ => (n - i) as u32,
                        };
                        (key, i)
                    })
                    .collect();
                let mut ours = items.clone();
                sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
                let mut want = items.clone();
                want.sort_by_key(|a| a.0);
                assert_eq!(ours, want, "n {n}, shape {shape}");
            }
        }
        let mut words = vec!["b".to_string(), "a".into(), "c".into(), "a".into()];
        sort(&mut words);
        assert_eq!(words, ["a", "a", "b", "c"]);
    }
}
