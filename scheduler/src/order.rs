//! Deterministic tile orders: the sequence in which the items of a stage *start*.
//!
//! An order is a pure function of the grid and its parameters, so the same frame
//! always enumerates tiles the same way; the stage's shared cursor then starts items
//! exactly in that sequence (see [`Stage::start_order`](crate::Stage::start_order)).

/// How to enumerate the cells of a grid.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub enum Order {
    /// Row by row from the top, left to right.
    Scanline,
    /// A square spiral outwards from the centre of the grid: ring by ring (Chebyshev
    /// distance), each ring clockwise from the left of the top row, so the middle of
    /// the image is ready first.
    CentreFirst,
    /// Nearest first to a gaze point given in fractions of the grid (0..1 each way),
    /// by Euclidean distance to each cell's centre: where the viewer looks, first.
    Foveated {
        /// Gaze point across, 0 = left edge, 1 = right edge.
        x: f32,
        /// Gaze point down, 0 = top edge, 1 = bottom edge.
        y: f32,
    },
}

/// Enumerates the `cols` x `rows` cells of a grid in `order`, as scanline indices
/// (`y * cols + x`).
///
/// ```
/// use scheduler::order::{enumerate, Order};
/// assert_eq!(enumerate(3, 1, Order::Scanline), vec![0, 1, 2]);
/// assert_eq!(enumerate(3, 3, Order::CentreFirst)[0], 4);
/// assert_eq!(enumerate(4, 4, Order::Foveated { x: 0.0, y: 0.0 })[0], 0);
/// ```
#[must_use]
pub fn enumerate(cols: u32, rows: u32, order: Order) -> Vec<u32> {
    let n = cols as usize * rows as usize;
    let mut cells: Vec<u32> = (0..n as u32).collect();
    match order {
        Order::Scanline => {}
        Order::CentreFirst => {
            // Doubled coordinates keep even-sized grids' centres on integers. Within a
            // ring of Chebyshev radius k, the position runs clockwise round the
            // perimeter from the top-left corner: top, right, bottom, left edge.
            let key = |i: u32| {
                let (x, y) = (i % cols, i / cols);
                let dx = 2 * i64::from(x) - (i64::from(cols) - 1);
                let dy = 2 * i64::from(y) - (i64::from(rows) - 1);
                let k = dx.abs().max(dy.abs());
                let along = if dy == -k {
                    dx + k
                } else if dx == k {
                    2 * k + (dy + k)
                } else if dy == k {
                    4 * k + (k - dx)
                } else {
                    6 * k + (k - dy)
                };
                (k, along, i)
            };
            cells.sort_by_key(|&i| key(i));
        }
        Order::Foveated { x, y } => {
            let gx = f64::from(x) * f64::from(cols);
            let gy = f64::from(y) * f64::from(rows);
            let key = |i: u32| {
                let cx = f64::from(i % cols) + 0.5 - gx;
                let cy = f64::from(i / cols) + 0.5 - gy;
                (ordered_f64(cx * cx + cy * cy), i)
            };
            cells.sort_by_key(|&i| key(i));
        }
    }
    cells
}

/// A total order on finite floats for sort keys (NaN sorts last).
fn ordered_f64(v: f64) -> i64 {
    if v.is_nan() {
        return i64::MAX;
    }
    let bits = v.to_bits() as i64;
    // Flip negative numbers so that the integer order equals the float order.
    if bits < 0 { bits ^ i64::MAX } else { bits }
}

/// A rectangle of pixels, half-open: `x0..x1` by `y0..y1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Tile {
    /// Scanline index of the tile in its grid.
    pub index: u32,
    /// Left edge (inclusive).
    pub x0: u32,
    /// Top edge (inclusive).
    pub y0: u32,
    /// Right edge (exclusive).
    pub x1: u32,
    /// Bottom edge (exclusive).
    pub y1: u32,
}

impl Tile {
    /// Number of pixels in the tile.
    #[must_use]
    pub fn pixels(&self) -> u32 {
        (self.x1 - self.x0) * (self.y1 - self.y0)
    }
}

/// An image cut into tiles of at most `tile_w` x `tile_h` pixels (edge tiles are
/// smaller).
///
/// ```
/// use scheduler::order::{Order, TileGrid};
/// let grid = TileGrid::new(100, 50, 32, 16);
/// assert_eq!((grid.cols(), grid.rows()), (4, 4));
/// let tiles = grid.tiles(Order::Scanline);
/// assert_eq!(tiles[3].x1, 100);
/// assert_eq!(tiles.iter().map(|t| t.pixels()).sum::<u32>(), 100 * 50);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileGrid {
    width: u32,
    height: u32,
    tile_w: u32,
    tile_h: u32,
}

impl TileGrid {
    /// A grid over `width` x `height` pixels; tile sizes below one are taken as one.
    #[must_use]
    pub fn new(width: u32, height: u32, tile_w: u32, tile_h: u32) -> Self {
        Self {
            width,
            height,
            tile_w: tile_w.max(1),
            tile_h: tile_h.max(1),
        }
    }

    /// Tiles across.
    #[must_use]
    pub fn cols(&self) -> u32 {
        self.width.div_ceil(self.tile_w)
    }

    /// Tiles down.
    #[must_use]
    pub fn rows(&self) -> u32 {
        self.height.div_ceil(self.tile_h)
    }

    /// Number of tiles.
    #[must_use]
    pub fn len(&self) -> usize {
        self.cols() as usize * self.rows() as usize
    }

    /// Whether the grid has no tiles.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tile with scanline index `index`.
    #[must_use]
    pub fn tile(&self, index: u32) -> Tile {
        let (cx, cy) = (index % self.cols(), index / self.cols());
        let x0 = cx * self.tile_w;
        let y0 = cy * self.tile_h;
        Tile {
            index,
            x0,
            y0,
            x1: (x0 + self.tile_w).min(self.width),
            y1: (y0 + self.tile_h).min(self.height),
        }
    }

    /// All tiles, in `order`.
    #[must_use]
    pub fn tiles(&self, order: Order) -> Vec<Tile> {
        enumerate(self.cols(), self.rows(), order)
            .into_iter()
            .map(|i| self.tile(i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_permutation(v: &[u32], n: usize) -> bool {
        let mut s = v.to_vec();
        s.sort_unstable();
        s == (0..n as u32).collect::<Vec<_>>()
    }

    #[test]
    fn every_order_is_a_permutation() {
        for (c, r) in [(1, 1), (5, 3), (8, 8), (17, 9)] {
            for o in [
                Order::Scanline,
                Order::CentreFirst,
                Order::Foveated { x: 0.3, y: 0.9 },
            ] {
                assert!(is_permutation(&enumerate(c, r, o), (c * r) as usize));
            }
        }
    }

    #[test]
    fn centre_first_spirals_by_rings() {
        let order = enumerate(5, 5, Order::CentreFirst);
        assert_eq!(order[0], 12);
        // The next 8 are the first ring around it, starting at the top-left corner.
        let mut ring1 = order[1..9].to_vec();
        assert_eq!(ring1[0], 6);
        ring1.sort_unstable();
        assert_eq!(ring1, vec![6, 7, 8, 11, 13, 16, 17, 18]);
    }

    #[test]
    fn foveated_distance_never_decreases() {
        let (c, r) = (12u32, 7u32);
        let (gx, gy) = (0.8f64 * 12.0, 0.25f64 * 7.0);
        let d = |i: u32| {
            let x = f64::from(i % c) + 0.5 - gx;
            let y = f64::from(i / c) + 0.5 - gy;
            x * x + y * y
        };
        let order = enumerate(c, r, Order::Foveated { x: 0.8, y: 0.25 });
        assert!(order.windows(2).all(|w| d(w[0]) <= d(w[1])));
    }

    #[test]
    fn ordered_f64_matches_float_order() {
        let v = [-3.5, -0.0, 0.0, 1e-9, 2.0, 1e300];
        for w in v.windows(2) {
            assert!(ordered_f64(w[0]) <= ordered_f64(w[1]), "{w:?}");
        }
    }
}
