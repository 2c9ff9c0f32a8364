//! A JSON document read for tensors: every list of numbers, or of equally shaped lists of
//! numbers, is one `Tensor` node whose values sit in one flat buffer, in order. A request of
//! 64 images is then a handful of nodes and one `Vec<f32>`, not 50,000 `serde_json::Value`s
//! (which took a quarter of the server's time under load). Anything else (objects, strings,
//! ragged lists) keeps its structure. serde_json's nesting limit (128) still applies.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// The most dimensions a tensor node has (a batch of images has 4).
pub const MAX_RANK: usize = 8;

/// A tensor's dimensions, inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    len: u8,
    dims: [usize; MAX_RANK],
}

impl Dims {
    const SCALAR: Dims = Dims {
        len: 0,
        dims: [0; MAX_RANK],
    };

    pub fn as_slice(&self) -> &[usize] {
        &self.dims[..usize::from(self.len)]
    }

    /// The number of values.
    pub fn size(&self) -> usize {
        self.as_slice().iter().product()
    }

    /// `[n, ...self]`, if it stays within `MAX_RANK`.
    fn outer(&self, n: usize) -> Option<Dims> {
        let len = usize::from(self.len);
        if len == MAX_RANK {
            return None;
        }
        let mut dims = [0; MAX_RANK];
        dims[0] = n;
        dims[1..=len].copy_from_slice(self.as_slice());
        Some(Dims {
            len: self.len + 1,
            dims,
        })
    }

    /// The dimensions after the first.
    fn inner(&self) -> Dims {
        let len = usize::from(self.len).saturating_sub(1);
        let mut dims = [0; MAX_RANK];
        dims[..len].copy_from_slice(&self.as_slice()[1..]);
        Dims {
            len: len as u8,
            dims,
        }
    }
}

impl fmt::Debug for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_slice())
    }
}

#[derive(Clone, Debug)]
pub enum Node {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    /// A list of numbers, or of tensors of one shape: `dims` (the first the list's length),
    /// values at `start..start + dims.size()` of the document's buffer.
    Tensor {
        dims: Dims,
        start: usize,
    },
    /// A list of anything else.
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// A parsed document: its root and the buffer its tensors' values live in.
pub struct Doc {
    pub root: Node,
    pub numbers: Vec<f32>,
}

impl Doc {
    pub fn parse(bytes: &[u8]) -> Result<Doc, serde_json::Error> {
        let mut numbers = Vec::new();
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let root = Seed {
            numbers: &mut numbers,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(Doc { root, numbers })
    }

    /// A tensor node's values.
    pub fn values(&self, dims: &Dims, start: usize) -> &[f32] {
        &self.numbers[start..start + dims.size()]
    }
}

impl Node {
    /// The elements of a list (a tensor's sub-tensors or numbers), or `None` for others.
    pub fn items(&self) -> Option<Vec<Cow<'_, Node>>> {
        match self {
            Node::List(items) => Some(items.iter().map(Cow::Borrowed).collect()),
            Node::Tensor { dims, start } => {
                let n = dims.as_slice()[0];
                let inner = dims.inner();
                let step = inner.size();
                Some(
                    (0..n)
                        .map(|i| Cow::Owned(sub(inner, start + i * step)))
                        .collect(),
                )
            }
            _ => None,
        }
    }

    /// The value under `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::Str(_) => "a string",
            Node::Tensor { .. } | Node::List(_) => "a list",
            Node::Map(_) => "an object",
        }
    }
}

/// Element `start` of a tensor whose elements have `dims`.
fn sub(dims: Dims, start: usize) -> Node {
    if dims.len == 0 {
        // a number: kept in the buffer, so only its place is needed
        Node::Tensor {
            dims: Dims::SCALAR,
            start,
        }
    } else {
        Node::Tensor { dims, start }
    }
}

struct Seed<'a> {
    numbers: &'a mut Vec<f32>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v as f64))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v as f64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Number(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let numbers = self.numbers;
        let start = numbers.len();
        // while every element is a number, or a tensor of one shape laid right after the
        // previous one, the list is a tensor; otherwise its elements are kept as nodes
        let mut element: Option<Dims> = None;
        let mut count = 0;
        let mut mixed: Option<Vec<Node>> = None;
        while let Some(node) = seq.next_element_seed(Seed {
            numbers: &mut *numbers,
        })? {
            if let Some(items) = mixed.as_mut() {
                items.push(node);
                continue;
            }
            let placed = match node {
                Node::Number(v) => {
                    numbers.push(v as f32);
                    Some(Dims::SCALAR)
                }
                Node::Tensor { dims, start: at }
                    if element.is_none_or(|e| e == dims) && at == start + count * dims.size() =>
                {
                    Some(dims)
                }
                _ => None,
            };
            match placed {
                Some(dims) if element.is_none_or(|e| e == dims) => {
                    element = Some(dims);
                    count += 1;
                }
                _ => {
                    // keep what came so far as nodes, then this one
                    let dims = element.unwrap_or(Dims::SCALAR);
                    let step = dims.size();
                    let mut items: Vec<Node> = (0..count)
                        .map(|i| match dims.len {
                            0 => Node::Number(f64::from(numbers[start + i])),
                            _ => Node::Tensor {
                                dims,
                                start: start + i * step,
                            },
                        })
                        .collect();
                    items.push(node);
                    mixed = Some(items);
                }
            }
        }
        if let Some(items) = mixed {
            return Ok(Node::List(items));
        }
        let dims = element
            .unwrap_or(Dims::SCALAR)
            .outer(count)
            .ok_or_else(|| A::Error::custom(format!("lists nested deeper than {MAX_RANK}")))?;
        Ok(Node::Tensor { dims, start })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let numbers = self.numbers;
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Seed {
                numbers: &mut *numbers,
            })?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// Writes `node` as JSON (tensor values as 32-bit floats, in their shortest exact form).
pub fn write(out: &mut Vec<u8>, node: &Node, doc: &Doc) {
    match node {
        Node::Null => out.extend_from_slice(b"null"),
        Node::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Node::Number(v) => write_f64(out, *v),
        Node::Str(s) => put(out, s),
        Node::Tensor { dims, start } => {
            write_values(out, dims.as_slice(), doc.values(dims, *start))
        }
        Node::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item, doc);
            }
            out.push(b']');
        }
        Node::Map(entries) => {
            out.push(b'{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                put(out, key);
                out.push(b':');
                write(out, value, doc);
            }
            out.push(b'}');
        }
    }
}

/// Appends `v` (a string or a finite float) as JSON.
pub fn put(out: &mut Vec<u8>, v: &(impl serde::Serialize + ?Sized)) {
    // serde_json fails only when the writer fails (a `Vec` never does) or on a non-finite
    // float (callers write those as `null`) or a map with non-string keys (none is given)
    serde_json::to_writer(&mut *out, v).expect("strings and finite floats write to a Vec")
}

fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        put(out, &v);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Values shaped `dims`, as nested lists; a non-finite value as `null` (JSON has no NaN).
pub fn write_values(out: &mut Vec<u8>, dims: &[usize], values: &[f32]) {
    match dims.split_first() {
        None => {
            let v = values.first().copied().unwrap_or(f32::NAN);
            if v.is_finite() {
                put(out, &v);
            } else {
                out.extend_from_slice(b"null");
            }
        }
        Some((&n, rest)) => {
            let step: usize = rest.iter().product();
            out.push(b'[');
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                write_values(out, rest, &values[i * step..(i + 1) * step]);
            }
            out.push(b']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> String {
        let doc = Doc::parse(text.as_bytes()).unwrap();
        let mut out = Vec::new();
        write(&mut out, &doc.root, &doc);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lists_of_numbers_become_one_tensor() {
        let doc = Doc::parse(br#"{"instances": [[[1, 2], [3, 4]], [[5, 6], [7, 8.5]]]}"#).unwrap();
        let Some(Node::Tensor { dims, start }) = doc.root.get("instances") else {
            panic!("{:?}", doc.root);
        };
        assert_eq!(dims.as_slice(), &[2, 2, 2]);
        assert_eq!(
            doc.values(dims, *start),
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.5]
        );
        let items = doc.root.get("instances").unwrap().items().unwrap();
        let Node::Tensor { dims, start } = items[1].as_ref() else {
            panic!()
        };
        assert_eq!(doc.values(dims, *start), &[5.0, 6.0, 7.0, 8.5]);
    }

    #[test]
    fn ragged_and_mixed_lists_keep_their_elements() {
        assert_eq!(roundtrip("[[1,2],[3]]"), "[[1.0,2.0],[3.0]]");
        assert_eq!(
            roundtrip(r#"[1,"a",[2,3],{"b":null}]"#),
            r#"[1.0,"a",[2.0,3.0],{"b":null}]"#
        );
        assert_eq!(roundtrip("[[1,2],3]"), "[[1.0,2.0],3.0]");
        assert_eq!(roundtrip("[3,[1,2]]"), "[3.0,[1.0,2.0]]");
        assert_eq!(roundtrip("[[],[]]"), "[[],[]]");
        let doc = Doc::parse(b"[[1,2],[3]]").unwrap();
        assert!(matches!(doc.root, Node::List(ref items) if items.len() == 2));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(MAX_RANK + 1), "]".repeat(MAX_RANK + 1));
        let e = Doc::parse(deep.as_bytes()).err().unwrap();
        assert!(e.to_string().contains("nested deeper than 8"), "{e}");
        let deeper = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = Doc::parse(deeper.as_bytes()).err().unwrap();
        assert!(e.to_string().contains("recursion limit"), "{e}");
        let objects = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
        assert!(Doc::parse(objects.as_bytes()).is_err());
    }
}
