//! The source layout the README's architecture section describes: the
//! daemon's top-level modules form layers, and every `crate::…` path points
//! down (to a lower layer), never up or sideways, so there is no module
//! cycle; and no source file outside tests grows past the size a reader
//! takes in at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use the modules of lower layers
/// only. A new top-level module must be placed here.
const LAYERS: &[&[&str]] = &[
    &["sealing"],
    &["model", "signing", "shutdown"],
    &["config"],
    &["telemetry", "events"],
    &["store", "bus"],
    &["health", "classify", "chat", "senders", "targets", "bots"],
    &["app"],
    &["outbox"],
    &["sla"],
    &["outbound"],
    &["office"],
    &["routing"],
    &["delivery", "reports"],
    &["replay"],
    &["csat"],
    &["idle"],
    &["commands", "notices", "privacy"],
    &["inbound", "escalation", "supervisor"],
    &["http"],
    &["daemon"],
    &["bench"],
];

/// Lines a source file (tests excluded) may have.
const MAX_LINES: usize = 400;

/// The files still over [`MAX_LINES`], being split (issue 14). The list
/// only shrinks: a file not on it may not grow past the limit, and a file
/// on it that is back under the limit must leave it.
const NOT_YET_SPLIT: &[&str] = &[];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file of `src/` belongs to (`None`: the crate root).
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy().into_owned();
    let name = first.trim_end_matches(".rs").to_owned();
    (name != "lib" && name != "main").then_some(name)
}

/// Code without comments (line comments and doc comments).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // Keep `//` inside string literals such as URLs.
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named by `crate::x` and `crate::{x, y::z}` paths.
fn uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The names at depth 0 of the group.
            let (mut depth, mut name, mut names) = (0usize, String::new(), Vec::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => names.push(std::mem::take(&mut name)),
                    _ => name.push(c),
                }
            }
            names.push(name);
            for n in names {
                let head: String = n.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !head.is_empty() {
                    found.insert(head);
                }
            }
        } else {
            let head: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !head.is_empty() {
                found.insert(head);
            }
        }
    }
    found
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs")
}

#[test]
fn modules_use_only_lower_layers() {
    let layer: BTreeMap<&str, usize> =
        LAYERS.iter().enumerate().flat_map(|(i, names)| names.iter().map(move |n| (*n, i))).collect();
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let Some(module) = module_of(file) else { continue };
        let Some(&own) = layer.get(module.as_str()) else {
            problems.push(format!("module `{module}` is in no layer of tests/it/layout.rs"));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests may reach anywhere.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for used in uses(&code(text)) {
            if used == module {
                continue;
            }
            match layer.get(used.as_str()) {
                Some(&other) if other < own => {}
                Some(_) => problems.push(format!(
                    "{} (`{module}`) uses `crate::{used}`, which is not in a lower layer",
                    file.strip_prefix(src()).unwrap().display()
                )),
                None => {}
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "layering broken:\n{}", problems.join("\n"));
}

#[test]
fn source_files_stay_short() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut problems: Vec<String> = files
        .iter()
        .filter(|f| !is_test_file(f))
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            // Unit-test modules at the end of a file do not count.
            let lines = text.split("#[cfg(test)]").next().unwrap_or_default().lines().count();
            let name = f.strip_prefix(src()).unwrap().display().to_string();
            let listed = NOT_YET_SPLIT.contains(&name.as_str());
            match (lines > MAX_LINES, listed) {
                (true, false) => Some(format!("{name} has {lines} lines (over {MAX_LINES})")),
                (false, true) => Some(format!("{name} has {lines} lines now: take it off NOT_YET_SPLIT")),
                _ => None,
            }
        })
        .collect();
    problems.sort();
    assert!(problems.is_empty(), "file sizes:\n{}", problems.join("\n"));
}

#[test]
fn the_scanner_finds_grouped_and_plain_paths() {
    let found = uses("use crate::{config::Settings, store::{Keys, Store}};\nlet x = crate::events::QUEUED;");
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["config", "events", "store"]);
    assert!(uses(&code("// see crate::app\nfn f() {}")).is_empty());
}

/// The files of the authenticated API besides every file under
/// `http/api/`: each route there states who may call it by taking a
/// `Principal`, an `AdminOnly` or a `Watcher` argument (the extractors in
/// `http::auth`), so a route cannot be added without it.
const AUTHENTICATED_ROUTES: &[&str] = &["http/admin.rs", "http/ops.rs", "http/entries.rs", "http/privacy.rs"];

#[test]
fn every_api_route_states_who_may_call_it() {
    let mut unstated = Vec::new();
    let mut routes = 0;
    let mut files = Vec::new();
    sources(&src().join("http/api"), &mut files);
    files.extend(AUTHENTICATED_ROUTES.iter().map(|f| src().join(f)));
    for path in &files {
        let file = path.strip_prefix(src()).unwrap().display();
        let text = code(&std::fs::read_to_string(path).unwrap());
        for (i, chunk) in text.split("pub async fn ").enumerate().skip(1) {
            let signature = chunk.split('{').next().unwrap_or_default();
            if !signature.contains("State<Arc<App>>") {
                continue;
            }
            routes += 1;
            if ![": Principal", ": AdminOnly", ": Watcher", ": StreamWatcher"].iter().any(|x| signature.contains(x)) {
                let name = chunk.split('(').next().unwrap_or_default();
                unstated.push(format!("{file}: {name} (route {i})"));
            }
        }
    }
    assert!(routes >= 20, "the scan found only {routes} routes");
    assert!(unstated.is_empty(), "routes without Principal, AdminOnly or Watcher:\n{}", unstated.join("\n"));
}

/// The key segments the Lua scripts name (`P .. ':conv:' .. id`,
/// `akey .. ':conversations'`): each must be documented in
/// `src/store/schema.rs`, where every key is defined, so a script cannot
/// invent a key the schema does not know.
#[test]
fn lua_uses_only_key_segments_the_schema_documents() {
    let schema = std::fs::read_to_string(src().join("store/schema.rs")).unwrap();
    let mut scripts = Vec::new();
    sources_with(&src().join("store/lua"), "lua", &mut scripts);
    assert!(scripts.len() > 10, "the scan found only {} scripts", scripts.len());
    let mut undocumented = BTreeSet::new();
    let mut checked = 0;
    for script in &scripts {
        let text = std::fs::read_to_string(script).unwrap();
        for literal in lua_strings(&text) {
            // Key segments are the literals that start with `:`.
            for segment in literal.split(':').skip(1).filter(|s| !s.is_empty()) {
                if !segment.chars().all(|c| c.is_ascii_lowercase() || c == '_') || !literal.starts_with(':') {
                    continue;
                }
                checked += 1;
                if !schema.contains(&format!(":{segment}")) {
                    undocumented.insert(format!("{segment} (in {})", script.file_name().unwrap().to_string_lossy()));
                }
            }
        }
    }
    assert!(checked > 25, "the scan checked only {checked} key segments");
    assert!(undocumented.is_empty(), "key segments not in store/schema.rs:\n{}", undocumented.into_iter().collect::<Vec<_>>().join("\n"));
}

fn sources_with(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The string literals of a Lua source ('…' and "…"), comments skipped.
fn lua_strings(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '-' if chars.peek() == Some(&'-') => break,
                '\'' | '"' => {
                    let mut literal = String::new();
                    while let Some(d) = chars.next() {
                        match d {
                            '\\' => {
                                chars.next();
                            }
                            d if d == c => break,
                            d => literal.push(d),
                        }
                    }
                    found.push(literal);
                }
                _ => {}
            }
        }
    }
    found
}

#[test]
fn the_lua_scanner_skips_comments_and_reads_both_quotes() {
    let found = lua_strings("local k = P .. ':conv:' .. id -- the agent's key\nlocal m = \":msgs\" -- it's");
    assert_eq!(found, [":conv:", ":msgs"]);
}
