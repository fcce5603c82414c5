//! Where a bad input is: the line and column of a byte offset, and the key
//! path (`port[1].colour`) of a schema error. `toml` reports a serde error
//! (unknown key, wrong type, missing key) as a byte span with serde's
//! message; to name the key, the text is parsed a second time — only on that
//! error path — into a tree of every key and value with its span, and the
//! span is looked up in it.

use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::ConfigError;

/// A position in the configuration text, both 1-based; the column counts
/// characters, not bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The position of byte `offset` of `text` (clamped to the text, and
    /// back to a character boundary).
    pub fn of(text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// The first invalid UTF-8 sequence of `bytes`, as an error.
pub(crate) fn utf8_error(bytes: &[u8], e: std::str::Utf8Error, file: Option<&str>) -> ConfigError {
    let offset = e.valid_up_to();
    // The prefix up to `valid_up_to` is valid UTF-8 by definition.
    let before = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
    ConfigError::Utf8 {
        file: file.map(str::to_string),
        offset,
        at: Location::of(before, before.len()),
        byte: bytes.get(offset).copied(),
        truncated: e.error_len().is_none(),
    }
}

/// Turns `toml`'s error for `text` into a [`ConfigError`]: a syntax error
/// with its position, or a schema error naming its key.
pub(crate) fn toml_error(text: &str, e: &toml::de::Error, file: Option<&str>) -> ConfigError {
    // `toml` blames the whole document (a missing top-level key) on 0..0.
    let span = e.span().filter(|s| *s != (0..0));
    let at = span.as_ref().map(|s| Location::of(text, s.start));
    let message = e.message().trim().replace('\n', "; ");
    let tree = SpSeed(spanned_names()).deserialize(toml::Deserializer::new(text));
    let Ok(tree) = tree else {
        // The text is not TOML at all.
        return ConfigError::Syntax {
            file: file.map(str::to_string),
            at: at.unwrap_or(Location { line: 1, column: 1 }),
            message,
        };
    };
    let mut path = span.as_ref().map(|s| locate(&tree, s)).unwrap_or_default();
    let (key, reason) = if let Some(field) = field_named(&message, "missing field `") {
        path.push(Seg::Key(field.to_string()));
        (path, "required key is missing".to_string())
    } else if let Some(field) = field_named(&message, "unknown field `") {
        let named = Seg::Key(field.to_string());
        let here = node_at(&tree, &path);
        let own = match path.as_slice() {
            [.., k] | [.., k, Seg::Index(_)] if *k == named => path.iter().rposition(|s| s == k),
            _ => None,
        };
        if here.children().iter().any(|(s, _)| *s == named) {
            path.push(named);
        } else if let Some(i) = own {
            // The key's span lies in its own value: the header of
            // `[punt.lldp]` or `[[prt]]`.
            path.truncate(i + 1);
        } else {
            // A dotted key (`punt.lldp.rate_pps = 1`) under `here`.
            let mut found = path.clone();
            if find_key(here, field, &mut found) {
                path = found;
            } else {
                path.push(named);
            }
        }
        let expected = message
            .split_once(", ")
            .map(|(_, rest)| format!("; {rest}"))
            .unwrap_or_default();
        (path, format!("unknown key{expected}"))
    } else {
        (path, message)
    };
    if key.is_empty() {
        return ConfigError::Syntax {
            file: file.map(str::to_string),
            at: at.unwrap_or(Location { line: 1, column: 1 }),
            message: reason,
        };
    }
    ConfigError::Schema {
        key: format_path(&key),
        reason,
        at,
    }
}

/// The name in ``prefix`name` …`` (serde's messages).
fn field_named<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// `port[1].device`; a key that is not bare in TOML is quoted
/// (`a."b c"`), so a path never holds a line break.
fn format_path(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                let bare = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if bare {
                    s.push_str(k);
                } else {
                    s.push_str(&format!("{k:?}"));
                }
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A TOML value with its span, where `toml` knows it (not for implicit
/// tables such as `punt` in `[punt.reserved]`).
#[derive(Debug)]
struct Sp {
    span: Option<Range<usize>>,
    node: Node,
}

#[derive(Debug)]
enum Node {
    Table(Vec<(String, Sp)>),
    Array(Vec<Sp>),
    Leaf,
}

impl Sp {
    fn children(&self) -> Vec<(Seg, &Sp)> {
        match &self.node {
            Node::Table(t) => t.iter().map(|(k, v)| (Seg::Key(k.clone()), v)).collect(),
            Node::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (Seg::Index(i), v))
                .collect(),
            Node::Leaf => Vec::new(),
        }
    }
}

/// The path of the smallest value whose span holds `at` (the deepest, on a
/// tie). Not the first container found: an array of tables spans from its
/// first element to its last, over any table written in between.
fn locate(sp: &Sp, at: &Range<usize>) -> Vec<Seg> {
    let mut best = None;
    walk(sp, at, &mut Vec::new(), &mut best);
    best.map(|(_, path)| path).unwrap_or_default()
}

fn walk(sp: &Sp, at: &Range<usize>, path: &mut Vec<Seg>, best: &mut Option<(usize, Vec<Seg>)>) {
    if let Some(s) = &sp.span {
        let holds = *s == *at || (s.start <= at.start && at.start < s.end);
        if holds && best.as_ref().is_none_or(|(len, _)| s.len() <= *len) {
            *best = Some((s.len(), path.clone()));
        }
    }
    for (seg, child) in sp.children() {
        path.push(seg);
        walk(child, at, path, best);
        path.pop();
    }
}

fn node_at<'a>(mut sp: &'a Sp, path: &[Seg]) -> &'a Sp {
    for seg in path {
        match sp.children().into_iter().find(|(s, _)| s == seg) {
            Some((_, child)) => sp = child,
            None => break,
        }
    }
    sp
}

/// Extends `path` to the first key `name` in `sp`, nearest first.
fn find_key(sp: &Sp, name: &str, path: &mut Vec<Seg>) -> bool {
    let children = sp.children();
    if children
        .iter()
        .any(|(s, _)| *s == Seg::Key(name.to_string()))
    {
        path.push(Seg::Key(name.to_string()));
        return true;
    }
    for (seg, child) in children {
        path.push(seg);
        if find_key(child, name, path) {
            return true;
        }
        path.pop();
    }
    false
}

/// The struct name and fields `toml::Spanned` asks the deserializer for,
/// which `toml` answers with the span. Read from `Spanned`'s own
/// `Deserialize`, so nothing here spells out `toml`'s private names.
#[derive(Copy, Clone)]
struct SpannedNames {
    name: &'static str,
    fields: &'static [&'static str],
}

fn spanned_names() -> Option<SpannedNames> {
    struct Probe(Option<SpannedNames>);
    impl<'de> de::Deserializer<'de> for &mut Probe {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("probe"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(SpannedNames { name, fields });
            Err(de::Error::custom("probe"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut probe = Probe(None);
    let _ = toml::Spanned::<IgnoredAny>::deserialize(&mut probe);
    probe.0.filter(|n| n.fields.len() == 3)
}

/// Deserializes any value as an [`Sp`]: asks for a span, and takes the
/// value without one when the deserializer has none to give.
#[derive(Copy, Clone)]
struct SpSeed(Option<SpannedNames>);

impl<'de> DeserializeSeed<'de> for SpSeed {
    type Value = Sp;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Sp, D::Error> {
        match self.0 {
            Some(n) => d.deserialize_struct(n.name, n.fields, SpVisitor(self.0)),
            None => d.deserialize_any(SpVisitor(None)),
        }
    }
}

struct NodeSeed(Option<SpannedNames>);

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor(self.0))
    }
}

fn unspanned(node: Node) -> Sp {
    Sp { span: None, node }
}

macro_rules! leaves {
    ($out:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($out)
        }
    };
}

struct SpVisitor(Option<SpannedNames>);

impl<'de> Visitor<'de> for SpVisitor {
    type Value = Sp;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }
    leaves!(unspanned(Node::Leaf));
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Sp, A::Error> {
        Ok(unspanned(array(seq, self.0)?))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sp, A::Error> {
        let first: Option<String> = map.next_key()?;
        if let (Some(n), Some(k)) = (self.0, &first) {
            if k == n.fields[0] {
                // The span form: start, end, then the value itself.
                let start: usize = map.next_value()?;
                let _: Option<IgnoredAny> = map.next_key()?;
                let end: usize = map.next_value()?;
                let _: Option<IgnoredAny> = map.next_key()?;
                let node = map.next_value_seed(NodeSeed(self.0))?;
                return Ok(Sp {
                    span: Some(start..end),
                    node,
                });
            }
        }
        Ok(unspanned(table(first, map, self.0)?))
    }
}

struct NodeVisitor(Option<SpannedNames>);

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }
    leaves!(Node::Leaf);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Node, A::Error> {
        array(seq, self.0)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let first = map.next_key()?;
        table(first, map, self.0)
    }
}

fn array<'de, A: SeqAccess<'de>>(mut seq: A, n: Option<SpannedNames>) -> Result<Node, A::Error> {
    let mut items = Vec::new();
    while let Some(v) = seq.next_element_seed(SpSeed(n))? {
        items.push(v);
    }
    Ok(Node::Array(items))
}

/// The rest of a map whose first key (`None`: it is empty) is read.
fn table<'de, A: MapAccess<'de>>(
    first: Option<String>,
    mut map: A,
    n: Option<SpannedNames>,
) -> Result<Node, A::Error> {
    let mut entries = Vec::new();
    let mut key = first;
    while let Some(k) = key {
        let v = map.next_value_seed(SpSeed(n))?;
        entries.push((k, v));
        key = map.next_key()?;
    }
    Ok(Node::Table(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(Location::of("", 0), Location { line: 1, column: 1 });
        assert_eq!(Location::of("ab\ncd", 4), Location { line: 2, column: 2 });
        assert_eq!(Location::of("é\nxé", 6), Location { line: 2, column: 3 });
        assert_eq!(Location::of("é\nxé", 5), Location { line: 2, column: 2 });
        // Past the end, or inside a character: clamped.
        assert_eq!(Location::of("é", 1), Location { line: 1, column: 1 });
        assert_eq!(Location::of("ab", 99), Location { line: 1, column: 3 });
    }

    #[test]
    fn toml_gives_spans() {
        assert!(spanned_names().is_some());
        let text = "[a]\nb = 1\n[[c]]\nd = [1, \"x\"]\n[e.f]\ng = 2020-01-01\n";
        let tree = SpSeed(spanned_names())
            .deserialize(toml::Deserializer::new(text))
            .unwrap();
        let at = text.find("\"x\"").unwrap();
        assert_eq!(format_path(&locate(&tree, &(at..at + 3))), "c[0].d[1]");
        let mut path = Vec::new();
        assert!(find_key(&tree, "g", &mut path));
        assert_eq!(format_path(&path), "e.f.g");
    }

    #[test]
    fn keys_that_are_not_bare_are_quoted() {
        let path = [
            Seg::Key("a b".into()),
            Seg::Index(2),
            Seg::Key("c\nd".into()),
        ];
        assert_eq!(format_path(&path), "\"a b\"[2].\"c\\nd\"");
    }
}
