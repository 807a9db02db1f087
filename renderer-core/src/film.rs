//! The film: linear RGB sums and sample counts per pixel, plus the AOVs that data
//! generation needs (depth as path length to the hit, normal, instance id, hit mask,
//! segment count). Tiles render into their own [`TileFilm`] and commit whole, or not at
//! all, so a cancelled or over-budget tile never leaves a partial trace in the image.

use scheduler::order::Tile;

/// What one sample of one pixel contributes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SampleRecord {
    /// Linear RGB radiance.
    pub rgb: [f32; 3],
    /// Path length to the first hit (0 when nothing was hit).
    pub depth: f32,
    /// Shading normal at the first hit.
    pub normal: [f32; 3],
    /// Instance id of the first hit, if any.
    pub instance: Option<u32>,
    /// Segments the camera ray was integrated into.
    pub segments: u32,
}

/// Per-pixel accumulators of a rectangle of pixels.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Planes {
    pub(crate) rgb: Vec<[f64; 3]>,
    pub(crate) count: Vec<u32>,
    pub(crate) depth: Vec<f64>,
    pub(crate) normal: Vec<[f64; 3]>,
    pub(crate) hits: Vec<u32>,
    pub(crate) instance: Vec<u32>,
    pub(crate) segments: Vec<u64>,
}

impl Planes {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            rgb: vec![[0.0; 3]; n],
            count: vec![0; n],
            depth: vec![0.0; n],
            normal: vec![[0.0; 3]; n],
            hits: vec![0; n],
            instance: vec![u32::MAX; n],
            segments: vec![0; n],
        }
    }

    pub(crate) fn add(&mut self, i: usize, s: &SampleRecord) {
        for c in 0..3 {
            self.rgb[i][c] += f64::from(s.rgb[c]);
        }
        self.count[i] += 1;
        self.segments[i] += u64::from(s.segments);
        if let Some(id) = s.instance {
            self.hits[i] += 1;
            self.depth[i] += f64::from(s.depth);
            for c in 0..3 {
                self.normal[i][c] += f64::from(s.normal[c]);
            }
            if self.instance[i] == u32::MAX {
                self.instance[i] = id;
            }
        }
    }
}

/// A tile's private accumulators, filled by one task and committed whole.
#[derive(Debug, Clone, PartialEq)]
pub struct TileFilm {
    tile: Tile,
    planes: Planes,
}

impl TileFilm {
    /// Empty accumulators for `tile`.
    #[must_use]
    pub fn new(tile: Tile) -> Self {
        Self {
            tile,
            planes: Planes::new(tile.pixels() as usize),
        }
    }

    /// The tile.
    #[must_use]
    pub fn tile(&self) -> Tile {
        self.tile
    }

    /// Adds one sample of pixel (`x`, `y`) (image coordinates inside the tile).
    ///
    /// # Panics
    /// If the pixel is outside the tile (a renderer bug, not user input).
    pub fn add(&mut self, x: u32, y: u32, sample: &SampleRecord) {
        assert!(
            (self.tile.x0..self.tile.x1).contains(&x) && (self.tile.y0..self.tile.y1).contains(&y),
            "pixel ({x}, {y}) is outside tile {:?}",
            self.tile
        );
        let w = self.tile.x1 - self.tile.x0;
        let i = ((y - self.tile.y0) * w + (x - self.tile.x0)) as usize;
        self.planes.add(i, sample);
    }
}

/// One pixel's sums as another accumulator (the GPU's film) holds them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PixelSums {
    pub(crate) rgb: [f32; 3],
    pub(crate) count: u32,
    pub(crate) normal: [f32; 3],
    pub(crate) hits: u32,
    pub(crate) depth: f32,
    /// `u32::MAX`: none.
    pub(crate) instance: u32,
    pub(crate) segments: u32,
}

/// Host bytes a film holds per pixel (its accumulator planes).
pub const FILM_BYTES_PER_PIXEL: u64 = 3 * 8 + 4 + 8 + 3 * 8 + 4 + 4 + 8;

/// The whole image's accumulators.
#[derive(Debug, Clone, PartialEq)]
pub struct Film {
    width: u32,
    height: u32,
    planes: Planes,
}

impl Film {
    /// An empty film of `width` x `height` pixels.
    #[must_use]
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            planes: Planes::new(width as usize * height as usize),
        }
    }

    /// Width in pixels.
    #[must_use]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    #[must_use]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Adds a finished tile's sums into the film (the only way pixels change).
    pub fn commit(&mut self, tile: &TileFilm) {
        let t = tile.tile;
        let w = (t.x1 - t.x0) as usize;
        for y in t.y0..t.y1.min(self.height) {
            for x in t.x0..t.x1.min(self.width) {
                let src = (y - t.y0) as usize * w + (x - t.x0) as usize;
                let dst = (y * self.width + x) as usize;
                let (a, b) = (&mut self.planes, &tile.planes);
                for c in 0..3 {
                    a.rgb[dst][c] += b.rgb[src][c];
                    a.normal[dst][c] += b.normal[src][c];
                }
                a.count[dst] += b.count[src];
                a.depth[dst] += b.depth[src];
                a.hits[dst] += b.hits[src];
                a.segments[dst] += b.segments[src];
                if a.instance[dst] == u32::MAX {
                    a.instance[dst] = b.instance[src];
                }
            }
        }
    }

    /// Samples accumulated at pixel (`x`, `y`).
    #[must_use]
    pub fn samples(&self, x: u32, y: u32) -> u32 {
        self.planes.count[(y * self.width + x) as usize]
    }

    /// Mean linear RGB per pixel, row by row (black where no sample landed).
    #[must_use]
    pub fn rgb(&self) -> Vec<[f32; 3]> {
        let mut out = Vec::with_capacity(self.planes.count.len());
        self.for_each_mean(|p| out.push(p));
        out
    }

    /// Calls `f` with each pixel's mean linear RGB (black with no samples), row by
    /// row: the image without a buffer of its own (see [`crate::session::Session::frame`]).
    pub fn for_each_mean(&self, mut f: impl FnMut([f32; 3])) {
        for (s, &n) in self.planes.rgb.iter().zip(&self.planes.count) {
            f(if n == 0 {
                [0.0; 3]
            } else {
                s.map(|v| (v / f64::from(n)) as f32)
            });
        }
    }

    /// Mean depth of the samples that hit (0 where none did).
    #[must_use]
    pub fn depth(&self) -> Vec<f32> {
        (0..self.planes.depth.len())
            .map(|i| match self.planes.hits[i] {
                0 => 0.0,
                n => (self.planes.depth[i] / f64::from(n)) as f32,
            })
            .collect()
    }

    /// Fraction of samples that hit geometry.
    #[must_use]
    pub fn hit_mask(&self) -> Vec<f32> {
        self.planes
            .hits
            .iter()
            .zip(&self.planes.count)
            .map(|(&h, &n)| if n == 0 { 0.0 } else { h as f32 / n as f32 })
            .collect()
    }

    /// Instance id first hit at each pixel (`u32::MAX`: none).
    #[must_use]
    pub fn instance(&self) -> &[u32] {
        &self.planes.instance
    }

    /// Mean segments per sample.
    #[must_use]
    pub fn segments(&self) -> Vec<f32> {
        self.planes
            .segments
            .iter()
            .zip(&self.planes.count)
            .map(|(&s, &n)| if n == 0 { 0.0 } else { s as f32 / n as f32 })
            .collect()
    }

    /// Normalised mean normal of the samples that hit.
    #[must_use]
    pub fn normal(&self) -> Vec<[f32; 3]> {
        self.planes
            .normal
            .iter()
            .map(|n| {
                let l = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                if l == 0.0 {
                    [0.0; 3]
                } else {
                    n.map(|c| (c / l) as f32)
                }
            })
            .collect()
    }
}

impl Film {
    /// Empties the film for `width` x `height`, reusing its memory when the size is
    /// the same (a large film's fresh pages would otherwise be faulted in again by
    /// the first write of every frame), on up to `threads` threads (a 1080p film is
    /// 158 MB: one thread takes about 18 ms to clear it, a GPU frame's kernels a few).
    pub(crate) fn clear(&mut self, width: u32, height: u32, threads: usize) {
        if (width, height) != (self.width, self.height) {
            *self = Self::new(width, height);
            return;
        }
        self.in_runs(threads, |_, run| {
            run.rgb.fill([0.0; 3]);
            run.count.fill(0);
            run.depth.fill(0.0);
            run.normal.fill([0.0; 3]);
            run.hits.fill(0);
            run.instance.fill(u32::MAX);
            run.segments.fill(0);
        });
    }

    /// Overwrites every pixel's sums with `get(i)`, on up to `threads` threads (each a
    /// contiguous run of pixels): how a film that accumulated elsewhere (on the GPU)
    /// is presented.
    pub(crate) fn overwrite_sums(
        &mut self,
        threads: usize,
        get: impl Fn(usize) -> PixelSums + Sync,
    ) {
        self.in_runs(threads, |first, run| {
            for j in 0..run.rgb.len() {
                let s = get(first + j);
                run.rgb[j] = s.rgb.map(f64::from);
                run.count[j] = s.count;
                run.depth[j] = f64::from(s.depth);
                run.normal[j] = s.normal.map(f64::from);
                run.hits[j] = s.hits;
                run.instance[j] = s.instance;
                run.segments[j] = u64::from(s.segments);
            }
        });
    }

    /// Calls `work(first pixel, run)` for contiguous runs of pixels, each on a thread
    /// of its own (up to `threads`; runs of at least 4096 pixels).
    fn in_runs(&mut self, threads: usize, work: impl Fn(usize, PlaneRun<'_>) + Sync) {
        let n = self.planes.count.len();
        let chunk = n.div_ceil(threads.max(1)).max(4096);
        let p = &mut self.planes;
        let work = &work;
        let runs = p
            .rgb
            .chunks_mut(chunk)
            .zip(p.count.chunks_mut(chunk))
            .zip(p.depth.chunks_mut(chunk))
            .zip(p.normal.chunks_mut(chunk))
            .zip(p.hits.chunks_mut(chunk))
            .zip(p.instance.chunks_mut(chunk))
            .zip(p.segments.chunks_mut(chunk))
            .enumerate()
            .map(
                |(k, ((((((rgb, count), depth), normal), hits), instance), segments))| {
                    let run = PlaneRun {
                        rgb,
                        count,
                        depth,
                        normal,
                        hits,
                        instance,
                        segments,
                    };
                    (k * chunk, run)
                },
            );
        if n <= chunk {
            // One run: no thread to start.
            for (first, run) in runs {
                work(first, run);
            }
            return;
        }
        std::thread::scope(|scope| {
            for (first, run) in runs {
                scope.spawn(move || work(first, run));
            }
        });
    }
}

/// One contiguous run of a film's pixels, every plane.
struct PlaneRun<'a> {
    rgb: &'a mut [[f64; 3]],
    count: &'a mut [u32],
    depth: &'a mut [f64],
    normal: &'a mut [[f64; 3]],
    hits: &'a mut [u32],
    instance: &'a mut [u32],
    segments: &'a mut [u64],
}

#[cfg(test)]
mod tests {
    use super::*;
    use scheduler::order::TileGrid;

    fn sample(v: f32, hit: bool) -> SampleRecord {
        SampleRecord {
            rgb: [v, 2.0 * v, 3.0 * v],
            depth: 4.0 * v,
            normal: [0.0, 1.0, 0.0],
            instance: hit.then_some(7),
            segments: 3,
        }
    }

    #[test]
    fn only_committed_tiles_reach_the_film() {
        let grid = TileGrid::new(20, 10, 8, 8);
        let mut film = Film::new(20, 10);
        for tile in grid.tiles(scheduler::order::Order::Scanline) {
            let mut t = TileFilm::new(tile);
            for y in tile.y0..tile.y1 {
                for x in tile.x0..tile.x1 {
                    t.add(x, y, &sample(1.0, x % 2 == 0));
                    t.add(x, y, &sample(3.0, x % 2 == 0));
                }
            }
            // Tile 1 is "cancelled": it is dropped, never committed.
            if tile.index != 1 {
                film.commit(&t);
            }
        }
        let rgb = film.rgb();
        assert_eq!(rgb[0], [2.0, 4.0, 6.0]);
        assert_eq!(film.samples(9, 0), 0, "pixel of the dropped tile");
        assert_eq!(rgb[9], [0.0; 3]);
        assert_eq!(film.samples(19, 9), 2, "edge tiles are clipped, not lost");
        assert_eq!(film.depth()[0], 8.0);
        assert_eq!(film.hit_mask()[0], 1.0);
        assert_eq!(film.hit_mask()[1], 0.0);
        assert_eq!(film.instance()[0], 7);
        assert_eq!(film.segments()[0], 3.0);
        assert_eq!(film.normal()[0], [0.0, 1.0, 0.0]);
    }
}
