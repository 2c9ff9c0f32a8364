//! A weight matrix packed once into panels of 32 columns, and its products with AVX-512.
//!
//! The `gemm` crate packs the right-hand matrix again on every call: for `predict` on 32 MNIST
//! samples, the dense model's 784 × 512 kernel (1.6 MB) is copied for 12.8 million
//! multiply-adds, and one thread ran them at 35 GFLOP/s of fused multiply-adds where the
//! processor does about 80. A layer's weight changes only in training, so `predict` can pack it
//! once ([`super::flex_kept`]) and multiply straight from the panels.
//!
//! [`Packed`] holds `[inner, width]` as `⌈width / 32⌉` panels, each `inner` rows of 32 values
//! (the last panel zero-padded), 64-byte aligned. A tile of up to six rows of the left matrix
//! times up to four panels sums its products over `inner` in up to 24 AVX-512 registers, each
//! load of a panel serving every row of the tile, then adds the bias, applies ReLU and writes
//! its valid columns once. Processors without AVX-512 get no packed form: their callers keep
//! multiplying with gemm.

use crate::backend::{Shared, for_each_part};
use std::mem::MaybeUninit;
use std::ops::Range;

/// Columns per panel: two AVX-512 vectors.
pub(super) const PANEL: usize = 32;

/// Values per vector.
const LANES: usize = 16;

/// One AVX-512 vector's worth of values, aligned as one cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; LANES]);

/// `[inner, width]` in panels of [`PANEL`] columns, each `inner` rows long.
pub(super) struct Packed {
    inner: usize,
    width: usize,
    lines: Vec<Line>,
}

impl Packed {
    /// `w`, `[inner, width]` row-major, in panels, where the processor has AVX-512 (else
    /// `None`: nothing here could multiply it).
    ///
    /// # Panics
    /// When `w` holds fewer than `inner × width` values.
    pub(super) fn new(w: &[f32], inner: usize, width: usize) -> Option<Self> {
        if !avx512() {
            return None;
        }
        Some(Self::pack(w, inner, width))
    }

    fn pack(w: &[f32], inner: usize, width: usize) -> Self {
        assert!(w.len() >= inner * width, "Packed: the matrix is too short");
        let panels = width.div_ceil(PANEL);
        let per_row = PANEL / LANES;
        let mut lines = vec![Line([0.0; LANES]); panels * inner * per_row];
        if inner == 0 {
            return Self {
                inner,
                width,
                lines,
            };
        }
        for (p, panel) in lines.chunks_exact_mut(inner * per_row).enumerate() {
            let first = p * PANEL;
            let count = (width - first).min(PANEL);
            for (i, row) in panel.chunks_exact_mut(per_row).enumerate() {
                let src = &w[i * width + first..][..count];
                for (c, v) in src.iter().enumerate() {
                    row[c / LANES].0[c % LANES] = *v;
                }
            }
        }
        Self {
            inner,
            width,
            lines,
        }
    }

    /// The number of panels.
    pub(super) fn panels(&self) -> usize {
        self.width.div_ceil(PANEL)
    }

    /// The bytes the panels take.
    pub(super) fn bytes(&self) -> usize {
        self.lines.len() * std::mem::size_of::<Line>()
    }

    /// `out = relu?(bias + x · w)` for the columns of `panels` (each [`PANEL`] wide, the last
    /// cut at `width`): `x` holds `rows` rows of `inner` values `x_stride` apart, `out` the
    /// rows of the full output `width` apart, whose columns outside `panels` are left alone.
    ///
    /// # Panics
    /// When a slice is shorter than its shape says, or `panels` runs past the last panel.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn multiply(
        &self,
        x: &[f32],
        rows: usize,
        x_stride: usize,
        panels: Range<usize>,
        bias: &[f32],
        relu: bool,
        out: &mut [MaybeUninit<f32>],
    ) {
        let whole = [Segment::whole(self.inner)];
        self.multiply_segments(x, rows, x_stride, &whole, panels, bias, relu, out);
    }

    /// [`Packed::multiply`] where each row of `x` is its `segments`, in order, read from
    /// `x_stride · r` on: a convolution's patches read in place from the image (rows may
    /// overlap), rather than copied out (im2col).
    ///
    /// # Panics
    /// When the segments' lengths do not add up to `inner`, when a slice is shorter than its
    /// shape says, or `panels` runs past the last panel.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn multiply_segments(
        &self,
        x: &[f32],
        rows: usize,
        x_stride: usize,
        segments: &[Segment],
        panels: Range<usize>,
        bias: &[f32],
        relu: bool,
        out: &mut [MaybeUninit<f32>],
    ) {
        let operands = self.check(x, rows, x_stride, segments, &panels, bias, relu, out);
        // SAFETY: `check` keeps every read and write inside the slices.
        unsafe { self.tiles(&operands, panels, out.as_mut_ptr().cast()) }
    }

    /// [`Packed::multiply`] of every panel, the panels split into `parts` runs, each on its own
    /// thread ([`for_each_part`]): for few rows, where each thread then reads only its share of `w`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn multiply_by_panels(
        &self,
        x: &[f32],
        rows: usize,
        x_stride: usize,
        bias: &[f32],
        relu: bool,
        out: &mut [MaybeUninit<f32>],
        parts: usize,
    ) {
        let panels = self.panels();
        let whole = [Segment::whole(self.inner)];
        let operands = self.check(x, rows, x_stride, &whole, &(0..panels), bias, relu, out);
        let per_part = panels.div_ceil(parts.max(1));
        let out = Shared::new(out.as_mut_ptr().cast::<f32>());
        let part = |p: usize| {
            let run = p * per_part..((p + 1) * per_part).min(panels);
            // SAFETY: as in `multiply`; the runs of panels are disjoint, so no two threads
            // write the same value.
            unsafe { self.tiles(&operands, run, out.get()) }
        };
        for_each_part(panels.div_ceil(per_part), part);
    }

    /// The operands, once every slice is checked to hold what [`Packed::multiply_segments`]'s
    /// shapes say.
    ///
    /// # Panics
    /// When one does not.
    #[allow(clippy::too_many_arguments)]
    fn check<'a>(
        &self,
        x: &'a [f32],
        rows: usize,
        x_stride: usize,
        segments: &'a [Segment],
        panels: &Range<usize>,
        bias: &'a [f32],
        relu: bool,
        out: &[MaybeUninit<f32>],
    ) -> Operands<'a> {
        let width = self.width;
        let inner: usize = segments.iter().map(|s| s.len).sum();
        let reach = segments.iter().map(|s| s.offset + s.len).max().unwrap_or(0);
        assert!(
            inner == self.inner
                && panels.end <= self.panels()
                && bias.len() >= width
                && out.len() >= rows * width
                && (rows == 0 || x.len() >= (rows - 1) * x_stride + reach),
            "Packed::multiply: a slice is too short for its shape"
        );
        Operands {
            x,
            rows,
            x_stride,
            segments,
            bias,
            relu,
        }
    }

    /// [`Packed::multiply_segments`] for the columns of `panels`, writing through a pointer, so
    /// that threads can write disjoint columns of the same rows.
    ///
    /// # Safety
    /// `out` must be valid for writes of `rows` rows of `width` values, and the operands must
    /// have passed [`Packed::check`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn tiles(&self, operands: &Operands, panels: Range<usize>, out: *mut f32) {
        let Operands {
            x,
            rows,
            x_stride,
            segments,
            bias,
            relu,
        } = *operands;
        // Blocks of rows times groups of panels, so that a group stays in the core's L2
        // cache for every tile of the block, and the whole of `w` is read from farther once
        // per block rather than once per tile. A block of one tile reuses nothing: its group
        // is every panel, in tiles as wide as its rows allow.
        let mut block = 0;
        while block < rows {
            let block_end = (block + BLOCK_ROWS).min(rows);
            let group = if block_end - block <= MAX_ROWS {
                panels.len()
            } else {
                self.group_panels()
            };
            let mut first = panels.start;
            while first < panels.end {
                let group_end = (first + group).min(panels.end);
                let mut r = block;
                while r < block_end {
                    let tile_rows = (block_end - r).min(MAX_ROWS);
                    let mut p = first;
                    while p < group_end {
                        let tile_panels = (group_end - p).min(most_panels(tile_rows));
                        let tile = Tile {
                            // SAFETY: row r exists (r < rows), panel p exists (p < panels.end)
                            x: unsafe { x.as_ptr().add(r * x_stride) },
                            x_stride,
                            segments,
                            inner: self.inner,
                            lines: unsafe { self.lines.as_ptr().add(p * self.inner * 2) },
                            bias: unsafe { bias.as_ptr().add(p * PANEL) },
                            out: unsafe { out.add(r * self.width + p * PANEL) },
                            out_stride: self.width,
                            columns: self.width - p * PANEL,
                            relu,
                        };
                        // SAFETY: the tile's rows and panels exist, as above; a `Packed` exists
                        // only where the processor has AVX-512.
                        unsafe { tile.run(tile_rows, tile_panels) };
                        p += tile_panels;
                    }
                    r += tile_rows;
                }
                first = group_end;
            }
            block = block_end;
        }
    }

    /// How many panels a group of [`Packed::tiles`] takes: as many as fit in
    /// [`GROUP_BYTES`], an even number (tiles of six rows take two panels), at least two.
    fn group_panels(&self) -> usize {
        let panel_bytes = (self.inner * PANEL * 4).max(1);
        ((GROUP_BYTES / panel_bytes) & !1).max(2)
    }

    /// No `Packed` is made on other processors.
    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn tiles(&self, _: &Operands, _: Range<usize>, _: *mut f32) {
        unreachable!("a Packed matrix exists only where the processor has AVX-512")
    }
}

/// A run of `len` consecutive values of a row of the left matrix, `offset` values from the
/// row's start. A row's segments, in order, are its values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Segment {
    pub(super) offset: usize,
    pub(super) len: usize,
}

impl Segment {
    /// A row of `len` values, as one segment.
    pub(super) fn whole(len: usize) -> Self {
        Self { offset: 0, len }
    }
}

/// The operands of a product, checked: `rows` rows of `x`, `x_stride` apart, each made of
/// `segments`; the bias; ReLU or not.
#[derive(Clone, Copy)]
struct Operands<'a> {
    x: &'a [f32],
    rows: usize,
    x_stride: usize,
    segments: &'a [Segment],
    bias: &'a [f32],
    relu: bool,
}

/// How many rows of a panel ahead a tile of one or two rows prefetches.
const PREFETCH: usize = 8;

/// The most rows in a tile.
const MAX_ROWS: usize = 6;

/// Rows per block of [`Packed::tiles`]: eight tiles of six rows, whose values (150 KB for the
/// MNIST dense model's 784 inputs) stay in L2 cache beside a group of panels.
const BLOCK_ROWS: usize = 8 * MAX_ROWS;

/// The bytes of a group of panels in [`Packed::tiles`], read by every tile of a block of rows:
/// with a block's rows, well within a core's L2 cache (1 MiB on AMD's Zen 4, 2 MiB on Intel's
/// Sapphire Rapids).
const GROUP_BYTES: usize = 256 << 10;

/// The most panels a tile of `rows` rows takes: as many as keep its sums within 24 registers.
fn most_panels(rows: usize) -> usize {
    match rows {
        1..=3 => 4,
        4 => 3,
        _ => 2,
    }
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// A tile's operands: its first row of `x` (whose segments start from it), first panel, first
/// bias value and first output value, and how many output columns from its first are valid.
#[cfg(target_arch = "x86_64")]
struct Tile<'a> {
    x: *const f32,
    x_stride: usize,
    segments: &'a [Segment],
    inner: usize,
    lines: *const Line,
    bias: *const f32,
    out: *mut f32,
    out_stride: usize,
    columns: usize,
    relu: bool,
}

#[cfg(target_arch = "x86_64")]
impl Tile<'_> {
    /// Dispatches to the kernel for `rows` rows and `panels` panels.
    ///
    /// # Safety
    /// As [`Tile::kernel`].
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn run(&self, rows: usize, panels: usize) {
        // SAFETY: the caller's promise.
        unsafe {
            match (rows, panels) {
                (1, 1) => self.kernel::<1, 2>(),
                (1, 2) => self.kernel::<1, 4>(),
                (1, 3) => self.kernel::<1, 6>(),
                (1, _) => self.kernel::<1, 8>(),
                (2, 1) => self.kernel::<2, 2>(),
                (2, 2) => self.kernel::<2, 4>(),
                (2, 3) => self.kernel::<2, 6>(),
                (2, _) => self.kernel::<2, 8>(),
                (3, 1) => self.kernel::<3, 2>(),
                (3, 2) => self.kernel::<3, 4>(),
                (3, 3) => self.kernel::<3, 6>(),
                (3, _) => self.kernel::<3, 8>(),
                (4, 1) => self.kernel::<4, 2>(),
                (4, 2) => self.kernel::<4, 4>(),
                (4, _) => self.kernel::<4, 6>(),
                (5, 1) => self.kernel::<5, 2>(),
                (5, _) => self.kernel::<5, 4>(),
                (_, 1) => self.kernel::<6, 2>(),
                (_, _) => self.kernel::<6, 4>(),
            }
        }
    }

    /// `R` rows times `V / 2` panels: `V` vectors of sums per row, in registers.
    ///
    /// # Safety
    /// The processor must have AVX-512F and FMA; `x` must hold `R` rows of segments, `lines`
    /// `V / 2` panels, `bias` the valid columns from the first and `out` `R` rows of them,
    /// valid for writes.
    #[target_feature(enable = "avx512f,fma")]
    #[allow(clippy::needless_range_loop)] // `r` and `v` index the sums and the loaded vectors
    unsafe fn kernel<const R: usize, const V: usize>(&self) {
        use std::arch::x86_64::*;
        let inner = self.inner;
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        // SAFETY (every access below): the caller's promise; panel `v / 2` starts
        // `v / 2 · inner · 2` lines after the first, and row `i` of it is its lines 2i, 2i+1.
        let mut starts: [*const Line; V] =
            std::array::from_fn(|v| unsafe { self.lines.add((v / 2) * inner * 2 + v % 2) });
        for segment in self.segments {
            let x = unsafe { self.x.add(segment.offset) };
            for i in 0..segment.len {
                if R <= 2 {
                    // one or two rows read a panel's line per two multiply-adds: fetch ahead
                    for v in (0..V).step_by(2) {
                        let ahead = starts[v].wrapping_add((i + PREFETCH) * 2);
                        _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                    }
                }
                let b: [__m512; V] =
                    std::array::from_fn(|v| unsafe { _mm512_load_ps(starts[v].add(i * 2).cast()) });
                for r in 0..R {
                    let a = _mm512_set1_ps(unsafe { *x.add(r * self.x_stride + i) });
                    for v in 0..V {
                        acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
                    }
                }
            }
            starts = starts.map(|s| unsafe { s.add(segment.len * 2) });
        }
        let zero = _mm512_setzero_ps();
        for v in 0..V {
            let valid = self.columns.saturating_sub(v * LANES).min(LANES);
            if valid == 0 {
                break;
            }
            let mask: __mmask16 = if valid == LANES {
                !0
            } else {
                (1u16 << valid) - 1
            };
            let bias = unsafe { _mm512_maskz_loadu_ps(mask, self.bias.add(v * LANES)) };
            for r in 0..R {
                let mut sum = _mm512_add_ps(acc[r][v], bias);
                if self.relu {
                    // NaN stays NaN: `max` gives its second operand when either is NaN
                    sum = _mm512_max_ps(zero, sum);
                }
                unsafe {
                    let at = self.out.add(r * self.out_stride + v * LANES);
                    _mm512_mask_storeu_ps(at, mask, sum);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic, irregular matrix.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                ((i.wrapping_mul(2654435761).wrapping_add(seed) >> 16) % 97) as f32 / 48.0 - 1.0
            })
            .collect()
    }

    /// Panics unless `got` is `want` within f32 rounding of sums of a few hundred terms.
    fn assert_close(got: &[f32], want: &[f32], case: &str) {
        assert_within(got, want, 1e-5, case);
    }

    /// Panics unless `got` is `want` within `tolerance` (relative, above 1).
    fn assert_within(got: &[f32], want: &[f32], tolerance: f32, case: &str) {
        assert_eq!(got.len(), want.len(), "{case}");
        for (j, (g, e)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - e).abs() <= tolerance * (1.0 + e.abs()),
                "{case}, value {j}: {g} against {e}"
            );
        }
    }

    /// `out` as memory to write.
    fn uninit(out: &mut [f32]) -> &mut [MaybeUninit<f32>] {
        // SAFETY: `MaybeUninit<f32>` has the layout of `f32`, and every f32 is a valid value.
        unsafe { &mut *(out as *mut [f32] as *mut [MaybeUninit<f32>]) }
    }

    fn by_hand(
        x: &[f32],
        rows: usize,
        inner: usize,
        w: &[f32],
        width: usize,
        bias: &[f32],
        relu: bool,
    ) -> Vec<f32> {
        let mut out = vec![0.0f64; rows * width];
        for r in 0..rows {
            for c in 0..width {
                let mut s = bias[c] as f64;
                for i in 0..inner {
                    s += x[r * inner + i] as f64 * w[i * width + c] as f64;
                }
                out[r * width + c] = if relu { s.max(0.0) } else { s };
            }
        }
        out.into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn products_match_sums_by_hand_for_every_tile_shape() {
        if !avx512() {
            return;
        }
        for rows in [1, 2, 3, 4, 5, 6, 7, 13, 32] {
            for (inner, width) in [
                (1, 1),
                (7, 10),
                (33, 31),
                (20, 32),
                (9, 33),
                (64, 100),
                (50, 160),
            ] {
                let (x, w, bias) = (
                    values(rows * inner, 1),
                    values(inner * width, 2),
                    values(width, 3),
                );
                let packed = Packed::new(&w, inner, width).unwrap();
                for relu in [false, true] {
                    let want = by_hand(&x, rows, inner, &w, width, &bias, relu);
                    let mut out = vec![f32::NAN; rows * width];
                    packed.multiply(
                        &x,
                        rows,
                        inner,
                        0..packed.panels(),
                        &bias,
                        relu,
                        uninit(&mut out),
                    );
                    assert_close(&out, &want, &format!("{rows}×{inner}×{width} relu {relu}"));
                }
            }
        }
    }

    #[test]
    fn blocks_of_rows_times_groups_of_panels_write_every_value() {
        if !avx512() {
            return;
        }
        // 784 inputs: groups of two panels, so five panels make groups of 2, 2 and 1
        let (inner, width) = (784, 160);
        let (w, bias) = (values(inner * width, 2), values(width, 3));
        let packed = Packed::new(&w, inner, width).unwrap();
        assert_eq!(packed.group_panels(), 2);
        for rows in [BLOCK_ROWS - 1, BLOCK_ROWS + 1, 2 * BLOCK_ROWS + 5] {
            let x = values(rows * inner, 1);
            let want = by_hand(&x, rows, inner, &w, width, &bias, true);
            let mut out = vec![f32::NAN; rows * width];
            packed.multiply(&x, rows, inner, 0..5, &bias, true, uninit(&mut out));
            // sums of 784 terms round more than the few hundred of `assert_close`
            assert_within(&out, &want, 1e-4, &format!("{rows} rows, every panel"));
            // a run of panels not starting at a group's edge
            let mut out = vec![f32::NAN; rows * width];
            packed.multiply(&x, rows, inner, 1..4, &bias, true, uninit(&mut out));
            for (r, (got, want)) in out.chunks(width).zip(want.chunks(width)).enumerate() {
                let case = format!("{rows} rows, row {r}");
                assert_within(&got[32..128], &want[32..128], 1e-4, &case);
                assert!(got[..32].iter().chain(&got[128..]).all(|v| v.is_nan()));
            }
        }
    }

    #[test]
    fn a_range_of_panels_writes_only_its_columns_and_strided_rows_are_read() {
        if !avx512() {
            return;
        }
        let (rows, inner, width) = (3, 5, 70);
        // rows of x 8 apart: the 3 values past each row must not be read into the sums
        let mut x = values(rows * 8, 4);
        for r in 0..rows {
            x[r * 8 + 5..r * 8 + 8].fill(1e9);
        }
        let dense_x: Vec<f32> = (0..rows)
            .flat_map(|r| x[r * 8..r * 8 + 5].to_vec())
            .collect();
        let (w, bias) = (values(inner * width, 5), values(width, 6));
        let packed = Packed::new(&w, inner, width).unwrap();
        let want = by_hand(&dense_x, rows, inner, &w, width, &bias, false);
        let mut out = vec![-7.0; rows * width];
        packed.multiply(&x, rows, 8, 1..2, &bias, false, uninit(&mut out));
        for r in 0..rows {
            for c in 0..width {
                let (g, e) = (out[r * width + c], want[r * width + c]);
                if (32..64).contains(&c) {
                    assert!((g - e).abs() < 1e-5, "row {r} column {c}");
                } else {
                    assert_eq!(g, -7.0, "row {r} column {c} is outside the panel");
                }
            }
        }
        assert_eq!(packed.panels(), 3);
        assert_eq!(packed.bytes(), 3 * 5 * 32 * 4);
    }

    #[test]
    fn rows_made_of_segments_read_in_place_equal_their_copies() {
        if !avx512() {
            return;
        }
        // a 3×3 convolution's patches of a [6, 9, 5] image, valid, read in place: row r is
        // output pixel r of a line, 5 values apart; its segments are the kernel's three lines
        let (w, c) = (9, 5);
        let image = values(6 * w * c, 10);
        let segments: Vec<Segment> = (0..3)
            .map(|i| Segment {
                offset: i * w * c,
                len: 3 * c,
            })
            .collect();
        let (rows, inner, width) = (w - 2, 9 * c, 40);
        let copied: Vec<f32> = (0..rows)
            .flat_map(|r| {
                segments
                    .iter()
                    .flat_map(|s| image[r * c + s.offset..][..s.len].to_vec())
                    .collect::<Vec<_>>()
            })
            .collect();
        let (kernel, bias) = (values(inner * width, 11), values(width, 12));
        let packed = Packed::new(&kernel, inner, width).unwrap();
        let want = by_hand(&copied, rows, inner, &kernel, width, &bias, true);
        let mut out = vec![f32::NAN; rows * width];
        let all = 0..packed.panels();
        packed.multiply_segments(
            &image,
            rows,
            c,
            &segments,
            all,
            &bias,
            true,
            uninit(&mut out),
        );
        assert_close(&out, &want, "segments");
        // segments that do not add up to the inner size are refused
        let short = &segments[..2];
        let refused = std::panic::catch_unwind(|| {
            let mut out = vec![0.0; rows * width];
            packed.multiply_segments(&image, rows, c, short, 0..1, &bias, true, uninit(&mut out));
        });
        assert!(refused.is_err());
    }

    #[test]
    fn panels_split_between_threads_give_the_same_values() {
        if !avx512() {
            return;
        }
        for (rows, inner, width) in [(1, 784, 512), (5, 30, 200), (32, 17, 10), (2, 0, 40)] {
            let (x, w, bias) = (
                values(rows * inner, 7),
                values(inner * width, 8),
                values(width, 9),
            );
            let packed = Packed::new(&w, inner, width).unwrap();
            let mut whole = vec![f32::NAN; rows * width];
            packed.multiply(
                &x,
                rows,
                inner,
                0..packed.panels(),
                &bias,
                true,
                uninit(&mut whole),
            );
            assert!(whole.iter().all(|v| v.is_finite()));
            for parts in [1, 2, 3, 100] {
                let mut split = vec![f32::NAN; rows * width];
                packed.multiply_by_panels(&x, rows, inner, &bias, true, uninit(&mut split), parts);
                assert_eq!(split, whole, "{rows}×{inner}×{width} in {parts} parts");
            }
        }
    }
}
