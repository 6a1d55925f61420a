//! Imports run one way: no file of `src/` depends on a file that depends
//! back on it, directly or through others, and the sandbox uses nothing of
//! the client but `model`.
//!
//! A dependency is any path into the crate in code (`use` lines, `pub use`
//! re-exports and paths written inline, in tests too), resolved to the file
//! that holds the module it names: `crate::report::csv::text_of` is
//! `src/report/csv.rs`, `super::CLIENT_ID` in `src/sandbox/assertion.rs` is
//! `src/sandbox/mod.rs`. A `mod x;` declaration is not a dependency (a
//! parent may declare the child that imports it); comments and string
//! literals are ignored. The source is rustfmt-formatted (CI checks it),
//! which is what lets inline modules be found by their indentation.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One file's dependency on another, with the line that makes it.
#[derive(Debug, Clone)]
struct Edge {
    to: String,
    line: usize,
    text: String,
}

/// `src/a/b.rs` → `["a", "b"]`, `src/a/mod.rs` → `["a"]`, `src/lib.rs` → `[]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.strip_suffix(".rs").expect("a .rs file").to_owned();
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem);
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The line without its comment and with every string literal emptied.
/// Block comments and strings spanning lines are tracked through `state`.
fn code_of(line: &str, state: &mut Lexer) -> String {
    let mut out = String::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match state {
            Lexer::BlockComment => {
                if c == '*' && chars.get(i + 1) == Some(&'/') {
                    *state = Lexer::Code;
                    i += 1;
                }
            }
            Lexer::Str { raw_hashes: None } => {
                if c == '\\' {
                    i += 1;
                } else if c == '"' {
                    *state = Lexer::Code;
                    out.push('"');
                }
            }
            Lexer::Str {
                raw_hashes: Some(n),
            } => {
                let n = *n;
                if c == '"' && (1..=n).all(|k| chars.get(i + k) == Some(&'#')) {
                    *state = Lexer::Code;
                    out.push('"');
                    i += n;
                }
            }
            Lexer::Code => {
                if c == '/' && chars.get(i + 1) == Some(&'/') {
                    break;
                } else if c == '/' && chars.get(i + 1) == Some(&'*') {
                    *state = Lexer::BlockComment;
                    i += 1;
                } else if c == '"' {
                    out.push('"');
                    *state = Lexer::Str { raw_hashes: None };
                } else if c == 'r'
                    && (i == 0 || !is_ident(chars[i - 1]))
                    && matches!(chars.get(i + 1), Some('"' | '#'))
                {
                    let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
                    if chars.get(i + 1 + hashes) == Some(&'"') {
                        out.push('"');
                        *state = Lexer::Str {
                            raw_hashes: Some(hashes),
                        };
                        i += 1 + hashes;
                    } else {
                        out.push(c);
                    }
                } else if c == '\'' {
                    // A char literal ('x', '\n', '"'), else a lifetime.
                    if chars.get(i + 1) == Some(&'\\') {
                        let end = chars[i + 2..].iter().position(|&q| q == '\'');
                        i = end.map_or(i, |e| i + 2 + e);
                        out.push_str("' '");
                    } else if chars.get(i + 2) == Some(&'\'') {
                        i += 2;
                        out.push_str("' '");
                    } else {
                        out.push(c);
                    }
                } else {
                    out.push(c);
                }
            }
        }
        i += 1;
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Lexer {
    Code,
    BlockComment,
    Str { raw_hashes: Option<usize> },
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path `a::b::c` in the code, grouped imports expanded one level
/// deep per brace (`use crate::x::{y, z::w}` gives `crate::x::y` and
/// `crate::x::z::w`).
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts =
            is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':'));
        if !starts {
            i += 1;
            continue;
        }
        let (end, prefixes) = path_at(&chars, i, Vec::new());
        found.extend(prefixes.into_iter().filter(|p| p.len() > 1));
        i = end.max(i + 1);
    }
    found
}

/// The path starting at `i` (after `prefix`): returns where it ends and
/// every full path it expands to.
fn path_at(chars: &[char], mut i: usize, prefix: Vec<String>) -> (usize, Vec<Vec<String>>) {
    let mut segments = prefix;
    loop {
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        if i == start {
            break;
        }
        segments.push(chars[start..i].iter().collect());
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
            if chars.get(i) == Some(&'{') {
                return group_at(chars, i + 1, segments);
            }
        } else {
            break;
        }
    }
    (i, vec![segments])
}

/// The items of a `{…}` group opened just before `i`.
fn group_at(chars: &[char], mut i: usize, prefix: Vec<String>) -> (usize, Vec<Vec<String>>) {
    let mut all = Vec::new();
    while i < chars.len() {
        match chars[i] {
            '}' => return (i + 1, all),
            c if is_ident(c) => {
                // `self` in a group (`use a::{self, b}`) stays a segment:
                // it names no module, so the path resolves to `a`'s file.
                let (end, paths) = path_at(chars, i, prefix.clone());
                all.extend(paths);
                i = end;
                // Skip `as name`.
                while i < chars.len() && !matches!(chars[i], ',' | '}') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    (i, all)
}

/// The file holding the longest module prefix of `path`, if any, and how
/// many segments that prefix has.
fn file_of<'a>(
    path: &[String],
    files: &'a BTreeMap<Vec<String>, String>,
) -> Option<(&'a String, usize)> {
    (1..=path.len())
        .rev()
        .find_map(|n| files.get(&path[..n]).map(|f| (f, n)))
}

/// The file that defines what `path` names: an item a file only
/// re-exports (`pub use values::Rate;` in `config.rs`) belongs to the file
/// it comes from (`config/values.rs`), so using it through the re-export
/// is a dependency on that file, not on the one re-exporting it.
fn defining_file<'a>(
    mut path: Vec<String>,
    files: &'a BTreeMap<Vec<String>, String>,
    reexports: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> Option<&'a String> {
    // A re-export of a re-export is followed too; the bound only guards
    // against a file re-exporting from itself.
    for _ in 0..8 {
        let (file, n) = file_of(&path, files)?;
        let Some(target) = path.get(n).and_then(|item| reexports.get(file)?.get(item)) else {
            return Some(file);
        };
        let mut next = target.clone();
        next.extend(path[n + 1..].iter().cloned());
        path = next;
    }
    file_of(&path, files).map(|(f, _)| f)
}

/// Resolves `crate::…`, `super::…`, `self::…` and child-module paths
/// against `module` (the module the line is in) to an absolute module path.
fn absolute(
    path: &[String],
    module: &[String],
    files: &BTreeMap<Vec<String>, String>,
) -> Option<Vec<String>> {
    let mut base: Vec<String> = match path[0].as_str() {
        "crate" => Vec::new(),
        "self" | "super" => module.to_vec(),
        _ => {
            // A child module of this one (`mod config;` … `config::X`); in
            // the crate root, any top-level module.
            let mut child = module.to_vec();
            child.push(path[0].clone());
            return files.contains_key(&child).then(|| {
                child.extend(path[1..].iter().cloned());
                child
            });
        }
    };
    let mut rest = &path[1..];
    if path[0] == "super" {
        base.pop()?;
    }
    while rest.first().is_some_and(|s| s == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// One statement of a file (a `use` up to its `;`, or one line of other
/// code) with the paths it names, made absolute.
struct Statement {
    line: usize,
    text: String,
    paths: Vec<Vec<String>>,
}

/// Every file's dependencies on other files of `src/`.
fn dependencies(src: &Path) -> BTreeMap<String, Vec<Edge>> {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    let mut files = BTreeMap::new();
    for p in &paths {
        let rel = p.strip_prefix(src).expect("under src/");
        if rel == Path::new("main.rs") {
            continue; // the binary: a crate of its own, using the library
        }
        files.insert(module_of(rel), rel.display().to_string());
    }
    // First every file's statements and what it re-exports, then the
    // edges: an edge may go through another file's re-export.
    let mut statements = BTreeMap::new();
    let mut reexports: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (module, name) in &files {
        let text = fs::read_to_string(src.join(name)).expect("read a source file");
        let mut found = Vec::new();
        let mut lexer = Lexer::Code;
        // Inline modules (`mod tests {`) by the indentation of their line.
        let mut inline: Vec<(usize, String)> = Vec::new();
        let mut statement = String::new();
        let mut statement_line = 0;
        let mut statement_text = String::new();
        for (n, raw) in text.lines().enumerate() {
            let code = code_of(raw, &mut lexer);
            let indent = code.len() - code.trim_start().len();
            let trimmed = code.trim();
            if trimmed == "}" && inline.last().is_some_and(|(i, _)| *i == indent) {
                inline.pop();
                continue;
            }
            let words: Vec<&str> = trimmed.split_whitespace().collect();
            if let Some(pos) = words.iter().position(|w| *w == "mod")
                && words.last() == Some(&"{")
                && words.len() == pos + 3
            {
                inline.push((indent, words[pos + 1].to_owned()));
                continue;
            }
            // A `use` may span lines: collect it up to its `;`.
            if statement.is_empty() {
                statement_line = n + 1;
                statement_text = raw.trim().to_owned();
            }
            statement.push_str(&code);
            statement.push(' ');
            let start = statement.trim_start();
            let reexport = ["pub use ", "pub(crate) use ", "pub(super) use "]
                .iter()
                .any(|u| start.starts_with(u));
            if (reexport || start.starts_with("use ")) && !statement.contains(';') {
                continue;
            }
            let mut here = module.clone();
            here.extend(inline.iter().map(|(_, m)| m.clone()));
            let absolute_paths: Vec<Vec<String>> = paths_in(&statement)
                .iter()
                .filter_map(|path| absolute(path, &here, &files))
                .collect();
            if reexport && inline.is_empty() {
                for path in &absolute_paths {
                    let item = path.last().expect("a path has segments").clone();
                    if item == "self" {
                        continue;
                    }
                    reexports
                        .entry(name.clone())
                        .or_default()
                        .insert(item, path.clone());
                }
            }
            found.push(Statement {
                line: statement_line,
                text: std::mem::take(&mut statement_text),
                paths: absolute_paths,
            });
            statement.clear();
        }
        statements.insert(name.clone(), found);
    }
    let mut graph = BTreeMap::new();
    for (name, found) in statements {
        let mut edges: Vec<Edge> = Vec::new();
        for statement in found {
            for path in statement.paths {
                if let Some(to) = defining_file(path, &files, &reexports)
                    && *to != name
                    && !edges
                        .iter()
                        .any(|e| e.to == *to && e.line == statement.line)
                {
                    edges.push(Edge {
                        to: to.clone(),
                        line: statement.line,
                        text: statement.text.clone(),
                    });
                }
            }
        }
        graph.insert(name, edges);
    }
    graph
}

/// Strongly connected components of more than one file (Tarjan).
fn cycles(graph: &BTreeMap<String, Vec<Edge>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, Vec<Edge>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let i = w.index.len();
        w.index.insert(v, i);
        w.low.insert(v, i);
        w.stack.push(v);
        w.on_stack.insert(v);
        for e in &w.graph[v] {
            let to = e.to.as_str();
            if !w.index.contains_key(to) {
                visit(w, to);
                let low = w.low[v].min(w.low[to]);
                w.low.insert(v, low);
            } else if w.on_stack.contains(to) {
                let low = w.low[v].min(w.index[to]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(u) = w.stack.pop() {
                w.on_stack.remove(u);
                component.push(u.to_owned());
                if u == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut w = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Cycles that are known and being taken apart, each as the set of files
/// it spans. A cycle found must lie within one of these (it may shrink or
/// split, never grow or appear elsewhere), and each entry must still match
/// a cycle, so a fixed one is taken off the list. Empty: there is none.
const BEING_TAKEN_APART: &[&[&str]] = &[];

#[test]
fn no_file_of_src_imports_a_file_that_imports_it_back() {
    let graph = dependencies(&src());
    let found = cycles(&graph);
    let mut report = String::new();
    for component in &found {
        let known = BEING_TAKEN_APART
            .iter()
            .any(|k| component.iter().all(|f| k.contains(&f.as_str())));
        if known {
            continue;
        }
        report.push_str(&format!("cycle among {}:\n", component.join(", ")));
        for from in component {
            for e in graph[from].iter().filter(|e| component.contains(&e.to)) {
                report.push_str(&format!(
                    "  src/{from}:{} → src/{}: {}\n",
                    e.line, e.to, e.text
                ));
            }
        }
    }
    for known in BEING_TAKEN_APART {
        let still = found
            .iter()
            .any(|c| c.iter().all(|f| known.contains(&f.as_str())));
        if !still {
            report.push_str(&format!(
                "no cycle left among {}: take it off BEING_TAKEN_APART\n",
                known.join(", ")
            ));
        }
    }
    assert!(report.is_empty(), "imports must run one way:\n{report}");
}

#[test]
fn the_sandbox_uses_only_model_and_its_own_modules() {
    let graph = dependencies(&src());
    let foreign: Vec<String> = graph
        .iter()
        .filter(|(from, _)| from.starts_with("sandbox/"))
        .flat_map(|(from, edges)| {
            edges
                .iter()
                .filter(|e| !e.to.starts_with("sandbox/") && e.to != "model.rs")
                .map(move |e| format!("src/{from}:{} → src/{}: {}", e.line, e.to, e.text))
        })
        .collect();
    assert!(
        foreign.is_empty(),
        "the sandbox must not use the client:\n{}",
        foreign.join("\n")
    );
}

/// The checker itself: it must see a cycle where there is one, through
/// `super::`, groups, inline paths, child modules and re-exports, ignore
/// comments and strings, and see no cycle where an item is only passed
/// through a re-export.
#[test]
fn the_checker_finds_cycles_and_ignores_comments_and_strings() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    fs::create_dir_all(src.join("a")).unwrap();
    fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
    fs::write(
        src.join("a/mod.rs"),
        "mod x;\nmod y;\npub use x::X;\n// use crate::c::C;\nconst S: &str = \"crate::c::C\";\n",
    )
    .unwrap();
    fs::write(src.join("a/x.rs"), "use super::{self, y::{Y, Z}};\n").unwrap();
    fs::write(
        src.join("a/y.rs"),
        "pub(super) fn f() {\n    crate::b::g()\n}\n",
    )
    .unwrap();
    fs::write(
        src.join("b.rs"),
        "pub fn g() {}\n\n#[cfg(test)]\nmod tests {\n    use super::super::a::X;\n}\n",
    )
    .unwrap();
    fs::write(src.join("c.rs"), "use crate::{\n    a,\n};\n").unwrap();
    // d uses V through e's re-export, and e uses d: no cycle, V is v's.
    fs::create_dir_all(src.join("e")).unwrap();
    fs::write(src.join("d.rs"), "pub struct D;\nuse crate::e::V;\n").unwrap();
    fs::write(
        src.join("e/mod.rs"),
        "mod v;\npub use v::V;\nuse crate::d::D;\n",
    )
    .unwrap();
    fs::write(src.join("e/v.rs"), "pub struct V;\n").unwrap();
    let graph = dependencies(src);
    let to = |f: &str| -> Vec<&str> { graph[f].iter().map(|e| e.to.as_str()).collect() };
    assert_eq!(to("a/mod.rs"), ["a/x.rs"]);
    assert_eq!(to("a/x.rs"), ["a/mod.rs", "a/y.rs"]);
    assert_eq!(to("a/y.rs"), ["b.rs"]);
    assert_eq!(to("b.rs"), ["a/x.rs"]);
    assert_eq!(to("c.rs"), ["a/mod.rs"]);
    assert_eq!(to("d.rs"), ["e/v.rs"]);
    assert_eq!(to("e/mod.rs"), ["e/v.rs", "d.rs"]);
    assert_eq!(
        cycles(&graph),
        [vec!["a/mod.rs", "a/x.rs", "a/y.rs", "b.rs"]]
    );
}

/// `cargo test --test imports -- --ignored --nocapture`: every file and the
/// files it uses, for drawing or checking `docs/ARCHITECTURE.md`.
#[test]
#[ignore = "prints the import graph; nothing to check"]
fn print_the_import_graph() {
    for (from, edges) in dependencies(&src()) {
        let to: BTreeSet<&str> = edges.iter().map(|e| e.to.as_str()).collect();
        println!("{from} → {}", to.into_iter().collect::<Vec<_>>().join(" "));
    }
}
