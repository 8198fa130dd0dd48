//! Which rules can match a request, found without evaluating every rule: with a thousand
//! policies, a linear scan costs hundreds of microseconds, most of it on rules whose paths or
//! request principals the request cannot have.
//!
//! At configure time each rule of an action gets a guard when one is certain: every `to` entry
//! requires `paths` that are exact or prefix values (the rule is False for any other path), or
//! else every `from` entry requires `requestPrincipals` that are exact `iss/sub` values. The
//! guards go into a byte trie of paths and a map of principals; rules without a guard are
//! always candidates. A request's candidates are evaluated in policy and rule order, exactly as
//! the linear scan would, so the first match is the same: skipping a rule whose guard fails
//! only skips a rule that is False (a path or a principal is never Unknown).

use super::matcher::StringMatch;
use super::path::PathMatch;
use super::rule::{Check, Clause, CompiledRule, Conjunction};
use super::CompiledPolicy;
use crate::config::spec::Action;
use crate::map::SortedMap;
use crate::request::Request;

/// The candidate index of one action's rules.
#[derive(Debug, Clone, Default)]
pub struct RuleIndex {
    /// Every rule of the action, in evaluation order: (policy position, rule position).
    rules: Vec<(usize, usize)>,
    /// Positions in `rules` evaluated for every request.
    always: Vec<u32>,
    paths: PathTrie,
    /// By `iss`, then `sub`.
    principals: SortedMap<String, SortedMap<String, Vec<u32>>>,
}

enum Guard {
    Paths(Vec<(String, bool)>),
    Principals(Vec<(String, String)>),
}

impl RuleIndex {
    pub fn new(policies: &[CompiledPolicy], action: Action) -> Self {
        let mut index = RuleIndex::default();
        let mut principal_keys: Vec<(String, String, u32)> = Vec::new();
        for (p, policy) in policies.iter().enumerate() {
            if policy.action != action {
                continue;
            }
            for (r, rule) in policy.rules.iter().enumerate() {
                let id = u32::try_from(index.rules.len()).unwrap_or(u32::MAX);
                index.rules.push((p, r));
                match guard(rule) {
                    Some(Guard::Paths(keys)) => {
                        for (key, prefix) in keys {
                            index.paths.insert(&key, prefix, id);
                        }
                    }
                    Some(Guard::Principals(keys)) => {
                        principal_keys.extend(keys.into_iter().map(|(iss, sub)| (iss, sub, id)));
                    }
                    None => index.always.push(id),
                }
            }
        }
        // Sorted first, so each key goes in at the end of its map (a SortedMap insert shifts
        // what follows it); the stable sort keeps each key's ids in evaluation order.
        crate::sort::sort_by(&mut principal_keys, |a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        for (iss, sub, id) in principal_keys {
            index.principals.update(iss, SortedMap::new, |subs| {
                subs.update(sub, Vec::new, |ids| ids.push(id))
            });
        }
        index
    }

    /// The rules that may match `r`, as (policy position, rule position), in evaluation order.
    pub fn candidates(&self, r: &Request) -> Vec<(usize, usize)> {
        let mut ids = self.always.clone();
        // Without a :path every path guard is False (a guarded rule needs a path to match).
        if !r.no_path {
            self.paths.collect(r.url_path(), &mut ids);
        }
        if let Some(j) = &r.jwt {
            if let (Some(iss), Some(sub)) = (&j.iss, &j.sub) {
                if let Some(hits) = self.principals.get(iss).and_then(|s| s.get(sub)) {
                    ids.extend_from_slice(hits);
                }
            }
        }
        sort_ids(&mut ids);
        ids.dedup();
        ids.iter()
            .filter_map(|id| self.rules.get(*id as usize).copied())
            .collect()
    }
}

/// Puts a request's candidate rule ids in order: an insertion sort for the few a request
/// usually has, the configuration's merge sort past that (no quadratic case). `sort_unstable`
/// was ~4 KB of .wasm for this one use, all of it compiled by V8 before the first request.
fn sort_ids(ids: &mut Vec<u32>) {
    const INSERTION_MAX: usize = 32;
    if ids.len() > INSERTION_MAX {
        crate::sort::sort(ids);
        return;
    }
    for i in 1..ids.len() {
        let mut j = i;
        while j > 0 {
            match (ids.get(j - 1), ids.get(j)) {
                (Some(a), Some(b)) if a > b => ids.swap(j - 1, j),
                _ => break,
            }
            j -= 1;
        }
    }
}

/// A guard that holds for every way the rule can be True or Unknown, if there is one.
fn guard(rule: &CompiledRule) -> Option<Guard> {
    if let Some(entries) = &rule.to {
        if let Some(keys) = every_entry(entries, path_keys) {
            return Some(Guard::Paths(keys));
        }
    }
    if let Some(entries) = &rule.from {
        if let Some(keys) = every_entry(entries, principal_keys) {
            return Some(Guard::Principals(keys));
        }
    }
    None
}

/// The keys of one clause per entry, when every entry has a clause `keys` accepts.
fn every_entry<K>(
    entries: &[Conjunction],
    keys: impl Fn(&Clause) -> Option<Vec<K>>,
) -> Option<Vec<K>> {
    let mut all = Vec::new();
    for entry in entries {
        all.extend(entry.iter().find_map(&keys)?);
    }
    Some(all)
}

/// One key per value of a non-negated clause, when `key` accepts every value.
fn clause_keys<K>(clause: &Clause, key: impl Fn(&Check) -> Option<K>) -> Option<Vec<K>> {
    if clause.negated {
        return None;
    }
    clause.any_of.iter().map(key).collect()
}

/// `paths` whose every value is exact or a prefix: (value, is prefix).
fn path_keys(clause: &Clause) -> Option<Vec<(String, bool)>> {
    clause_keys(clause, |c| match c {
        Check::Path(PathMatch::Plain(StringMatch::Exact(v))) => Some((v.clone(), false)),
        Check::Path(PathMatch::Plain(StringMatch::Prefix(v))) => Some((v.clone(), true)),
        _ => None,
    })
}

/// `requestPrincipals` whose every value is an exact `iss/sub`.
fn principal_keys(clause: &Clause) -> Option<Vec<(String, String)>> {
    clause_keys(clause, |c| match c {
        Check::RequestPrincipal(m) => m.exact().map(|(i, s)| (i.to_string(), s.to_string())),
        _ => None,
    })
}

/// Exact and prefix path keys, one node per byte.
#[derive(Debug, Clone, Default)]
struct PathTrie {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// Sorted by byte.
    children: Vec<(u8, u32)>,
    /// Rules whose key ends here, as a prefix or exactly.
    prefix: Vec<u32>,
    exact: Vec<u32>,
}

impl PathTrie {
    fn insert(&mut self, key: &str, prefix: bool, id: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let mut at = 0usize;
        for &b in key.as_bytes() {
            let next = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
            let Some(node) = self.nodes.get_mut(at) else {
                return;
            };
            at = match node.children.binary_search_by_key(&b, |(c, _)| *c) {
                Ok(i) => node.children.get(i).map_or(0, |(_, n)| *n as usize),
                Err(i) => {
                    node.children.insert(i, (b, next));
                    self.nodes.push(Node::default());
                    next as usize
                }
            };
        }
        if let Some(node) = self.nodes.get_mut(at) {
            if prefix {
                node.prefix.push(id);
            } else {
                node.exact.push(id);
            }
        }
    }

    /// Adds the rules whose key is `path` or a prefix of it.
    fn collect(&self, path: &str, out: &mut Vec<u32>) {
        let mut node = self.nodes.first();
        let mut bytes = path.as_bytes().iter();
        while let Some(n) = node {
            out.extend_from_slice(&n.prefix);
            let Some(b) = bytes.next() else {
                out.extend_from_slice(&n.exact);
                return;
            };
            node = n
                .children
                .binary_search_by_key(b, |(c, _)| *c)
                .ok()
                .and_then(|i| n.children.get(i))
                .and_then(|(_, next)| self.nodes.get(*next as usize));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::spec::Rule;
    use crate::policy::compile::compile_rules_default;
    use crate::request::{JwtIdentity, Peer, PolicyHost};
    use serde_json::json;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn one_in(&mut self, n: u64) -> bool {
            self.next().is_multiple_of(n)
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    const PATHS: [&str; 9] = [
        "/a", "/a/*", "/a/b", "/a/b*", "*/b", "/c/{*}", "*", "/", "/ab",
    ];
    const PRINCIPALS: [&str; 5] = ["iss/alice", "iss/bob", "iss/*", "*", "other/alice"];

    fn random_rule(rng: &mut Rng) -> serde_json::Value {
        let mut rule = serde_json::Map::new();
        if rng.one_in(2) {
            let mut op = serde_json::Map::new();
            let field = if rng.one_in(5) { "notPaths" } else { "paths" };
            let n = 1 + rng.next() % 2;
            op.insert(
                field.into(),
                json!((0..n).map(|_| rng.pick(&PATHS)).collect::<Vec<_>>()),
            );
            if rng.one_in(3) {
                op.insert("methods".into(), json!([rng.pick(&["GET", "POST"])]));
            }
            let mut to = vec![json!({"operation": op})];
            if rng.one_in(4) {
                to.push(json!({"operation": {"methods": ["GET"]}}));
            }
            rule.insert("to".into(), json!(to));
        }
        if rng.one_in(2) {
            let field = if rng.one_in(5) {
                "notRequestPrincipals"
            } else {
                "requestPrincipals"
            };
            let mut source = serde_json::Map::new();
            source.insert(field.into(), json!([rng.pick(&PRINCIPALS)]));
            if rng.one_in(4) {
                source.insert("ipBlocks".into(), json!(["10.0.0.0/8"]));
            }
            rule.insert("from".into(), json!([{"source": source}]));
        }
        serde_json::Value::Object(rule)
    }

    /// The index finds the same first matching rule as evaluating every rule in order.
    #[test]
    fn sort_ids_orders_as_the_standard_sort() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for len in 0..80 {
            for _ in 0..20 {
                let mut ids: Vec<u32> = (0..len).map(|_| (rng.next() % 50) as u32).collect();
                let mut want = ids.clone();
                want.sort_unstable();
                sort_ids(&mut ids);
                assert_eq!(ids, want, "len {len}");
            }
        }
    }

    #[test]
    fn candidates_give_the_linear_answer() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..60 {
            let policies: Vec<CompiledPolicy> = (0..1 + rng.next() % 12)
                .map(|i| {
                    let rules: Vec<Rule> = (0..1 + rng.next() % 3)
                        .map(|_| crate::config::read::from_value(&random_rule(&mut rng)).unwrap())
                        .collect();
                    CompiledPolicy {
                        id: format!("p{i}"),
                        action: if rng.one_in(3) {
                            Action::Deny
                        } else {
                            Action::Allow
                        },
                        dry_run: false,
                        rules: compile_rules_default(&rules).unwrap(),
                    }
                })
                .collect();
            for action in [Action::Allow, Action::Deny] {
                let index = RuleIndex::new(&policies, action);
                for _ in 0..40 {
                    let mut r = Request {
                        method: rng.pick(&["GET", "POST"]).into(),
                        path: format!(
                            "{}{}",
                            rng.pick(&["/a", "/a/", "/a/b", "/ab", "/c/x", "/", "/x/b", "/a/bc"]),
                            rng.pick(&["", "?q=1"])
                        ),
                        peer: Peer::plaintext(),
                        ..Default::default()
                    };
                    let (iss, sub) = match rng.next() % 4 {
                        0 => None,
                        1 => Some(("iss", "alice")),
                        2 => Some(("iss", "bob")),
                        _ => Some(("other", "alice")),
                    }
                    .unzip();
                    if let (Some(iss), Some(sub)) = (iss, sub) {
                        let payload = json!({"iss": iss, "sub": sub});
                        r.jwt = Some(JwtIdentity::new(
                            payload.as_object().unwrap().clone(),
                            Vec::new(),
                        ));
                    }
                    let host = PolicyHost::of("h");
                    let linear = policies
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p.action == action)
                        .find_map(|(pi, p)| p.first_match(&r, &host).map(|ri| (pi, ri)));
                    let indexed = index.candidates(&r).into_iter().find(|(pi, ri)| {
                        let p = &policies[*pi];
                        p.rule_matches(&p.rules[*ri], &r, &host)
                    });
                    assert_eq!(
                        indexed,
                        linear,
                        "round {round}, {action:?}, {} {:?}",
                        r.path,
                        r.jwt.as_ref().map(|j| &j.sub)
                    );
                }
            }
        }
    }
}
