//! The route index against the linear scan it replaced: over many random tables and paths,
//! both must select the same route, so the trie keeps the SPEC's precedence exactly.

use std::sync::Arc;

use tokengate::route::linear::Linear;
use tokengate::route::{RouteKey, RouteTable};

/// SplitMix64: deterministic, so a failure replays, and no crate for it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// A key over a two-letter alphabet (and the empty segment), so keys collide and overlap:
/// literals, params under two names (same shape, different text), a final `{proxy+}`.
fn key(rng: &mut Rng) -> String {
    let method = rng.pick(&["ANY", "GET", "POST", "HEAD"]);
    let greedy = rng.below(3) == 0;
    let len = rng.below(if greedy { 4 } else { 5 });
    let mut segments: Vec<&str> = (0..len)
        .map(|_| rng.pick(&["a", "b", "", "{p}", "{q}", "a", "{p}"]))
        .collect();
    if greedy {
        segments.push("{proxy+}");
    }
    format!("{method} /{}", segments.join("/"))
}

/// A path from `/` up to six segments deep, empty ones and trailing slashes included, and now
/// and then one without its leading `/`.
fn path(rng: &mut Rng) -> String {
    let len = rng.below(7);
    let segments: Vec<&str> = (0..len)
        .map(|_| rng.pick(&["a", "b", "c", "", "a"]))
        .collect();
    let lead = if rng.below(40) == 0 { "" } else { "/" };
    format!("{lead}{}", segments.join("/"))
}

#[derive(Default, Debug)]
struct Outcomes {
    full: usize,
    greedy: usize,
    default: usize,
    none: usize,
}

#[test]
fn index_selects_what_the_linear_scan_selects() {
    const TABLES: usize = 4_000;
    const PATHS: usize = 200;
    let mut rng = Rng(11);
    let mut seen = Outcomes::default();
    for table in 0..TABLES {
        // Mostly small tables, where every route competes; some large, where subtrees repeat.
        let size = rng.below(if table % 5 == 0 { 60 } else { 12 });
        let routes: Vec<(RouteKey, Arc<str>, usize)> = (0..size)
            .map(|i| {
                let k = key(&mut rng);
                (RouteKey::parse(&k).expect(&k), Arc::from(k.as_str()), i)
            })
            .collect();
        let default = (rng.below(2) == 0).then_some(usize::MAX);
        let linear = Linear::new(routes.clone(), default);
        let index = RouteTable::new(routes.clone(), default);
        for _ in 0..PATHS {
            let method = rng.pick(&["GET", "POST", "HEAD", "PUT", "TRACE"]);
            let path = path(&mut rng);
            let want = linear
                .select(method, &path)
                .map(|s| (s.key.clone(), *s.value));
            let got = index
                .select(method, &path)
                .map(|s| (s.key.clone(), *s.value));
            assert_eq!(
                got,
                want,
                "{method} {path:?} in table {table}: {:?}",
                routes.iter().map(|r| &*r.1).collect::<Vec<_>>()
            );
            match want {
                None => seen.none += 1,
                Some((_, usize::MAX)) => seen.default += 1,
                Some((key, _)) if key.ends_with("+}") => seen.greedy += 1,
                Some(_) => seen.full += 1,
            }
        }
    }
    // The generator must exercise every kind of answer, or agreement proves little.
    let each = TABLES * PATHS / 20;
    assert!(
        seen.full > each && seen.greedy > each && seen.default > each && seen.none > each,
        "{seen:?}"
    );
}
