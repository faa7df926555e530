//! The module graph of `src/` has no import circles, and the layers point
//! one way: `model` (values) at the bottom, then `store` (SQL), then `oauth`
//! (protocol rules), then `http` (the web surface), with the CLI and the
//! server on top.
//!
//! The graph is read from the source text: every `crate::…` and `super::…`
//! path, in `use` items (braces expanded) and inline, names the deepest
//! module of `src/` it reaches. A path that names a macro is not an edge: a
//! `macro_rules!` macro is text pasted where it is used.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path ("" for the crate root, "store::pg") -> source text.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let mut module = prefix.to_vec();
                if !matches!(stem, "mod" | "lib" | "main") {
                    module.push(stem.to_owned());
                }
                let text = std::fs::read_to_string(&path).unwrap();
                out.insert(module.join("::"), strip_comments(&text));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut out,
    );
    // main.rs is the binary, a crate of its own that uses the library.
    out.remove("");
    out
}

/// The text without `//` comments (doc comments name modules freely).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `macro_rules!` name defined in `src/`.
fn macro_names(modules: &BTreeMap<String, String>) -> BTreeSet<String> {
    modules
        .values()
        .flat_map(|text| text.split("macro_rules!").skip(1))
        .filter_map(|rest| {
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let (head, body) = (&tree[..open], &tree[open + 1..tree.rfind('}').unwrap()]);
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&body[start..]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(|item| expand(item).into_iter().map(move |p| format!("{head}{p}")))
        .collect()
}

/// The paths (relative to the crate root) this module's text names.
fn named_paths(module: &str, text: &str) -> Vec<String> {
    let parent: Vec<&str> = module.split("::").collect();
    let parent = parent[..parent.len() - 1].join("::");
    let absolute = |path: &str| -> Option<String> {
        if let Some(rest) = path.strip_prefix("crate::") {
            return Some(rest.to_owned());
        }
        path.strip_prefix("super::").map(|rest| {
            if parent.is_empty() {
                rest.to_owned()
            } else {
                format!("{parent}::{rest}")
            }
        })
    };
    let mut paths = Vec::new();
    // `use` items, braces and all.
    for item in text.split("use ").skip(1) {
        let Some(end) = item.find(';') else { continue };
        let tree = &item[..end];
        if tree.starts_with("crate::") || tree.starts_with("super::") {
            paths.extend(expand(tree).iter().filter_map(|p| absolute(p)));
        }
    }
    // Inline paths.
    for prefix in ["crate::", "super::"] {
        for (at, _) in text.match_indices(prefix) {
            let path: String = text[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.extend(absolute(path.trim_end_matches(':')));
        }
    }
    paths
        .into_iter()
        .map(|p| p.split(" as ").next().unwrap().replace("::self", ""))
        .collect()
}

/// Module -> the modules it uses (itself excluded).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let macros = macro_names(&modules);
    let mut graph = BTreeMap::new();
    for (module, text) in &modules {
        let mut uses = BTreeSet::new();
        for path in named_paths(module, text) {
            let segments: Vec<&str> = path.split("::").collect();
            if segments.last().is_some_and(|last| macros.contains(*last)) {
                continue;
            }
            // The deepest module the path reaches.
            let target = (1..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|m| modules.contains_key(m));
            if let Some(target) = target.filter(|t| t != module) {
                uses.insert(target);
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

#[test]
fn the_module_graph_has_no_circles() {
    let graph = graph();
    assert!(graph.len() > 50, "the walk found the modules of src/");
    // A depth-first search that reports the first back edge as a circle.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        circles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node);
            circles.push(circle.join(" -> "));
            return;
        }
        if !done.insert(node) {
            return;
        }
        path.push(node);
        for next in &graph[node] {
            visit(next, graph, path, done, circles);
        }
        path.pop();
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_layers_point_down() {
    let graph = graph();
    let top = |module: &str| module.split("::").next().unwrap().to_owned();
    // (layer, the layers it must never use)
    let rules: &[(&str, &[&str])] = &[
        (
            "model",
            &[
                "store", "oauth", "http", "server", "cli", "audit", "metrics",
            ],
        ),
        ("store", &["oauth", "http", "server", "cli"]),
        ("oauth", &["http", "server", "cli"]),
        ("http", &["server", "cli"]),
    ];
    let mut broken = Vec::new();
    for (module, uses) in &graph {
        for (layer, forbidden) in rules {
            if top(module) != *layer {
                continue;
            }
            for used in uses {
                if forbidden.contains(&top(used).as_str()) {
                    broken.push(format!("{module} uses {used}"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "upward imports:\n{}", broken.join("\n"));
    // The checker sees edges at all.
    assert!(graph["store::clients"].contains("model::client"));
}
