//! Why this exists: it is the scheduler doing a renderer's job before the renderer
//! exists. It computes a Mandelbrot image progressively, the way Grin's preview does:
//! each frame gets a time budget, tiles start centre-first, a tile either commits
//! whole or not at all, and the frame loop goes on until every tile is done. At the
//! end it prints the telemetry summary and writes the image (PGM) and a Chrome trace
//! (open it in <https://ui.perfetto.dev>).
//!
//! Run: `cargo run --release -p scheduler --example tiles [-- OUT_DIR]`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use scheduler::order::{Order, TileGrid, enumerate};
use scheduler::telemetry::write_chrome_trace;
use scheduler::{Budget, CancelToken, Graph, GraphConfig, Outcome, Pool, PoolConfig};

const WIDTH: u32 = 960;
const HEIGHT: u32 = 640;
const MAX_ITER: u32 = 2000;

fn mandelbrot(x: u32, y: u32) -> u8 {
    let cx = -0.7453 + (f64::from(x) / f64::from(WIDTH) - 0.5) * 0.03;
    let cy = 0.1127 + (f64::from(y) / f64::from(HEIGHT) - 0.5) * 0.02;
    let (mut zx, mut zy) = (0.0f64, 0.0f64);
    for i in 0..MAX_ITER {
        if zx * zx + zy * zy > 4.0 {
            return (255.0 * (f64::from(i) / 64.0).min(1.0)) as u8;
        }
        (zx, zy) = (zx * zx - zy * zy + cx, 2.0 * zx * zy + cy);
    }
    0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/grin-demo"), PathBuf::from);
    std::fs::create_dir_all(&out_dir)?;

    let pool = Arc::new(Pool::new(PoolConfig::default())?);
    println!("pool: {} worker threads", pool.threads());
    let graph = Graph::new(pool, GraphConfig::named("mandelbrot"));
    let grid = TileGrid::new(WIDTH, HEIGHT, 32, 16);
    let order = enumerate(grid.cols(), grid.rows(), Order::CentreFirst);
    let all_tiles: Vec<_> = (0..grid.len() as u32).map(|i| grid.tile(i)).collect();

    let mut image = vec![0u8; (WIDTH * HEIGHT) as usize];
    let mut done = vec![false; all_tiles.len()];
    let mut traces = Vec::new();
    let token = CancelToken::new();
    let mut frame_no = 0;
    let mut budget_ms = 16;
    while done.iter().any(|d| !d) {
        // The tiles still to do, in centre-first order.
        let todo: Vec<_> = order
            .iter()
            .filter(|&&i| !done[i as usize])
            .map(|&i| all_tiles[i as usize])
            .collect();
        // A frame budget (16 ms unless a tile needs longer): the watchdog stops busy
        // tiles at their next row.
        let budget = Budget::within(Duration::from_millis(budget_ms));
        let report = graph.run(&token, budget, |frame| {
            let out = frame.stage("shade").run(&todo, |ctx, tile| {
                let mut pixels = Vec::with_capacity(tile.pixels() as usize);
                for y in tile.y0..tile.y1 {
                    if let Some(stop) = ctx.interrupted() {
                        return stop.into();
                    }
                    pixels.extend((tile.x0..tile.x1).map(|x| mandelbrot(x, y)));
                }
                ctx.count("pixels", u64::from(tile.pixels()));
                Outcome::Done(pixels)
            });
            // Writeback: only whole tiles commit.
            frame.serial("commit", |_| {
                for (tile, pixels) in todo.iter().zip(out.results) {
                    let Some(pixels) = pixels else { continue };
                    let w = (tile.x1 - tile.x0) as usize;
                    for (row, y) in (tile.y0..tile.y1).enumerate() {
                        let at = (y * WIDTH + tile.x0) as usize;
                        image[at..at + w].copy_from_slice(&pixels[row * w..(row + 1) * w]);
                    }
                    done[tile.index as usize] = true;
                }
            });
        })?;
        let c = report.summary.counts();
        println!(
            "frame {frame_no:>3}: {:>6.2} ms, {:>4} tiles done, {:>3} stopped at a safe point, outcome {}",
            report.summary.wall_ns as f64 / 1e6,
            c.done - 1,
            c.over_budget + c.cancelled,
            report.outcome
        );
        if c.done == 1 {
            // Only the commit stage finished: some tile is longer than a frame.
            budget_ms *= 2;
        }
        traces.push(report.trace());
        frame_no += 1;
    }

    let rolling = graph.rolling();
    println!(
        "\n{} frames: frame time mean {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        rolling.frames,
        rolling.frame.mean / 1e6,
        rolling.frame.p95 as f64 / 1e6,
        rolling.frame.max as f64 / 1e6
    );
    if let Some(last) = traces.last() {
        println!("last frame summary:\n{}", last.summary.to_json());
    }
    let pgm = out_dir.join("mandelbrot.pgm");
    let mut bytes = format!("P5\n{WIDTH} {HEIGHT}\n255\n").into_bytes();
    bytes.extend_from_slice(&image);
    std::fs::write(&pgm, bytes)?;
    let trace = out_dir.join("mandelbrot.trace.json");
    write_chrome_trace(&trace, &traces)?;
    println!("wrote {} and {}", pgm.display(), trace.display());
    Ok(())
}
