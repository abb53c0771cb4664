//! Granularities: which weights form one prunable group.
//!
//! A per-weight score array is mean-reduced over the granularity's axes (keeping them, with size 1), so
//! one reduced value is one group's score; a group mask broadcasts back onto the weight. The axes follow
//! fasterai's tables, which number them on `weight[None]` (a leading dummy axis 0): for a conv weight
//! `(out, in, kh, kw)` axis 1 is `out`, 2 is `in`, 3 is `kh`, 4 is `kw`; for a linear weight `(out, in)`
//! axis 1 is `out` and 2 is `in`.
//!
//! ```
//! use fasterai_runtime::compress::sparsify::{ConvGranularity, Granularity};
//! // One score per output filter of a (4, 3, 2, 2) conv weight.
//! let scores: Vec<f32> = (0..48).map(|i| i as f32).collect();
//! let groups = Granularity::Conv(ConvGranularity::Filter).reduce(&scores, &[4, 3, 2, 2]).unwrap();
//! assert_eq!(groups.shape, vec![4, 1, 1, 1]);
//! assert_eq!(groups.values, vec![5.5, 17.5, 29.5, 41.5]);
//! ```

use std::fmt;
use std::str::FromStr;

use crate::compress::CompressError;

/// Groups of a 2-D convolution weight `(out, in, kh, kw)`. The `Shared*` variants use the same
/// pattern in every filter (they also reduce over `out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConvGranularity {
    /// Each weight alone.
    Weight,
    /// One weight position shared by all filters.
    SharedWeight,
    /// Reduced over input channels: one group per (filter, kernel position).
    Channel,
    /// Reduced over kernel rows.
    Column,
    /// Reduced over kernel columns.
    Row,
    /// One kh×kw kernel per (filter, input channel).
    Kernel,
    /// A whole output filter (what structured pruning removes).
    Filter,
    /// Reduced over filters and input channels.
    SharedChannel,
    /// Reduced over filters and kernel rows.
    SharedColumn,
    /// Reduced over filters and kernel columns.
    SharedRow,
    /// Reduced over input channels and kernel rows.
    VerticalSlice,
    /// Reduced over input channels and kernel columns.
    HorizontalSlice,
    /// Reduced over filters, input channels and kernel rows.
    SharedVerticalSlice,
    /// Reduced over filters, input channels and kernel columns.
    SharedHorizontalSlice,
    /// One input channel across all filters (what removing an input channel removes).
    SharedKernel,
    /// The whole layer.
    Layer,
}

/// Groups of a linear weight `(out, in)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LinearGranularity {
    /// Each weight alone.
    Weight,
    /// One input neuron (a column of the weight), reduced over outputs.
    Column,
    /// One output neuron (a row of the weight), reduced over inputs.
    Row,
    /// The whole layer.
    Layer,
}

/// A granularity for a conv or a linear weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// For a conv weight `(out, in, kh, kw)`.
    Conv(ConvGranularity),
    /// For a linear weight `(out, in)`.
    Linear(LinearGranularity),
}

impl ConvGranularity {
    /// Every conv granularity, in fasterai's order.
    pub const ALL: [ConvGranularity; 16] = [
        Self::Weight,
        Self::SharedWeight,
        Self::Channel,
        Self::Column,
        Self::Row,
        Self::Kernel,
        Self::Filter,
        Self::SharedChannel,
        Self::SharedColumn,
        Self::SharedRow,
        Self::VerticalSlice,
        Self::HorizontalSlice,
        Self::SharedVerticalSlice,
        Self::SharedHorizontalSlice,
        Self::SharedKernel,
        Self::Layer,
    ];

    /// The reduced axes of `weight[None]` (fasterai's numbering: 1 = out, 2 = in, 3 = kh, 4 = kw).
    pub fn axes(self) -> &'static [usize] {
        match self {
            Self::Weight => &[0],
            Self::SharedWeight => &[1],
            Self::Channel => &[2],
            Self::Column => &[3],
            Self::Row => &[4],
            Self::Kernel => &[3, 4],
            Self::Filter => &[2, 3, 4],
            Self::SharedChannel => &[1, 2],
            Self::SharedColumn => &[1, 3],
            Self::SharedRow => &[1, 4],
            Self::VerticalSlice => &[2, 3],
            Self::HorizontalSlice => &[2, 4],
            Self::SharedVerticalSlice => &[1, 2, 3],
            Self::SharedHorizontalSlice => &[1, 2, 4],
            Self::SharedKernel => &[1, 3, 4],
            Self::Layer => &[1, 2, 3, 4],
        }
    }

    /// The snake_case name used in fasterai and in `compress!`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Weight => "weight",
            Self::SharedWeight => "shared_weight",
            Self::Channel => "channel",
            Self::Column => "column",
            Self::Row => "row",
            Self::Kernel => "kernel",
            Self::Filter => "filter",
            Self::SharedChannel => "shared_channel",
            Self::SharedColumn => "shared_column",
            Self::SharedRow => "shared_row",
            Self::VerticalSlice => "vertical_slice",
            Self::HorizontalSlice => "horizontal_slice",
            Self::SharedVerticalSlice => "shared_vertical_slice",
            Self::SharedHorizontalSlice => "shared_horizontal_slice",
            Self::SharedKernel => "shared_kernel",
            Self::Layer => "layer",
        }
    }
}

impl LinearGranularity {
    /// Every linear granularity.
    pub const ALL: [LinearGranularity; 4] = [Self::Weight, Self::Column, Self::Row, Self::Layer];

    /// The reduced axes of `weight[None]` (1 = out, 2 = in).
    pub fn axes(self) -> &'static [usize] {
        match self {
            Self::Weight => &[0],
            Self::Column => &[1],
            Self::Row => &[2],
            Self::Layer => &[1, 2],
        }
    }

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Weight => "weight",
            Self::Column => "column",
            Self::Row => "row",
            Self::Layer => "layer",
        }
    }
}

/// Scores reduced to one value per group, laid out in the weight's rank with the reduced axes set to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupScores {
    /// One score per group, row-major over [`GroupScores::shape`].
    pub values: Vec<f32>,
    /// The group shape: the weight shape with every reduced axis set to 1.
    pub shape: Vec<usize>,
}

impl GroupScores {
    /// How many weights one group holds.
    pub fn weights_per_group(&self, weight_shape: &[usize]) -> usize {
        let groups = self.values.len().max(1);
        weight_shape.iter().product::<usize>() / groups
    }
}

impl Granularity {
    /// The rank of the weights this granularity applies to (4 for conv, 2 for linear).
    pub fn rank(self) -> usize {
        match self {
            Self::Conv(_) => 4,
            Self::Linear(_) => 2,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Self::Conv(_) => "conv",
            Self::Linear(_) => "linear",
        }
    }

    /// The reduced axes of `weight[None]`, as in fasterai's tables.
    pub fn axes(self) -> &'static [usize] {
        match self {
            Self::Conv(g) => g.axes(),
            Self::Linear(g) => g.axes(),
        }
    }

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Conv(g) => g.name(),
            Self::Linear(g) => g.name(),
        }
    }

    /// Whether the weight's axis `axis` (0-based on the weight itself, not on `weight[None]`) is reduced.
    pub fn reduces(self, axis: usize) -> bool {
        self.axes().contains(&(axis + 1))
    }

    fn check_shape(self, weight_shape: &[usize]) -> Result<(), CompressError> {
        if weight_shape.len() == self.rank() {
            Ok(())
        } else {
            Err(CompressError::RankMismatch {
                what: format!("granularity `{}` for {}", self.name(), self.kind()),
                expected: match self {
                    Self::Conv(_) => "4",
                    Self::Linear(_) => "2",
                },
                shape: weight_shape.to_vec(),
            })
        }
    }

    /// The group shape for a weight of this shape: reduced axes set to 1.
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::{Granularity, LinearGranularity};
    /// let g = Granularity::Linear(LinearGranularity::Column);
    /// assert_eq!(g.group_shape(&[5, 3]).unwrap(), vec![1, 3]);
    /// ```
    pub fn group_shape(self, weight_shape: &[usize]) -> Result<Vec<usize>, CompressError> {
        self.check_shape(weight_shape)?;
        Ok(weight_shape.iter().enumerate().map(|(a, &d)| if self.reduces(a) { 1 } else { d }).collect())
    }

    /// Mean-reduces per-weight `scores` (row-major over `weight_shape`) to one score per group.
    pub fn reduce(self, scores: &[f32], weight_shape: &[usize]) -> Result<GroupScores, CompressError> {
        let shape = self.group_shape(weight_shape)?;
        check_len("scores", scores.len(), weight_shape)?;
        let groups: usize = shape.iter().product();
        let per_group = (scores.len() / groups.max(1)).max(1) as f32;
        let mut values = vec![0.0f32; groups];
        for_each_group_index(weight_shape, &shape, |w, g| values[g] += scores[w]);
        values.iter_mut().for_each(|v| *v /= per_group);
        Ok(GroupScores { values, shape })
    }

    /// Broadcasts one value per group (row-major over `group_shape`) back onto `weight_shape`.
    ///
    /// ```
    /// # use fasterai_runtime::compress::sparsify::{Granularity, LinearGranularity};
    /// let g = Granularity::Linear(LinearGranularity::Row);
    /// let mask = g.broadcast(&[1.0, 0.0], &[2, 1], &[2, 3]).unwrap();
    /// assert_eq!(mask, vec![1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    /// ```
    pub fn broadcast(
        self,
        group_values: &[f32],
        group_shape: &[usize],
        weight_shape: &[usize],
    ) -> Result<Vec<f32>, CompressError> {
        let expected = self.group_shape(weight_shape)?;
        if expected != group_shape {
            return Err(CompressError::LengthMismatch {
                what: "group shape",
                expected: expected.iter().product(),
                found: group_shape.iter().product(),
                shape: expected,
            });
        }
        check_len("group values", group_values.len(), group_shape)?;
        let mut out = vec![0.0f32; weight_shape.iter().product()];
        for_each_group_index(weight_shape, group_shape, |w, g| out[w] = group_values[g]);
        Ok(out)
    }
}

fn unknown(what: &'static str, name: &str, valid: impl Iterator<Item = &'static str>) -> CompressError {
    CompressError::UnknownName { what, name: name.to_string(), valid: valid.collect::<Vec<_>>().join(", ") }
}

impl FromStr for ConvGranularity {
    type Err = CompressError;
    /// Reads a snake_case name; an unknown one (such as fasterai's README's `vector`) lists the valid names.
    fn from_str(name: &str) -> Result<Self, CompressError> {
        Self::ALL
            .into_iter()
            .find(|g| g.name() == name)
            .ok_or_else(|| unknown("conv granularity", name, fasterai_vocab::GRANULARITIES.names.iter().copied()))
    }
}

impl FromStr for LinearGranularity {
    type Err = CompressError;
    /// Reads a snake_case name; an unknown one lists the valid names.
    fn from_str(name: &str) -> Result<Self, CompressError> {
        Self::ALL
            .into_iter()
            .find(|g| g.name() == name)
            .ok_or_else(|| unknown("linear granularity", name, fasterai_vocab::LINEAR_GRANULARITIES.names.iter().copied()))
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub(crate) fn check_len(what: &'static str, found: usize, shape: &[usize]) -> Result<(), CompressError> {
    let expected: usize = shape.iter().product();
    if found == expected {
        Ok(())
    } else {
        Err(CompressError::LengthMismatch { what, expected, found, shape: shape.to_vec() })
    }
}

/// Calls `f(weight_index, group_index)` for every weight, where the group index is the weight's
/// multi-index with reduced axes (size 1 in `group_shape`) set to 0, row-major over `group_shape`.
fn for_each_group_index(weight_shape: &[usize], group_shape: &[usize], mut f: impl FnMut(usize, usize)) {
    let rank = weight_shape.len();
    // Row-major strides of the group array, 0 on reduced axes.
    let mut strides = vec![0usize; rank];
    let mut acc = 1;
    for a in (0..rank).rev() {
        strides[a] = if group_shape[a] == 1 { 0 } else { acc };
        acc *= group_shape[a];
    }
    let mut idx = vec![0usize; rank];
    let total: usize = weight_shape.iter().product();
    for w in 0..total {
        let g: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
        f(w, g);
        for a in (0..rank).rev() {
            idx[a] += 1;
            if idx[a] < weight_shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_group_shapes_on_a_4_3_2_2_weight() {
        use ConvGranularity::*;
        let shape = [4, 3, 2, 2];
        let want: [(ConvGranularity, [usize; 4]); 16] = [
            (Weight, [4, 3, 2, 2]),
            (SharedWeight, [1, 3, 2, 2]),
            (Channel, [4, 1, 2, 2]),
            (Column, [4, 3, 1, 2]),
            (Row, [4, 3, 2, 1]),
            (Kernel, [4, 3, 1, 1]),
            (Filter, [4, 1, 1, 1]),
            (SharedChannel, [1, 1, 2, 2]),
            (SharedColumn, [1, 3, 1, 2]),
            (SharedRow, [1, 3, 2, 1]),
            (VerticalSlice, [4, 1, 1, 2]),
            (HorizontalSlice, [4, 1, 2, 1]),
            (SharedVerticalSlice, [1, 1, 1, 2]),
            (SharedHorizontalSlice, [1, 1, 2, 1]),
            (SharedKernel, [1, 3, 1, 1]),
            (Layer, [1, 1, 1, 1]),
        ];
        assert_eq!(want.len(), ConvGranularity::ALL.len());
        let scores = vec![1.0; 48];
        for (g, s) in want {
            let g = Granularity::Conv(g);
            assert_eq!(g.group_shape(&shape).unwrap(), s, "{g}");
            let r = g.reduce(&scores, &shape).unwrap();
            assert_eq!(r.values.len(), s.iter().product::<usize>(), "{g}");
            assert!(r.values.iter().all(|&v| v == 1.0), "mean of ones is one for {g}");
            assert_eq!(r.weights_per_group(&shape) * r.values.len(), 48);
        }
    }

    #[test]
    fn linear_group_shapes_on_a_5_3_weight() {
        use LinearGranularity::*;
        for (g, s) in [(Weight, [5, 3]), (Column, [1, 3]), (Row, [5, 1]), (Layer, [1, 1])] {
            assert_eq!(Granularity::Linear(g).group_shape(&[5, 3]).unwrap(), s);
        }
    }

    #[test]
    fn reductions_checked_by_hand() {
        // Weight (2, 2, 1, 2), value = flat index: filter 0 = [0, 1, 2, 3], filter 1 = [4, 5, 6, 7].
        let scores: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let shape = [2, 2, 1, 2];
        let r = |g| Granularity::Conv(g).reduce(&scores, &shape).unwrap().values;
        assert_eq!(r(ConvGranularity::Filter), [1.5, 5.5]);
        // Kernel: (filter, in) pairs [0,1], [2,3], [4,5], [6,7].
        assert_eq!(r(ConvGranularity::Kernel), [0.5, 2.5, 4.5, 6.5]);
        // Shared kernel: input channel 0 = {0,1,4,5}, input channel 1 = {2,3,6,7}.
        assert_eq!(r(ConvGranularity::SharedKernel), [2.5, 4.5]);
        // Channel (over in): (f0,kw0) = {0,2}, (f0,kw1) = {1,3}, (f1,kw0) = {4,6}, (f1,kw1) = {5,7}.
        assert_eq!(r(ConvGranularity::Channel), [1.0, 2.0, 5.0, 6.0]);
        assert_eq!(r(ConvGranularity::Layer), [3.5]);
        // Linear (2, 3) = [[0,1,2],[3,4,5]]: columns 1.5, 2.5, 3.5; rows 1, 4.
        let lin: Vec<f32> = (0..6).map(|i| i as f32).collect();
        let col = Granularity::Linear(LinearGranularity::Column).reduce(&lin, &[2, 3]).unwrap();
        assert_eq!(col.values, [1.5, 2.5, 3.5]);
        let row = Granularity::Linear(LinearGranularity::Row).reduce(&lin, &[2, 3]).unwrap();
        assert_eq!(row.values, [1.0, 4.0]);
    }

    #[test]
    fn broadcast_inverts_reduce_on_group_constant_arrays() {
        let shape = [4, 3, 2, 2];
        for g in ConvGranularity::ALL.map(Granularity::Conv) {
            let gs = g.group_shape(&shape).unwrap();
            let groups: Vec<f32> = (0..gs.iter().product::<usize>()).map(|i| i as f32).collect();
            let full = g.broadcast(&groups, &gs, &shape).unwrap();
            assert_eq!(g.reduce(&full, &shape).unwrap().values, groups, "{g}");
        }
        // Filter mask [1, 0]: the second filter's 4 weights are zero.
        let g = Granularity::Conv(ConvGranularity::Filter);
        assert_eq!(g.broadcast(&[1.0, 0.0], &[2, 1, 1, 1], &[2, 1, 2, 2]).unwrap(), [1., 1., 1., 1., 0., 0., 0., 0.]);
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for g in ConvGranularity::ALL {
            assert_eq!(g.name().parse::<ConvGranularity>().unwrap(), g);
        }
        for g in LinearGranularity::ALL {
            assert_eq!(g.name().parse::<LinearGranularity>().unwrap(), g);
        }
        let err = "vector".parse::<ConvGranularity>().unwrap_err().to_string();
        assert!(err.contains("`vector`") && err.contains("shared_horizontal_slice"), "{err}");
        let err = "filter".parse::<LinearGranularity>().unwrap_err().to_string();
        assert!(err.contains("weight, column, row, layer"), "{err}");
    }

    #[test]
    fn wrong_rank_or_length_is_an_error() {
        let conv = Granularity::Conv(ConvGranularity::Filter);
        assert!(matches!(conv.group_shape(&[5, 3]), Err(CompressError::RankMismatch { expected: "4", .. })));
        assert!(matches!(conv.reduce(&[0.0; 3], &[1, 1, 2, 2]), Err(CompressError::LengthMismatch { found: 3, .. })));
        assert!(conv.broadcast(&[1.0], &[1, 1, 1, 1], &[2, 1, 1, 1]).is_err());
        assert_eq!(conv.to_string(), "filter");
    }
}
