//! The few regular expressions istiod writes for identity matchers, matched the way Envoy's RE2
//! matches them: the whole string, with `.` never matching a newline.
//!
//! istiod quotes every policy value it pastes into these regexes, so each is a sequence of
//! literals and wildcards (`.`, `.*`, `[^/]*`); a handful of alternatives cover its `(x|)` and
//! `(x)?` groups. Matching simulates the pattern's automaton: linear in the input, no
//! backtracking, whatever the value holds. Bytes and code points agree here because the only
//! classes are "not `\n`" and "not `/`", and no byte of a multi-byte UTF-8 sequence is either.

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    /// `.`: one character other than `\n`.
    Any,
    /// `.*`: any run of characters other than `\n`.
    AnyRun,
    /// `[^/]*`: any run of characters other than `/` (a newline included).
    NonSlashRun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atom {
    Byte(u8),
    Any,
    AnyRun,
    NonSlashRun,
}

/// A full-match pattern: the string matches when any alternative matches all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    alternatives: Vec<Vec<Atom>>,
}

impl Pattern {
    pub fn new(alternatives: &[Vec<Piece>]) -> Self {
        let atoms = |pieces: &Vec<Piece>| {
            pieces
                .iter()
                .flat_map(|p| match p {
                    Piece::Lit(s) => s.bytes().map(Atom::Byte).collect(),
                    Piece::Any => vec![Atom::Any],
                    Piece::AnyRun => vec![Atom::AnyRun],
                    Piece::NonSlashRun => vec![Atom::NonSlashRun],
                })
                .collect()
        };
        Pattern {
            alternatives: alternatives.iter().map(atoms).collect(),
        }
    }

    pub fn matches(&self, s: &str) -> bool {
        self.alternatives
            .iter()
            .any(|a| full_match(a, s.as_bytes()))
    }
}

/// Patterns of up to this many atoms are matched without allocating (most identity patterns:
/// a service account regex for `default/frontend` is 40).
const ON_STACK: usize = 64;

fn full_match(atoms: &[Atom], s: &[u8]) -> bool {
    let n = atoms.len() + 1;
    let (mut a, mut b) = ([false; ON_STACK], [false; ON_STACK]);
    match (a.get_mut(..n), b.get_mut(..n)) {
        (Some(state), Some(next)) => simulate(atoms, s, state, next),
        _ => simulate(atoms, s, &mut vec![false; n], &mut vec![false; n]),
    }
}

/// `state[i]`: the first `i` atoms have matched the input read so far (both slices hold
/// `atoms.len() + 1` entries, all false).
fn simulate<'a>(
    atoms: &[Atom],
    s: &[u8],
    mut state: &'a mut [bool],
    mut next: &'a mut [bool],
) -> bool {
    if let Some(first) = state.first_mut() {
        *first = true;
    }
    close(atoms, state);
    for &c in s {
        next.iter_mut().for_each(|n| *n = false);
        for (i, atom) in atoms.iter().enumerate() {
            if !state.get(i).copied().unwrap_or(false) {
                continue;
            }
            let (advance, stay) = match *atom {
                Atom::Byte(b) => (b == c, false),
                Atom::Any => (c != b'\n', false),
                Atom::AnyRun => (false, c != b'\n'),
                Atom::NonSlashRun => (false, c != b'/'),
            };
            let target = if advance {
                next.get_mut(i + 1)
            } else if stay {
                next.get_mut(i)
            } else {
                None
            };
            if let Some(t) = target {
                *t = true;
            }
        }
        close(atoms, next);
        if !next.iter().any(|&b| b) {
            return false;
        }
        std::mem::swap(&mut state, &mut next);
    }
    state.last().copied().unwrap_or(false)
}

/// A run may match nothing: whoever reached it has also reached the atom after it.
fn close(atoms: &[Atom], state: &mut [bool]) {
    for (i, atom) in atoms.iter().enumerate() {
        if matches!(atom, Atom::AnyRun | Atom::NonSlashRun) && state.get(i).copied() == Some(true) {
            if let Some(n) = state.get_mut(i + 1) {
                *n = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Piece::*;
    use super::*;

    fn lit(s: &str) -> Piece {
        Lit(s.into())
    }

    #[test]
    fn full_match_with_runs() {
        let p = Pattern::new(&[vec![
            AnyRun,
            lit("/ns/"),
            lit("a"),
            AnyRun,
            lit("/"),
            AnyRun,
        ]]);
        assert!(p.matches("x/ns/a/y"));
        assert!(p.matches("/ns/a/"));
        assert!(p.matches("/ns/abc/"));
        assert!(!p.matches("/ns/a"));
        assert!(!p.matches("x\n/ns/a/y"));
        assert!(!p.matches("x/ns/a/y\n"));
        let q = Pattern::new(&[vec![lit("a"), AnyRun, lit("b"), AnyRun, lit("c")]]);
        assert!(q.matches("abbc") && q.matches("abc"));
        assert!(!q.matches("acb"));
        // A literal newline in the value matches a newline; only the wildcards refuse one.
        let nl = Pattern::new(&[vec![lit("a\nb"), AnyRun]]);
        assert!(nl.matches("a\nbc") && !nl.matches("a\nb\n"));
    }

    #[test]
    fn one_character_and_classes() {
        let p = Pattern::new(&[vec![lit("s://"), Any, AnyRun, lit("/x")]]);
        assert!(p.matches("s://t/x") && p.matches("s://a/b/x"));
        assert!(!p.matches("s:///x"));
        let td = Pattern::new(&[vec![lit("s://a"), NonSlashRun, lit("b/"), AnyRun]]);
        assert!(td.matches("s://ab/") && td.matches("s://a.x.b/ns"));
        assert!(td.matches("s://a\nb/ns"));
        assert!(!td.matches("s://a/b/ns"));
    }

    #[test]
    fn long_patterns_match_as_short_ones() {
        let long = "x".repeat(100);
        let p = Pattern::new(&[vec![lit(&long), AnyRun, lit("/y")]]);
        assert!(p.matches(&format!("{long}/a/y")) && p.matches(&format!("{long}/y")));
        assert!(!p.matches(&format!("{long}\n/y")) && !p.matches("x/y"));
    }

    #[test]
    fn alternatives() {
        let p = Pattern::new(&[vec![lit("a")], vec![lit("a/"), Any, AnyRun]]);
        assert!(p.matches("a") && p.matches("a/x"));
        assert!(!p.matches("a/") && !p.matches("ab"));
    }
}
