//! `ToArrays`: the inputs or targets of a model with one or several inputs or outputs.

use crate::data::{HostArray, ToHostArray};
use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};

/// Arrays for a model's inputs or outputs: one, several in order, or several by name.
#[derive(Clone, Debug)]
pub struct Arrays<'a> {
    items: Vec<(Option<String>, HostArray<'a>)>,
}

impl<'a> Arrays<'a> {
    /// Arrays in the order of the model's inputs (or outputs).
    pub fn list(arrays: Vec<HostArray<'a>>) -> Self {
        Arrays {
            items: arrays.into_iter().map(|a| (None, a)).collect(),
        }
    }

    /// Arrays by input (or output) name.
    pub fn named(arrays: Vec<(String, HostArray<'a>)>) -> Self {
        Arrays {
            items: arrays.into_iter().map(|(n, a)| (Some(n), a)).collect(),
        }
    }

    /// One array per name of `names` (the model's inputs or outputs, in order). `what` says
    /// which argument this is in messages (`fit: x`), `kind` what the names are (`inputs`).
    pub(crate) fn resolve(
        self,
        names: &[String],
        what: &str,
        kind: &str,
    ) -> Result<Vec<HostArray<'a>>> {
        let quoted = crate::training::quoted(names);
        if self.items.iter().all(|(n, _)| n.is_none()) {
            if self.items.len() != names.len() {
                return Err(Error::data(format!(
                    "{what} gives {} arrays but the model has {} {kind} ({quoted}); give one \
                     array per {}, in order or by name",
                    self.items.len(),
                    names.len(),
                    kind.trim_end_matches('s'),
                )));
            }
            return Ok(self.items.into_iter().map(|(_, a)| a).collect());
        }
        let mut items = self.items;
        if let Some((n, _)) = items
            .iter()
            .find(|(n, _)| !n.as_ref().is_some_and(|n| names.contains(n)))
        {
            return Err(Error::data(format!(
                "{what} has an array for `{}`, but the model's {kind} are {quoted}",
                n.as_deref().unwrap_or("(unnamed)")
            )));
        }
        names
            .iter()
            .map(|name| {
                let k = items
                    .iter()
                    .position(|(n, _)| n.as_deref() == Some(name))
                    .ok_or_else(|| {
                        Error::data(format!("{what} has no array for `{name}`; give one"))
                    })?;
                Ok(items.swap_remove(k).1)
            })
            .collect()
    }
}

/// Anything a model's inputs or targets can be read from: one array (an `ndarray` array, a
/// [`HostArray`]) for a model with one input or output; for several, a list in order
/// (`[&a, &b]`, a `Vec`) or arrays by name (`[("a", &a), ("b", &b)]`, a `HashMap` or
/// `BTreeMap`).
pub trait ToArrays {
    /// Views of the arrays, borrowed where possible.
    fn to_arrays(&self) -> Result<Arrays<'_>>;
}

impl<T: ToHostArray + ?Sized> ToArrays for T {
    fn to_arrays(&self) -> Result<Arrays<'_>> {
        Ok(Arrays::list(vec![self.to_host_array()?]))
    }
}

fn list<'a, T: ToHostArray + 'a>(items: impl Iterator<Item = &'a T>) -> Result<Arrays<'a>> {
    Ok(Arrays::list(
        items.map(|a| a.to_host_array()).collect::<Result<_>>()?,
    ))
}

fn named<'a, S: AsRef<str> + 'a, T: ToHostArray + 'a>(
    items: impl Iterator<Item = (&'a S, &'a T)>,
) -> Result<Arrays<'a>> {
    Ok(Arrays::named(
        items
            .map(|(n, a)| Ok((n.as_ref().to_string(), a.to_host_array()?)))
            .collect::<Result<_>>()?,
    ))
}

impl<T: ToHostArray, const N: usize> ToArrays for [T; N] {
    fn to_arrays(&self) -> Result<Arrays<'_>> {
        list(self.iter())
    }
}

impl<T: ToHostArray> ToArrays for Vec<T> {
    fn to_arrays(&self) -> Result<Arrays<'_>> {
        list(self.iter())
    }
}

impl<S: AsRef<str>, T: ToHostArray, const N: usize> ToArrays for [(S, T); N] {
    fn to_arrays(&self) -> Result<Arrays<'_>> {
        named(self.iter().map(|(n, a)| (n, a)))
    }
}

impl<S: AsRef<str>, T: ToHostArray> ToArrays for Vec<(S, T)> {
    fn to_arrays(&self) -> Result<Arrays<'_>> {
        named(self.iter().map(|(n, a)| (n, a)))
    }
}

impl<S: AsRef<str>, T: ToHostArray> ToArrays for HashMap<S, T> {
    fn to_arrays(&self) -> Result<Arrays<'_>> {
        named(self.iter())
    }
}

impl<S: AsRef<str>, T: ToHostArray> ToArrays for BTreeMap<S, T> {
    fn to_arrays(&self) -> Result<Arrays<'_>> {
        named(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_and_names_resolve_in_model_order() {
        let (a, b) = (Array2::<f32>::zeros((2, 3)), Array2::<f32>::ones((2, 1)));
        let order = names(&["a", "b"]);
        let list = [&a, &b];
        let got = list
            .to_arrays()
            .unwrap()
            .resolve(&order, "x", "inputs")
            .unwrap();
        assert_eq!(got[1].sample_shape(), &[1]);
        let named = [("b", &b), ("a", &a)];
        let got = named
            .to_arrays()
            .unwrap()
            .resolve(&order, "x", "inputs")
            .unwrap();
        assert_eq!(got[0].sample_shape(), &[3]);
        let e = a
            .to_arrays()
            .unwrap()
            .resolve(&order, "fit: x", "inputs")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("1 arrays but the model has 2 inputs (`a`, `b`)"),
            "{e}"
        );
        let e = [("c", &a)]
            .to_arrays()
            .unwrap()
            .resolve(&order, "x", "inputs")
            .unwrap_err();
        assert!(e.to_string().contains("`c`"), "{e}");
        let e = [("a", &a)]
            .to_arrays()
            .unwrap()
            .resolve(&order, "x", "inputs")
            .unwrap_err();
        assert!(e.to_string().contains("no array for `b`"), "{e}");
    }
}
