//! The module import graph of `engine/` (its crates share one module tree) has no cycles: a file may use another only if that
//! one does not, through any chain of files, use it back. A cycle means two modules that cannot
//! be understood, tested or changed one without the other; move the shared item to where it
//! belongs (or pass it in) instead.
//!
//! Each file is a node (a folder's `mod.rs` is its own node, inline modules belong to their
//! file); an edge is any `crate::…`, `super::…` or `self::…` path in it, in a `use` or in the
//! code, resolved to the file that defines the module it names. `mod x;` declarations are not
//! uses. Comments and string literals are skipped, and so is test code: items under
//! `#[cfg(test)]` (a unit test module may well use a test helper that uses the module under
//! test) and files declared under it (`#[cfg(test)] mod testing;`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A file's module path: `src/io/bgzf.rs` is `io::bgzf`, `src/io/mod.rs` is `io`, `src/lib.rs`
/// the root.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Path, // ::
    Open,
    Close,
    Comma,
    Semi,
    Other(char),
}

/// Tokens of Rust source, without comments, strings and character literals.
fn tokens(src: &str) -> Vec<Tok> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || (next == Some('#') && is_raw_string(&b, i))) {
            // Raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), or a lifetime ('a).
            if next == Some('\\') {
                // The quote, the backslash and the escaped character, then up to the quote.
                i += 3;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let s = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(b[s..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '.') {
                i += 1;
            }
        } else if c == ':' && next == Some(':') {
            out.push(Tok::Path);
            i += 2;
        } else {
            out.push(match c {
                '{' => Tok::Open,
                '}' => Tok::Close,
                ',' => Tok::Comma,
                ';' => Tok::Semi,
                c if c.is_whitespace() => {
                    i += 1;
                    continue;
                }
                c => Tok::Other(c),
            });
            i += 1;
        }
    }
    out
}

fn is_raw_string(b: &[char], i: usize) -> bool {
    let mut j = i + 1;
    while b.get(j) == Some(&'#') {
        j += 1;
    }
    b.get(j) == Some(&'"')
}

/// `tokens` without the items under `#[cfg(test)]`, and the names of the modules declared
/// there as files (`#[cfg(test)] mod x;`).
fn without_tests(t: Vec<Tok>) -> (Vec<Tok>, Vec<String>) {
    let is = |k: usize, want: &Tok| t.get(k) == Some(want);
    let other = Tok::Other;
    let ident = |k: usize, name: &str| matches!(t.get(k), Some(Tok::Ident(s)) if s == name);
    let mut out = Vec::with_capacity(t.len());
    let mut test_mods = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let attr = is(i, &other('#'))
            && is(i + 1, &other('['))
            && ident(i + 2, "cfg")
            && is(i + 3, &other('('))
            && ident(i + 4, "test")
            && is(i + 5, &other(')'))
            && is(i + 6, &other(']'));
        if !attr {
            out.push(t[i].clone());
            i += 1;
            continue;
        }
        // The item: up to a `;` outside brackets, or through its `{ … }` body (a `use`
        // tree's braces are inside the item).
        let mut j = i + 7;
        let is_use = (j..t.len())
            .find(|&k| !matches!(&t[k], Tok::Ident(s) if s == "pub"))
            .is_some_and(|k| ident(k, "use"));
        let (mut brackets, mut braces) = (0i32, 0i32);
        while j < t.len() {
            match &t[j] {
                Tok::Other('(') | Tok::Other('[') => brackets += 1,
                Tok::Other(')') | Tok::Other(']') => brackets -= 1,
                Tok::Open => braces += 1,
                Tok::Close => {
                    braces -= 1;
                    if braces == 0 && brackets == 0 && !is_use {
                        break;
                    }
                }
                Tok::Semi if brackets == 0 && braces == 0 => {
                    if ident(j - 2, "mod") {
                        if let Some(Tok::Ident(name)) = t.get(j - 1) {
                            test_mods.push(name.clone());
                        }
                    }
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        i = j + 1;
    }
    (out, test_mods)
}

/// Every module path named by `crate::`, `super::` or `self::` paths in `src`, a file whose
/// module is `module`, made absolute (the item names at their ends are kept; resolution drops
/// them).
fn paths_in(t: &[Tok], module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // Inline modules open here: (name, brace depth inside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < t.len() {
        match &t[i] {
            Tok::Open => depth += 1,
            Tok::Close => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(m) if m == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Open)) = (t.get(i + 1), t.get(i + 2)) {
                    inline.push((name.clone(), depth + 1));
                }
            }
            Tok::Ident(first)
                if matches!(first.as_str(), "crate" | "super" | "self")
                    && t.get(i + 1) == Some(&Tok::Path)
                    && !matches!(
                        i.checked_sub(1).map(|k| &t[k]),
                        Some(Tok::Path | Tok::Other('$'))
                    ) =>
            {
                let mut here: Vec<String> = module.to_vec();
                here.extend(inline.iter().map(|(n, _)| n.clone()));
                let (prefix, at) = start_of_path(t, i, &here);
                let end = tree(t, at, prefix, &mut out);
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The absolute prefix of the path starting at token `i` (`crate`, `super`, `self`, each
/// followed by `::`, repeated), and the index of the token after its last `::`.
fn start_of_path(t: &[Tok], mut i: usize, here: &[String]) -> (Vec<String>, usize) {
    let mut prefix = here.to_vec();
    loop {
        match (&t[i], t.get(i + 1)) {
            (Tok::Ident(s), Some(Tok::Path)) if s == "crate" => prefix.clear(),
            (Tok::Ident(s), Some(Tok::Path)) if s == "super" => {
                prefix.pop();
            }
            (Tok::Ident(s), Some(Tok::Path)) if s == "self" => {}
            _ => return (prefix, i),
        }
        i += 2;
        if i >= t.len() {
            return (prefix, i);
        }
    }
}

/// Reads a path (or `use` tree) at token `i` under `prefix`, pushing each full path; returns
/// the index after it.
fn tree(t: &[Tok], mut i: usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    loop {
        match t.get(i) {
            Some(Tok::Ident(s)) => {
                if s != "self" {
                    prefix.push(s.clone());
                }
                i += 1;
                if t.get(i) == Some(&Tok::Path) {
                    i += 1;
                    continue;
                }
                out.push(prefix);
                // `as name`: a rename, not another path.
                if matches!(t.get(i), Some(Tok::Ident(a)) if a == "as") {
                    i += 2;
                }
                return i;
            }
            Some(Tok::Open) => {
                // A group: each member is a tree under the same prefix.
                i += 1;
                loop {
                    match t.get(i) {
                        None => return i,
                        Some(Tok::Close) => return i + 1,
                        Some(Tok::Comma) => i += 1,
                        Some(Tok::Ident(_)) | Some(Tok::Open) => {
                            i = tree(t, i, prefix.clone(), out);
                        }
                        Some(_) => {
                            // `*` or `as` renames: the prefix itself is used.
                            out.push(prefix.clone());
                            i += 1;
                        }
                    }
                }
            }
            _ => {
                // `crate::*` and the like.
                out.push(prefix);
                return i;
            }
        }
    }
}

/// The file of the longest module prefix of `path` that is a file's module.
fn resolve<'a>(path: &[String], files: &'a BTreeMap<Vec<String>, String>) -> Option<&'a String> {
    (0..=path.len()).rev().find_map(|n| files.get(&path[..n]))
}

/// One file read: its path, module, tokens without test code, and its test-only submodules.
type Parsed = (String, Vec<String>, Vec<Tok>, Vec<String>);

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Edges between files (`from -> to: the names used`), from (relative path, source) pairs.
fn graph(sources: &[(PathBuf, String)]) -> Graph {
    let parsed: Vec<Parsed> = sources
        .iter()
        .map(|(p, src)| {
            let (t, test_mods) = without_tests(tokens(src));
            (p.display().to_string(), module_of(p), t, test_mods)
        })
        .collect();
    // Modules that exist only in test builds, and everything under them.
    let test_only: Vec<Vec<String>> = parsed
        .iter()
        .flat_map(|(_, m, _, names)| {
            names.iter().map(move |n| {
                let mut v = m.clone();
                v.push(n.clone());
                v
            })
        })
        .collect();
    let parsed: Vec<_> = parsed
        .into_iter()
        .filter(|(_, m, _, _)| !test_only.iter().any(|t| m.starts_with(t)))
        .collect();
    let files: BTreeMap<Vec<String>, String> = parsed
        .iter()
        .map(|(p, m, _, _)| (m.clone(), p.clone()))
        .collect();
    let mut g = Graph::new();
    for (from, module, t, _) in &parsed {
        let edges = g.entry(from.clone()).or_default();
        for path in paths_in(t, module) {
            let Some(to) = resolve(&path, &files) else {
                continue;
            };
            if to != from {
                let name = path.last().cloned().unwrap_or_default();
                edges.entry(to.clone()).or_default().insert(name);
            }
        }
    }
    g
}

/// The strongly connected groups of more than one file (Tarjan).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut T<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        if let Some(edges) = s.g.get(v) {
            for w in edges.keys() {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.on.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.out.push(group);
            }
        }
    }
    let mut s = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// A readable account of the cycles: each group and the edges inside it.
fn describe(g: &Graph, groups: &[Vec<String>]) -> String {
    let mut msg = String::new();
    for (k, group) in groups.iter().enumerate() {
        msg.push_str(&format!("cycle {}: {}\n", k + 1, group.join(", ")));
        for from in group {
            for (to, names) in &g[from] {
                if group.contains(to) {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    msg.push_str(&format!("  {from} -> {to}: {}\n", names.join(", ")));
                }
            }
        }
    }
    msg
}

fn sources(root: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                // The binary is another crate: its `crate::` is not the library's.
                if rel != Path::new("main.rs") {
                    out.push((rel, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_module_graph_of_src_has_no_cycles() {
    // The crates share one module tree: each crate's lib.rs re-exports the modules of the
    // crates below it under their own names, so `crate::io` means the same file everywhere.
    let engine = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = sources(&engine.join("src"));
    for e in std::fs::read_dir(engine.join("crates")).unwrap() {
        all.extend(sources(&e.unwrap().path().join("src")));
    }
    all.sort();
    let g = graph(&all);
    // Not vacuous: the files were read and their imports seen.
    let n_edges: usize = g.values().map(BTreeMap::len).sum();
    assert!(
        g.len() > 20 && n_edges > 30,
        "{} files, {n_edges} edges",
        g.len()
    );
    assert!(g["coverage/stream.rs"].contains_key("coverage/output.rs"));
    assert!(g["coverage/shards.rs"].contains_key("coverage/stats.rs")); // via super::
    let found = cycles(&g);
    assert!(
        found.is_empty(),
        "the module import graph of engine/ has {} cycle(s):\n{}",
        found.len(),
        describe(&g, &found)
    );
}

#[test]
fn cycles_are_found_and_named() {
    let src = |p: &str, s: &str| (PathBuf::from(p), s.to_string());
    let g = graph(&[
        src(
            "lib.rs",
            "pub mod a; pub mod b; pub mod c; #[cfg(test)]\npub mod t;\n#[cfg(test)] use crate::t::{X, Y};",
        ),
        src("t.rs", "use crate::a::Helper;"),
        src(
            "a/mod.rs",
            "use crate::b::{self, Thing as T};\n// use crate::c::NotAnEdge;\nmod tests { use super::*; }\n#[cfg(test)]\nmod more { use crate::t::Helper; use crate::c::Z; }",
        ),
        src("b.rs", "fn f() { let _ = crate::c::make(); let s = \"crate::a::No\"; }"),
        src("c.rs", "use super::a::{x::{Y, Z}, *};\nfn g<'a>(c: char) -> bool { c == '{' }"),
    ]);
    assert_eq!(
        g["a/mod.rs"].keys().collect::<Vec<_>>(),
        ["b.rs"],
        "comments and inline modules"
    );
    assert_eq!(g["b.rs"].keys().collect::<Vec<_>>(), ["c.rs"], "strings");
    assert_eq!(
        g["c.rs"].keys().collect::<Vec<_>>(),
        ["a/mod.rs"],
        "super and groups"
    );
    let found = cycles(&g);
    assert_eq!(found, [vec!["a/mod.rs", "b.rs", "c.rs"]]);
    let text = describe(&g, &found);
    assert!(text.contains("b.rs -> c.rs: make"), "{text}");
}
