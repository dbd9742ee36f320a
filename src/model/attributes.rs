//! [`Attributes`]: an entity's custom attributes, a small sorted map.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Custom attributes of an entity, by name, kept sorted by name so that diffs and renders
/// are stable. It serializes as a map.
///
/// A sorted vector rather than a `BTreeMap`: a resource carries a handful of attributes (the
/// platform allows 18), and a `BTreeMap`'s first node costs about 550 bytes whatever it holds.
/// At 50,000 apps that was 27 MB for each copy of the state a plan holds (declared, read, and
/// each operation's). Lookups are binary searches.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attributes(Vec<(String, String)>);

impl std::fmt::Debug for Attributes {
    /// As a map's: `{"name": "value"}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Attributes {
    /// No attributes.
    pub const fn new() -> Attributes {
        Attributes(Vec::new())
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `name`.
    pub fn get<Q: AsRef<str> + ?Sized>(&self, name: &Q) -> Option<&String> {
        self.find(name.as_ref()).ok().map(|i| &self.0[i].1)
    }

    /// Whether `name` is set.
    pub fn contains_key<Q: AsRef<str> + ?Sized>(&self, name: &Q) -> bool {
        self.find(name.as_ref()).is_ok()
    }

    /// Sets `name`; returns the value it replaced.
    pub fn insert(&mut self, name: String, value: String) -> Option<String> {
        match self.find(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    /// Removes `name`; returns its value.
    pub fn remove<Q: AsRef<str> + ?Sized>(&mut self, name: &Q) -> Option<String> {
        self.find(name.as_ref()).ok().map(|i| self.0.remove(i).1)
    }

    /// Removes every attribute.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Keeps the attributes for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut String) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }

    /// Names and values, by name.
    pub fn iter(&self) -> Iter<'_> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Names, sorted.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator + Clone {
        self.0.iter().map(|(k, _)| k)
    }

    /// Values, by name.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator + Clone {
        self.0.iter().map(|(_, v)| v)
    }
}

/// The iterator of [`Attributes::iter`].
pub type Iter<'a> = std::iter::Map<
    std::slice::Iter<'a, (String, String)>,
    fn(&'a (String, String)) -> (&'a String, &'a String),
>;

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a String, &'a String);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Attributes {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<(String, String)> for Attributes {
    /// A name given twice keeps its last value, as a map's insert would.
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Attributes {
        let mut a = Attributes::new();
        a.extend(iter);
        a
    }
}

impl Extend<(String, String)> for Attributes {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, iter: I) {
        let mut all: Vec<(String, String)> = std::mem::take(&mut self.0);
        all.extend(iter);
        // Stable: of equal names, the last given is the one kept.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let mut kept: Vec<(String, String)> = Vec::with_capacity(all.len());
        for (k, v) in all {
            match kept.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => kept.push((k, v)),
            }
        }
        kept.shrink_to_fit();
        self.0 = kept;
    }
}

impl<const N: usize> From<[(String, String); N]> for Attributes {
    fn from(pairs: [(String, String); N]) -> Attributes {
        pairs.into_iter().collect()
    }
}

impl From<BTreeMap<String, String>> for Attributes {
    fn from(map: BTreeMap<String, String>) -> Attributes {
        let mut v: Vec<(String, String)> = map.into_iter().collect();
        v.shrink_to_fit();
        Attributes(v)
    }
}

impl std::ops::Index<&str> for Attributes {
    type Output = String;
    /// The value of `name`; panics if it is not set, as a map's index does.
    fn index(&self, name: &str) -> &String {
        self.get(name)
            .unwrap_or_else(|| panic!("no attribute `{name}`"))
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Attributes, D::Error> {
        BTreeMap::<String, String>::deserialize(d).map(Attributes::from)
    }
}

impl schemars::JsonSchema for Attributes {
    fn inline_schema() -> bool {
        <BTreeMap<String, String> as schemars::JsonSchema>::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        <BTreeMap<String, String> as schemars::JsonSchema>::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <BTreeMap<String, String> as schemars::JsonSchema>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn stays_sorted_and_keeps_the_last_value_of_a_name() {
        let mut a = attrs(&[("b", "1"), ("a", "2"), ("b", "3")]);
        assert_eq!(a.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(format!("{a:?}"), r#"{"a": "2", "b": "3"}"#);
        assert_eq!(a.get("b").map(String::as_str), Some("3"));
        assert_eq!(a.insert("c".into(), "4".into()), None);
        assert_eq!(a.insert("a".into(), "5".into()).as_deref(), Some("2"));
        assert_eq!(a.remove("b").as_deref(), Some("3"));
        assert!(!a.contains_key("b"));
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [
                (&"a".to_string(), &"5".to_string()),
                (&"c".to_string(), &"4".to_string())
            ]
        );
        a.retain(|k, _| k != "a");
        assert_eq!(a.len(), 1);
        assert_eq!(a["c"], "4");
    }

    #[test]
    fn is_a_map_in_json_and_yaml_and_in_the_schema() {
        let a = attrs(&[("z", "1"), ("a", "2")]);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"a":"2","z":"1"}"#);
        assert_eq!(serde_json::from_str::<Attributes>(&json).unwrap(), a);
        assert_eq!(
            serde_yaml::from_str::<Attributes>("z: '1'\na: '2'\n").unwrap(),
            a
        );
        let ours = schemars::schema_for!(Attributes);
        let map = schemars::schema_for!(BTreeMap<String, String>);
        assert_eq!(ours, map);
    }

    #[test]
    fn equal_contents_compare_and_hash_alike() {
        use std::hash::{BuildHasher, RandomState};
        let (a, b) = (
            attrs(&[("x", "1"), ("y", "2")]),
            attrs(&[("y", "2"), ("x", "1")]),
        );
        assert_eq!(a, b);
        let s = RandomState::new();
        assert_eq!(s.hash_one(&a), s.hash_one(&b));
    }
}
