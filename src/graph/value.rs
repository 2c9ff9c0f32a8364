//! A batch flowing through the graph: a Burn tensor whose rank is known only at run time.

use crate::layers::MergeOp;
use burn::tensor::{Device, Tensor, TensorData};

/// Where the channels of a spatial value stand: last as users and Keras see them
/// (`[batch, h, w, c]`), or first as Burn's convolutions want them (`[batch, c, h, w]`).
/// Rank-2 values are the same in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[batch, ..., channels]`.
    ChannelsLast,
    /// `[batch, channels, ...]`.
    ChannelsFirst,
}

/// A batched tensor of rank 2 to 5 (batch included).
///
/// Layers are configured from shapes known when the model is built, but Burn's tensors carry
/// their rank in the type; `Value` is the bridge. Elementwise operations keep the rank;
/// [`Value::reshape`] moves between ranks.
#[derive(Clone, Debug)]
pub enum Value {
    /// `[batch, d1]`
    R2(Tensor<2>),
    /// `[batch, d1, d2]`
    R3(Tensor<3>),
    /// `[batch, d1, d2, d3]`
    R4(Tensor<4>),
    /// `[batch, d1, d2, d3, d4]`
    R5(Tensor<5>),
}

/// Applies a rank-generic expression to whichever tensor a [`Value`] holds.
macro_rules! map_value {
    ($value:expr, $t:ident => $body:expr) => {
        match $value {
            $crate::graph::Value::R2($t) => $crate::graph::Value::R2($body),
            $crate::graph::Value::R3($t) => $crate::graph::Value::R3($body),
            $crate::graph::Value::R4($t) => $crate::graph::Value::R4($body),
            $crate::graph::Value::R5($t) => $crate::graph::Value::R5($body),
        }
    };
}
pub(crate) use map_value;

impl Value {
    /// A value from host data of dims `dims` (batch first, rank 2 to 5), on `device`.
    pub(crate) fn from_host(
        values: Vec<f32>,
        dims: &[usize],
        device: &Device,
    ) -> crate::Result<Value> {
        let (batch, features) = match dims {
            [batch, rest @ ..] if values.len() == dims.iter().product::<usize>() => {
                (*batch, rest.iter().product())
            }
            _ => return Err(reshape_error(values.len(), dims)),
        };
        let flat = Tensor::<2>::from_data(TensorData::new(values, [batch, features]), device);
        Value::R2(flat).reshape(dims)
    }

    /// The full dimensions, batch first.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Value::R2(t) => t.dims().to_vec(),
            Value::R3(t) => t.dims().to_vec(),
            Value::R4(t) => t.dims().to_vec(),
            Value::R5(t) => t.dims().to_vec(),
        }
    }

    /// The batch size.
    pub fn batch(&self) -> usize {
        self.dims()[0]
    }

    /// The device the values are on.
    pub fn device(&self) -> Device {
        match self {
            Value::R2(t) => t.device(),
            Value::R3(t) => t.device(),
            Value::R4(t) => t.device(),
            Value::R5(t) => t.device(),
        }
    }

    /// The tensor, when it has rank `D` (batch included); an error giving its dims otherwise.
    ///
    /// ```
    /// use burn::tensor::Tensor;
    /// use kiln::Value;
    /// let device = kiln::Device::cpu()?.as_burn().clone();
    /// let v = Value::from(Tensor::<2>::ones([4, 3], &device));
    /// let t: Tensor<2> = v.clone().into_tensor()?;
    /// assert_eq!(t.dims(), [4, 3]);
    /// assert!(v.into_tensor::<3>().is_err());
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn into_tensor<const D: usize>(self) -> crate::Result<Tensor<D>> {
        let dims = self.dims();
        if dims.len() != D {
            return Err(crate::Error::Shape {
                layer: "value".into(),
                expected: format!("a rank-{D} tensor (batch included)"),
                received: format!("{dims:?}"),
            });
        }
        let flat = self.flatten();
        let mut fixed = [0; D];
        fixed.copy_from_slice(&dims);
        Ok(flat.reshape(fixed))
    }

    /// The same values with new dimensions (batch included, rank 2 to 5); an error naming both
    /// shapes when `dims` has another rank or another number of elements.
    ///
    /// ```
    /// use burn::tensor::Tensor;
    /// use kiln::Value;
    /// let device = kiln::Device::cpu()?.as_burn().clone();
    /// let v = Value::from(Tensor::<2>::ones([4, 6], &device));
    /// assert_eq!(v.clone().reshape(&[4, 2, 3])?.dims(), [4, 2, 3]);
    /// assert!(v.clone().reshape(&[4, 5]).is_err());
    /// assert!(v.reshape(&[24]).is_err());
    /// # Ok::<(), kiln::Error>(())
    /// ```
    pub fn reshape(self, dims: &[usize]) -> crate::Result<Value> {
        let elements: usize = self.dims().iter().product();
        if dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) != Some(elements) {
            return Err(reshape_error(elements, dims));
        }
        let flat: Tensor<2> = match self {
            Value::R2(t) => t,
            Value::R3(t) => t.flatten(1, 2),
            Value::R4(t) => t.flatten(1, 3),
            Value::R5(t) => t.flatten(1, 4),
        };
        Ok(match *dims {
            [b, a] => Value::R2(flat.reshape([b, a])),
            [b, a, c] => Value::R3(flat.reshape([b, a, c])),
            [b, a, c, d] => Value::R4(flat.reshape([b, a, c, d])),
            [b, a, c, d, e] => Value::R5(flat.reshape([b, a, c, d, e])),
            _ => return Err(reshape_error(elements, dims)),
        })
    }

    /// The same values moved from layout `from` to layout `to` (a permutation of axes).
    pub(crate) fn relayout(self, from: Layout, to: Layout) -> Value {
        if from == to {
            return self;
        }
        let first = to == Layout::ChannelsFirst;
        match self {
            Value::R2(t) => Value::R2(t),
            Value::R3(t) => Value::R3(t.permute([0, 2, 1])),
            Value::R4(t) if first => Value::R4(t.permute([0, 3, 1, 2])),
            Value::R4(t) => Value::R4(t.permute([0, 2, 3, 1])),
            Value::R5(t) if first => Value::R5(t.permute([0, 4, 1, 2, 3])),
            Value::R5(t) => Value::R5(t.permute([0, 2, 3, 4, 1])),
        }
    }

    /// `self` and `other` (same dims) combined elementwise by `op`; an error when the ranks
    /// differ (the graph checks shapes when the model is built).
    pub(crate) fn combine(self, other: Value, op: MergeOp) -> crate::Result<Value> {
        macro_rules! apply {
            ($a:ident, $b:ident) => {
                match op {
                    MergeOp::Add | MergeOp::Average => $a + $b,
                    MergeOp::Subtract => $a - $b,
                    MergeOp::Multiply => $a * $b,
                    MergeOp::Maximum => $a.max_pair($b),
                    MergeOp::Minimum => $a.min_pair($b),
                }
            };
        }
        Ok(match (self, other) {
            (Value::R2(a), Value::R2(b)) => Value::R2(apply!(a, b)),
            (Value::R3(a), Value::R3(b)) => Value::R3(apply!(a, b)),
            (Value::R4(a), Value::R4(b)) => Value::R4(apply!(a, b)),
            (Value::R5(a), Value::R5(b)) => Value::R5(apply!(a, b)),
            (a, b) => return Err(ranks_error("merged", &[a, b])),
        })
    }

    /// `values` (same rank) joined along batched axis `axis`; an error when `values` is empty
    /// or the ranks differ (the graph checks both when the model is built).
    pub(crate) fn cat(values: Vec<Value>, axis: usize) -> crate::Result<Value> {
        macro_rules! join {
            ($variant:ident) => {{
                let mut tensors = Vec::with_capacity(values.len());
                for v in &values {
                    match v {
                        Value::$variant(t) => tensors.push(t.clone()),
                        _ => return Err(ranks_error("joined", &values)),
                    }
                }
                Value::$variant(Tensor::cat(tensors, axis))
            }};
        }
        Ok(match values.first() {
            None => return Err(ranks_error("joined", &values)),
            Some(Value::R2(_)) => join!(R2),
            Some(Value::R3(_)) => join!(R3),
            Some(Value::R4(_)) => join!(R4),
            Some(Value::R5(_)) => join!(R5),
        })
    }

    /// An error for a layer given `values` of ranks it cannot `action` (merge, join…) together.
    pub(crate) fn rank_mismatch(layer: &str, expected: &str, value: &Value) -> crate::Error {
        crate::Error::Shape {
            layer: layer.into(),
            expected: expected.into(),
            received: format!("{:?}", value.dims()),
        }
    }

    /// The values as `[batch, features]`.
    pub fn flatten(self) -> Tensor<2> {
        match self {
            Value::R2(t) => t,
            Value::R3(t) => t.flatten(1, 2),
            Value::R4(t) => t.flatten(1, 3),
            Value::R5(t) => t.flatten(1, 4),
        }
    }
}

/// Why `values` cannot be `action` (merged, joined) together.
fn ranks_error(action: &str, values: &[Value]) -> crate::Error {
    let dims: Vec<Vec<usize>> = values.iter().map(Value::dims).collect();
    crate::Error::Shape {
        layer: "value".into(),
        expected: format!("one or more values of one rank to be {action}"),
        received: format!("{dims:?}"),
    }
}

/// Why `elements` values cannot take dims `dims`.
fn reshape_error(elements: usize, dims: &[usize]) -> crate::Error {
    crate::Error::Shape {
        layer: "value".into(),
        expected: "dims of rank 2 to 5 (batch included) holding as many values as the tensor"
            .into(),
        received: format!("dims {dims:?} for {elements} values"),
    }
}

macro_rules! value_from {
    ($($d:literal => $variant:ident),*) => {$(
        impl From<Tensor<$d>> for Value {
            fn from(t: Tensor<$d>) -> Value {
                Value::$variant(t)
            }
        }
    )*};
}
value_from!(2 => R2, 3 => R3, 4 => R4, 5 => R5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_round_trips_through_ranks() {
        let device = crate::backend::test_device();
        let t = Tensor::<2>::from_floats([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], &device);
        let v = Value::R2(t).reshape(&[1, 2, 3]).unwrap();
        assert_eq!(v.dims(), vec![1, 2, 3]);
        let back = v.reshape(&[1, 3, 2]).unwrap().flatten();
        let values: Vec<f32> = back.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn relayout_round_trips_and_moves_channels() {
        let device = crate::backend::test_device();
        // one 2x2 image with 3 channels, channel c of pixel p holding 10 p + c
        let values: Vec<f32> = (0..4)
            .flat_map(|p| (0..3).map(move |c| (10 * p + c) as f32))
            .collect();
        let v = Value::from_host(values.clone(), &[1, 2, 2, 3], &device).unwrap();
        let first = v.relayout(Layout::ChannelsLast, Layout::ChannelsFirst);
        assert_eq!(first.dims(), vec![1, 3, 2, 2]);
        let got: Vec<f32> = first
            .clone()
            .flatten()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(&got[..4], &[0.0, 10.0, 20.0, 30.0]);
        let back = first.relayout(Layout::ChannelsFirst, Layout::ChannelsLast);
        assert_eq!(
            back.flatten().into_data().try_to_vec::<f32>().unwrap(),
            values
        );
    }

    #[test]
    fn map_value_keeps_the_rank() {
        let device = crate::backend::test_device();
        let v = Value::R3(Tensor::<3>::ones([2, 3, 4], &device));
        let doubled = map_value!(v, t => t.mul_scalar(2.0));
        assert!(matches!(doubled, Value::R3(_)));
        assert_eq!(doubled.dims(), vec![2, 3, 4]);
    }
}
