//! The permacache.toml model, shared by the build check and the runtime: the
//! schema, its validation with `file:line:column` errors, the settings string
//! a build passes to the `permacached!` functions, and the namespace path
//! rule. Depends on std, serde and toml only, so a build script can include
//! it by path.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;
use toml::Spanned;

/// permacache.toml, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Undeclared and unused namespaces are errors, not warnings.
    #[serde(default)]
    pub strict: bool,
    /// Where the store lives.
    #[serde(default)]
    pub store: StoreSection,
    /// The namespaces, by path.
    #[serde(default)]
    pub namespace: BTreeMap<Spanned<String>, NamespaceConfig>,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// The store root, relative to the crate root.
    pub dir: Option<Spanned<String>>,
}

/// `[namespace."path"]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceConfig {
    /// Entries written under another version are not served.
    #[serde(default)]
    pub version: u32,
    /// How values are encoded.
    #[serde(default)]
    pub codec: CodecName,
    /// What the namespace holds, for people.
    pub description: Option<String>,
    /// Entries written by another body of the function are not served.
    #[serde(default)]
    pub track_body: bool,
    /// Entries older than this are misses, such as `"30d"`.
    pub ttl: Option<Spanned<String>>,
}

/// A codec's name in permacache.toml.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodecName {
    /// postcard, the default.
    #[default]
    Postcard,
    /// JSON.
    Json,
}

impl CodecName {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CodecName::Postcard => "postcard",
            CodecName::Json => "json",
        }
    }
}

/// A problem in permacache.toml, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong and what is expected.
    pub message: String,
}

/// The 1-based line and column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Config {
    /// Parses and validates permacache.toml.
    ///
    /// # Errors
    ///
    /// Every problem found, each with its line and column.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        let at = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            ConfigError {
                line,
                column,
                message,
            }
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().replace('\n', " ");
            vec![at(e.span().unwrap_or(0..0), message)]
        })?;
        let mut errors = Vec::new();
        for (path, ns) in &config.namespace {
            if let Some(problem) = namespace_path_problem(path.get_ref()) {
                errors.push(at(
                    path.span(),
                    format!(
                        "bad namespace path {:?}: {}; expected a relative path like \"unique/path/f\"",
                        path.get_ref(),
                        problem.reason()
                    ),
                ));
            }
            if let Some(ttl) = &ns.ttl
                && let Err(e) = parse_duration(ttl.get_ref())
            {
                errors.push(at(ttl.span(), format!("bad ttl: {e}")));
            }
        }
        if let Some(dir) = &config.store.dir
            && dir.get_ref().trim().is_empty()
        {
            errors.push(at(
                dir.span(),
                "[store] dir is empty; expected a directory path".into(),
            ));
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }
}

/// Parses a duration such as `45s`, `15m`, `12h`, `30d` or `2w` into seconds.
///
/// # Errors
///
/// What was expected, when `text` is not such a duration.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(n) if unit_secs > 0 && n > 0 => n
            .checked_mul(unit_secs)
            .ok_or_else(|| format!("{text:?} is too long")),
        _ => Err(format!(
            "{text:?} is not a duration; expected a positive number and a unit, like \"45s\", \"15m\", \"12h\", \"30d\" or \"2w\""
        )),
    }
}

/// Why a namespace path is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// `""`.
    Empty,
    /// Starts with `/`.
    Absolute,
    /// `a//b` or a trailing `/`.
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// A segment named `data.mdb` or `lock.mdb`.
    StoreFile,
    /// Another character than letters, digits, `_`, `-`, `.` and `/`.
    BadCharacter,
}

impl PathProblem {
    /// What is wrong, in a few words.
    pub const fn reason(self) -> &'static str {
        match self {
            PathProblem::Empty => "it is empty",
            PathProblem::Absolute => "it is absolute",
            PathProblem::EmptySegment => "it has an empty segment",
            PathProblem::DotSegment => "'.' and '..' segments are not allowed",
            PathProblem::StoreFile => "data.mdb and lock.mdb are the store's own files",
            PathProblem::BadCharacter => {
                "it has a character other than letters, digits, '_', '-', '.' and '/'"
            }
        }
    }

    /// The whole compile error of `permacached!` (const panics take no
    /// formatting).
    pub const fn compile_error(self) -> &'static str {
        match self {
            PathProblem::Empty => {
                "permacached!: bad namespace path: it is empty; expected a relative path like \"unique/path/f\""
            }
            PathProblem::Absolute => {
                "permacached!: bad namespace path: it is absolute; expected a relative path like \"unique/path/f\""
            }
            PathProblem::EmptySegment => {
                "permacached!: bad namespace path: it has an empty segment; expected a relative path like \"unique/path/f\""
            }
            PathProblem::DotSegment => {
                "permacached!: bad namespace path: '.' and '..' segments are not allowed; expected a relative path like \"unique/path/f\""
            }
            PathProblem::StoreFile => {
                "permacached!: bad namespace path: data.mdb and lock.mdb are the store's own files"
            }
            PathProblem::BadCharacter => {
                "permacached!: bad namespace path: it has a character other than letters, digits, '_', '-', '.' and '/'"
            }
        }
    }
}

/// What is wrong with a namespace path, if anything: a relative path of
/// segments of letters, digits, `_`, `-` and `.`, none empty, `.` or `..`, and
/// none named as the store's own files. Usable in const context, so the
/// `permacached!` macro checks its literal at compile time with it.
pub const fn namespace_path_problem(path: &str) -> Option<PathProblem> {
    let b = path.as_bytes();
    if b.is_empty() {
        return Some(PathProblem::Empty);
    }
    if b[0] == b'/' {
        return Some(PathProblem::Absolute);
    }
    let mut start = 0;
    let mut i = 0;
    while i <= b.len() {
        if i == b.len() || b[i] == b'/' {
            let len = i - start;
            if len == 0 {
                return Some(PathProblem::EmptySegment);
            }
            if (len == 1 && b[start] == b'.')
                || (len == 2 && b[start] == b'.' && b[start + 1] == b'.')
            {
                return Some(PathProblem::DotSegment);
            }
            if segment_is(b, start, len, b"data.mdb") || segment_is(b, start, len, b"lock.mdb") {
                return Some(PathProblem::StoreFile);
            }
            start = i + 1;
        } else {
            let c = b[i];
            if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.') {
                return Some(PathProblem::BadCharacter);
            }
        }
        i += 1;
    }
    None
}

const fn segment_is(b: &[u8], start: usize, len: usize, name: &[u8]) -> bool {
    if len != name.len() {
        return false;
    }
    let mut i = 0;
    while i < len {
        if b[start + i] != name[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The settings a build passes to one namespace's functions, as the value of
/// the `PERMACACHE_NS:<path>` environment variable: `v=1;c=json;t=60;b=<hex>;`.
/// The runtime reads it back with `Settings::from_build` at compile time.
pub fn settings_string(ns: &NamespaceConfig, body_fingerprint: Option<u64>) -> String {
    let mut s = format!("v={};c={};", ns.version, ns.codec.as_str());
    if let Some(ttl) = &ns.ttl
        && let Ok(secs) = parse_duration(ttl.get_ref())
    {
        let _ = write!(s, "t={secs};");
    }
    if let Some(body) = body_fingerprint.filter(|_| ns.track_body) {
        let _ = write!(s, "b={body:016x};");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_parses() {
        let c = Config::parse(
            r#"
strict = true
[store]
dir = "target/permacache"
[namespace."unique/path/f"]
version = 1
codec = "json"
description = "squares"
track_body = true
ttl = "30d"
"#,
        )
        .unwrap();
        assert!(c.strict);
        let (path, ns) = c.namespace.iter().next().unwrap();
        assert_eq!(path.get_ref(), "unique/path/f");
        assert_eq!(
            settings_string(ns, Some(0xab)),
            "v=1;c=json;t=2592000;b=00000000000000ab;"
        );
    }

    #[test]
    fn mistakes_are_reported_at_their_line_and_column() {
        let errs = Config::parse("[namespace.\"a/b\"]\nversoin = 1\n").unwrap_err();
        assert_eq!((errs[0].line, errs[0].column), (2, 1));
        assert!(
            errs[0].message.contains("unknown field `versoin`"),
            "{}",
            errs[0].message
        );

        let errs = Config::parse("[namespace.\"a/b\"]\nversion = \"one\"\n").unwrap_err();
        assert_eq!(errs[0].line, 2);
        assert!(
            errs[0].message.contains("invalid type"),
            "{}",
            errs[0].message
        );

        let errs = Config::parse("[namespace.\"a/b\"]\ncodec = \"xml\"\n").unwrap_err();
        assert!(
            errs[0].message.contains("`postcard`"),
            "{}",
            errs[0].message
        );

        let errs = Config::parse("[namespace.\"../up\"]\n[namespace.\"ok\"]\nttl = \"soon\"\n")
            .unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!((errs[0].line, errs[0].column), (1, 12));
        assert!(errs[0].message.contains("bad namespace path"));
        assert_eq!((errs[1].line, errs[1].column), (3, 7));
        assert!(errs[1].message.contains("\"45s\""));
    }

    #[test]
    fn durations_take_one_unit() {
        assert_eq!(parse_duration("45s"), Ok(45));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        for bad in ["", "30", "d", "0d", "1y", "-1d", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
