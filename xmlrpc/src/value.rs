//! The dynamic XML-RPC value tree: [`Value`] and [`Struct`].

use crate::datetime::DateTime;

/// A dynamic XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>` / `<i4>`.
    Int(i32),
    /// `<i8>`.
    I8(i64),
    /// `<boolean>1|0</boolean>`.
    Bool(bool),
    /// `<string>x</string>` or bare `<value>x</value>` (XAPI's form); `<value></value>` = "".
    String(String),
    /// `<double>`.
    Double(f64),
    /// `<dateTime.iso8601>`.
    DateTime(DateTime),
    /// `<base64>`.
    Base64(Vec<u8>),
    /// `<struct>`.
    Struct(Struct),
    /// `<array><data>…</data></array>`.
    Array(Vec<Value>),
    /// `<nil/>`.
    Nil,
}

impl Value {
    /// The text of a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The members of a `Struct`.
    pub fn as_struct(&self) -> Option<&Struct> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// The items of an `Array`.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The value of a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Int, I8, or a String holding a decimal (XAPI sends int64 as strings).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(i64::from(*i)),
            Value::I8(i) => Some(*i),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Double, Int, I8, or a String holding a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            Value::Int(i) => Some(f64::from(*i)),
            Value::I8(i) => Some(*i as f64),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// "int", "i8", "boolean", "string", "double", "dateTime.iso8601", "base64", "struct",
    /// "array", "nil".
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::I8(_) => "i8",
            Value::Bool(_) => "boolean",
            Value::String(_) => "string",
            Value::Double(_) => "double",
            Value::DateTime(_) => "dateTime.iso8601",
            Value::Base64(_) => "base64",
            Value::Struct(_) => "struct",
            Value::Array(_) => "array",
            Value::Nil => "nil",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::I8(i)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(d: f64) -> Self {
        Value::Double(d)
    }
}
impl From<DateTime> for Value {
    fn from(d: DateTime) -> Self {
        Value::DateTime(d)
    }
}
impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}
impl From<Struct> for Value {
    fn from(s: Struct) -> Self {
        Value::Struct(s)
    }
}

/// Struct members in wire order (duplicates: last wins on `get`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Struct {
    members: Vec<(String, Value)>,
}

impl Struct {
    /// An empty struct.
    pub fn new() -> Self {
        Struct::default()
    }

    /// Wraps members exactly as given (the decoder hands over an exactly-sized vector).
    pub(crate) fn from_members(members: Vec<(String, Value)>) -> Self {
        Struct { members }
    }

    /// The value of the last member called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Sets member `name`: replaces an existing member of that name in place (dropping any
    /// duplicates of it), or appends a new one.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let name = name.into();
        let value = value.into();
        match self.members.iter().position(|(k, _)| *k == name) {
            Some(first) => {
                self.members[first].1 = value;
                let mut i = first + 1;
                while i < self.members.len() {
                    if self.members[i].0 == name {
                        self.members.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => self.members.push((name, value)),
        }
    }

    /// Removes every member called `name`, returning the value `get` would have returned.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let mut last = None;
        self.members.retain_mut(|(k, v)| {
            if k == name {
                last = Some(std::mem::replace(v, Value::Nil));
                false
            } else {
                true
            }
        });
        last
    }

    /// Members in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.members.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of members (duplicates counted).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Appends a member without looking for an existing one (wire order, duplicates kept).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.members.push((name.into(), value.into()));
    }
}

impl FromIterator<(String, Value)> for Struct {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Struct {
            members: iter.into_iter().collect(),
        }
    }
}

impl IntoIterator for Struct {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.members.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_get_insert_remove() {
        let mut s = Struct::new();
        s.push("a", 1);
        s.push("b", "x");
        s.push("a", 2);
        assert_eq!(s.get("a"), Some(&Value::Int(2)), "last duplicate wins");
        s.insert("a", 3);
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().next(), Some(("a", &Value::Int(3))));
        s.insert("c", true);
        assert_eq!(s.remove("b"), Some(Value::from("x")));
        assert_eq!(s.remove("b"), None);
        let names: Vec<_> = s.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "c"]);
    }

    #[test]
    fn accessors() {
        assert_eq!(Value::from("42").as_i64(), Some(42));
        assert_eq!(Value::I8(-7).as_i64(), Some(-7));
        assert_eq!(Value::Int(2).as_f64(), Some(2.0));
        assert_eq!(Value::Bool(true).as_i64(), None);
        assert_eq!(Value::from(1i64).type_name(), "i8");
        assert_eq!(Value::Nil.type_name(), "nil");
    }
}
