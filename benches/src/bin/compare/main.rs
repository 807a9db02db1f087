//! Side-by-side comparisons measured in one run, written as JSON under
//! `benches/results/`.
//!
//! `cargo run --release -p benches --bin compare -- scheduler` (or `bvh`, `render`,
//! `gpu`, `batch`, `curved`, `kerr`)

mod batch;
mod curved;
mod gpu;
mod kerr;
mod render;
mod sweep;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use benches::sched::{Grin, MutexQueue, Rayon, SkewedLoad, burn, units_per_us};
use benches::{Row, Table, machine};
use scheduler::order::Order;
use scheduler::telemetry::Level;

fn main() -> ExitCode {
    let what = std::env::args().nth(1).unwrap_or_default();
    match what.as_str() {
        "scheduler" => scheduler(),
        "bvh" => bvh(),
        "render" => render::compare(),
        "gpu" => gpu::compare(&std::env::args().skip(2).collect::<Vec<_>>()),
        "batch" => batch::compare(&std::env::args().skip(2).collect::<Vec<_>>()),
        "curved" => curved::compare(&std::env::args().skip(2).collect::<Vec<_>>()),
        "kerr" => kerr::compare(&std::env::args().skip(2).collect::<Vec<_>>()),
        _ => {
            eprintln!("usage: compare scheduler|bvh|render|gpu|batch|curved|kerr");
            ExitCode::from(2)
        }
    }
}

fn results_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("results")
        .join(name)
}

/// Medians of interleaved samples: each round runs every contender once, so drift in
/// the machine's state hits all of them alike.
fn interleaved<const N: usize>(
    rounds: usize,
    per: u32,
    mut contenders: [&mut dyn FnMut(); N],
) -> [Duration; N] {
    let mut times = vec![Vec::with_capacity(rounds); N];
    for _ in 0..rounds {
        for (k, f) in contenders.iter_mut().enumerate() {
            settle_allocator();
            let t = std::time::Instant::now();
            f();
            times[k].push(t.elapsed() / per);
        }
    }
    times.map_medians()
}

/// Every sample of single long runs (makespans), one per contender per round, in
/// round order: the machine is left idle for `quiet` (untimed) before each contender,
/// and the contenders' order rotates every round. A pool's workers keep spinning for a
/// while after its run (Grin's for 50 us, rayon's similarly): in a fixed order that
/// spinning took a core from whichever contender ran next, and the one after a run of
/// its own pool found its workers still awake. After `quiet`, every contender starts
/// from parked workers and pays its own wake-up.
fn interleaved_quiet<const N: usize>(
    rounds: usize,
    quiet: Duration,
    contenders: [&mut dyn FnMut(); N],
) -> Vec<Vec<Duration>> {
    let mut times = vec![Vec::with_capacity(rounds); N];
    for round in 0..rounds {
        for j in 0..N {
            let k = (j + round) % N;
            settle_allocator();
            std::thread::sleep(quiet);
            let t = std::time::Instant::now();
            contenders[k]();
            times[k].push(t.elapsed());
        }
    }
    times
}

/// Per-contender medians of samples.
trait Medians {
    fn map_medians<const N: usize>(self) -> [Duration; N];
}

impl Medians for Vec<Vec<Duration>> {
    fn map_medians<const N: usize>(mut self) -> [Duration; N] {
        let mut out = [Duration::ZERO; N];
        for (k, t) in self.iter_mut().enumerate().take(N) {
            t.sort_unstable();
            out[k] = t[t.len() / 2];
        }
        out
    }
}

/// Makes one large allocation, untimed, between contenders. glibc defers work on
/// freed small blocks (it consolidates them at the next large request), so a
/// contender that frees thousands of boxes (the `Mutex<VecDeque>` queue, rayon's
/// `scope`) would otherwise charge that work to whichever contender allocates next:
/// measured, it made Grin's first frame after the queue take 163 us instead of 32
/// (8,192 items). Rayon's `par_iter` allocates nothing, so it never paid it.
fn settle_allocator() {
    std::hint::black_box(vec![0u8; 256 << 10]);
}

fn scheduler() -> ExitCode {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let grin = Grin::new(threads, Level::Stages);
    let grin_tasks = Grin::new(threads, Level::Tasks);
    let rayon = Rayon::new(threads);
    let queue = MutexQueue::new(threads);
    let mut table = Table::new("scheduler", threads);
    println!("{threads} threads; medians of interleaved samples\n");

    for (n, frames) in [(256usize, 200u32), (8192, 20)] {
        let items: Vec<u32> = (0..n as u32).collect();
        let [ours, grain16, ours_tasks, par_iter, scope, mutex] = interleaved(
            41,
            frames,
            [
                &mut || (0..frames).for_each(|_| grin.empty_stage(&items)),
                &mut || (0..frames).for_each(|_| grin.empty_stage_grain(&items, 16)),
                &mut || (0..frames).for_each(|_| grin_tasks.empty_stage(&items)),
                &mut || (0..frames).for_each(|_| rayon.empty_par_iter(&items)),
                &mut || (0..frames).for_each(|_| rayon.empty_scope(&items)),
                &mut || {
                    let f: Arc<dyn Fn(usize) + Send + Sync> = Arc::new(|i| {
                        std::hint::black_box(i);
                    });
                    (0..frames).for_each(|_| queue.for_each(n, Arc::clone(&f)));
                },
            ],
        );
        table.push(
            Row::new(
                &format!("empty_stage_{n}"),
                "time per frame",
                ours,
                par_iter,
            )
            .other("grin_task_telemetry", ours_tasks)
            .other("grin_grain_16", grain16)
            .other("rayon_scope", scope)
            .other("mutex_vecdeque", mutex),
        );
    }

    let items: Vec<u32> = (0..threads as u32).collect();
    let [ours, par_iter] = interleaved(
        41,
        200,
        [
            &mut || (0..200).for_each(|_| grin.two_stages(&items)),
            &mut || (0..200).for_each(|_| rayon.two_stages(&items)),
        ],
    );
    table.push(Row::new(
        "empty_two_stage_frame",
        "fixed cost per frame",
        ours,
        par_iter,
    ));

    let upu = units_per_us();
    // Light tiles ~2 us, heavy ~200 us.
    let light = (2.0 * upu) as u64;
    for (name, cx, cy) in [
        ("skewed_centre", 0.5, 0.5),
        ("skewed_off_centre", 0.5, 0.35),
    ] {
        let load = Arc::new(SkewedLoad::new(32, 20, cx, cy, light));
        let centre = load.sequence(Order::CentreFirst);
        let rows = load.sequence(Order::Scanline);
        let samples = interleaved_quiet(
            151,
            Duration::from_millis(2),
            [
                &mut || {
                    grin.skewed(&load, &centre);
                },
                &mut || {
                    grin.skewed(&load, &rows);
                },
                &mut || {
                    rayon.skewed(&load);
                },
                &mut || {
                    rayon.skewed_static(&load);
                },
                &mut || queue.skewed(&load),
            ],
        );
        let paired = |row: Row| row.paired(&samples[0], &samples[2]);
        let [centre_first, scanline, par_iter, fixed, mutex] = samples.clone().map_medians();
        table.push(
            paired(Row::new(name, "makespan", centre_first, par_iter))
                .other("grin_scanline", scanline)
                .other("static_partition", fixed)
                .other("mutex_vecdeque", mutex)
                .ideal(Duration::from_secs_f64(
                    load.total() as f64 / upu / 1e6 / threads as f64,
                )),
        );
    }

    let item_units = (50.0 * upu) as u64;
    let item = Duration::from_secs_f64(item_units as f64 / upu / 1e6);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..21 {
        ours.push(grin.cancel_latency(100_000, item_units, Duration::from_millis(5)));
        theirs.push(rayon.cancel_latency(100_000, item_units, Duration::from_millis(5)));
    }
    ours.sort_unstable();
    theirs.sort_unstable();
    table.push(
        Row::new(
            "cancel_latency_50us_items",
            "cancel() to return",
            ours[ours.len() / 2],
            theirs[theirs.len() / 2],
        )
        .goal(item + Duration::from_micros(100)),
    );
    std::hint::black_box(burn(1));

    table.print();
    let path = results_path("scheduler.json");
    match table.write(&path, &machine()) {
        Ok(()) => {
            println!("\nwrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compare: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// Casts `rays` on the scheduler's pool in chunks; returns (seconds, hit fraction).
fn cast(
    graph: &scheduler::Graph,
    blas: &renderer_core::accel::Blas,
    rays: &[renderer_core::accel::Ray],
) -> (f64, f64) {
    let chunks: Vec<&[renderer_core::accel::Ray]> = rays.chunks(16_384).collect();
    let t = std::time::Instant::now();
    let hits: usize = graph
        .run(
            &scheduler::CancelToken::new(),
            scheduler::Budget::unlimited(),
            |frame| {
                frame
                    .stage("cast")
                    .run(&chunks, |_, chunk| {
                        scheduler::Outcome::Done(
                            chunk.iter().filter(|r| blas.intersect(r).is_some()).count(),
                        )
                    })
                    .results
                    .into_iter()
                    .flatten()
                    .sum()
            },
        )
        .expect("run")
        .value;
    (t.elapsed().as_secs_f64(), hits as f64 / rays.len() as f64)
}

fn write_raw<T: Copy>(
    path: &std::path::Path,
    data: &[T],
    to_bytes: impl Fn(&T) -> Vec<u8>,
) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(data.len() * 12);
    for d in data {
        bytes.extend(to_bytes(d));
    }
    std::fs::write(path, bytes)
}

/// The harness's own Python venv (`benches/.venv`), created on first use, with
/// `packages` installed when `import` fails; returns its interpreter.
fn venv_python(packages: &[&str], import: &str) -> Result<PathBuf, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        println!("creating {} ...", venv.display());
        run_checked(
            std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv),
        )?;
    }
    if run_checked(std::process::Command::new(&python).args(["-c", import])).is_err() {
        // A venv whose creation was interrupted has no pip: give it one.
        if run_checked(std::process::Command::new(&python).args(["-m", "pip", "--version"]))
            .is_err()
        {
            run_checked(std::process::Command::new(&python).args(["-m", "ensurepip"]))?;
        }
        println!(
            "installing {} into {} ...",
            packages.join(" "),
            venv.display()
        );
        run_checked(
            std::process::Command::new(&python)
                .args(["-m", "pip", "install", "-q"])
                .args(packages),
        )?;
    }
    Ok(python)
}

/// Runs a command; `Err` carries the last line of its error output.
fn run_checked(cmd: &mut std::process::Command) -> Result<std::process::Output, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("failed")
            .to_owned())
    }
}

/// Runs Embree through embreex from the harness's venv; `Err` says why not.
fn embree(dir: &std::path::Path) -> Result<serde_json::Value, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = venv_python(&["embreex", "numpy"], "import embreex, numpy")?;
    let out = run_checked(
        std::process::Command::new(&python)
            .arg(root.join("peers/embree_rays.py"))
            .arg(dir),
    )?;
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// The largest barycentric margin (min of u, v, 1 - u - v) over the triangles of
/// `mesh` that `ray` meets in f64 at t >= 0 within 1e-3 of their edges; -1 if none.
fn f64_margin(mesh: &renderer_core::accel::Mesh, ray: &renderer_core::accel::Ray) -> f64 {
    let o = ray.origin.as_dvec3();
    let d = ray.dir.as_dvec3();
    let mut best = -1.0f64;
    for t in &mesh.indices {
        let [a, b, c] = t.map(|k| glam::Vec3::from(mesh.positions[k as usize]).as_dvec3());
        let (e1, e2) = (b - a, c - a);
        let p = d.cross(e2);
        let det = e1.dot(p);
        if det == 0.0 {
            continue;
        }
        let s = o - a;
        let u = s.dot(p) / det;
        let q = s.cross(e1);
        let v = d.dot(q) / det;
        let tt = e2.dot(q) / det;
        let m = u.min(v).min(1.0 - u - v);
        if tt >= 0.0 && m > -1e-3 {
            best = best.max(m);
        }
    }
    best
}

fn bvh() -> ExitCode {
    use benches::terrain::{coherent_rays, incoherent_rays, terrain, write_ply};
    use renderer_core::accel::Blas;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = std::time::Instant::now();
    let mesh = terrain(708);
    println!(
        "terrain: {} triangles generated in {:.2} s",
        mesh.indices.len(),
        t.elapsed().as_secs_f64()
    );
    let dir = results_path("peer-data");
    if let Err(e) =
        std::fs::create_dir_all(&dir).and_then(|()| write_ply(&mesh, &results_path("terrain.ply")))
    {
        eprintln!("compare: cannot write the terrain: {e}");
        return ExitCode::FAILURE;
    }
    let mut builds: Vec<f64> = (0..3)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(Blas::build(&mesh));
            t.elapsed().as_secs_f64()
        })
        .collect();
    builds.sort_by(f64::total_cmp);
    let build_s = builds[1];
    let blas = Blas::build(&mesh);
    let pool =
        Arc::new(scheduler::Pool::new(scheduler::PoolConfig::with_threads(threads)).expect("pool"));
    let graph = scheduler::Graph::new(pool, scheduler::GraphConfig::named("rays"));
    let sets = [
        ("coherent", coherent_rays(1000)),
        ("incoherent", incoherent_rays(&mesh, 1_000_000)),
    ];
    let mut ours = serde_json::Map::new();
    for (name, rays) in &sets {
        let mut runs: Vec<(f64, f64)> = (0..3).map(|_| cast(&graph, &blas, rays)).collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (secs, hit) = runs[1];
        println!(
            "grin {name}: {:.2} Mrays/s, {:.1}% hit",
            rays.len() as f64 / secs / 1e6,
            hit * 100.0
        );
        ours.insert(
            (*name).into(),
            serde_json::json!({"rays": rays.len(), "seconds": secs,
            "mrays_per_s": rays.len() as f64 / secs / 1e6, "hit_fraction": hit}),
        );
        let (o, d): (Vec<_>, Vec<_>) = rays.iter().map(|r| (r.origin, r.dir)).unzip();
        let f3 = |v: &glam::Vec3| {
            v.to_array()
                .iter()
                .flat_map(|c| c.to_le_bytes())
                .collect::<Vec<u8>>()
        };
        let _ = write_raw(&dir.join(format!("{name}_o.f32")), &o, f3);
        let _ = write_raw(&dir.join(format!("{name}_d.f32")), &d, f3);
    }
    println!(
        "grin build: {build_s:.3} s ({:.2} M triangles/s)",
        mesh.indices.len() as f64 / build_s / 1e6
    );
    let _ = write_raw(&dir.join("verts.f32"), &mesh.positions, |p| {
        p.iter().flat_map(|c| c.to_le_bytes()).collect()
    });
    let _ = write_raw(&dir.join("tris.i32"), &mesh.indices, |t| {
        t.iter().flat_map(|&i| (i as i32).to_le_bytes()).collect()
    });
    let peer = embree(&dir);
    let mut doc = serde_json::json!({
        "machine": machine(),
        "threads": threads,
        "triangles": mesh.indices.len(),
        "seed": format!("{:#x}", benches::terrain::SEED),
        "grin": {"build_s": build_s, "rays": ours},
    });
    // Ray by ray: hit or miss against Embree's (above 0.01% of the rays differing
    // the comparison fails: the two must see the same scene).
    let mut disagreement_ok = true;
    match &peer {
        Ok(e) => {
            println!("embree (embreex): {e}");
            doc["embree"] = e.clone();
            let mut agreement = serde_json::Map::new();
            for (name, rays) in &sets {
                let ours: Vec<bool> = rays.iter().map(|r| blas.intersect(r).is_some()).collect();
                let theirs = match std::fs::read(dir.join(format!("{name}_embree_hit.u8"))) {
                    Ok(t) if t.len() == ours.len() => t,
                    Ok(t) => {
                        eprintln!(
                            "compare: {name}: Embree wrote {} flags for {} rays",
                            t.len(),
                            ours.len()
                        );
                        disagreement_ok = false;
                        continue;
                    }
                    Err(err) => {
                        eprintln!("compare: {name}: Embree's hit flags: {err}");
                        disagreement_ok = false;
                        continue;
                    }
                };
                let differ: Vec<usize> = (0..ours.len())
                    .filter(|&k| ours[k] != (theirs[k] != 0))
                    .collect();
                let only_ours = differ.iter().filter(|&&k| ours[k]).count();
                let share = differ.len() as f64 / ours.len() as f64;
                println!(
                    "{name}: {} of {} rays differ from Embree ({:.4}%): {only_ours} hit only in Grin, {} only in Embree",
                    differ.len(),
                    ours.len(),
                    100.0 * share,
                    differ.len() - only_ours
                );
                if share > 1e-4 {
                    disagreement_ok = false;
                }
                // Where the differing rays meet the mesh, by an f64 test of every
                // triangle: the largest barycentric margin among the triangles a ray
                // meets within 1e-3 of their edges (near zero: through an edge or a
                // vertex, where f32 tests may go either way).
                let margins: Vec<f64> = differ
                    .iter()
                    .take(100)
                    .map(|&k| f64_margin(&mesh, &rays[k]))
                    .collect();
                let at_edges = margins.iter().filter(|&&m| m.abs() < 1e-4).count();
                if !margins.is_empty() {
                    println!(
                        "{name}: of the first {} differing rays, {at_edges} pass within 1e-4 (barycentric) of an edge or vertex (where a test that is not watertight can differ); margins {:?}",
                        margins.len(),
                        &margins[..margins.len().min(10)]
                    );
                }
                agreement.insert(
                    (*name).into(),
                    serde_json::json!({"differ": differ.len(), "hit_only_in_grin": only_ours,
                        "at_edges_of_first_100": at_edges,
                        "hit_only_in_embree": differ.len() - only_ours, "share": share,
                        "first_differing_rays": &differ[..differ.len().min(1000)]}),
                );
            }
            doc["agreement_with_embree"] = agreement.into();
            let mut ratios = serde_json::Map::new();
            ratios.insert(
                "build_time_grin_over_embree".into(),
                (build_s / e["build_s"].as_f64().unwrap_or(f64::NAN)).into(),
            );
            for (name, _) in &sets {
                let ours_s = doc["grin"]["rays"][name]["seconds"]
                    .as_f64()
                    .unwrap_or(f64::NAN);
                let theirs = e[name]["seconds"].as_f64().unwrap_or(f64::NAN);
                ratios.insert(
                    format!("{name}_rays_per_s_grin_over_embree"),
                    (theirs / ours_s).into(),
                );
            }
            println!("ratios: {}", serde_json::Value::Object(ratios.clone()));
            doc["ratios"] = ratios.into();
        }
        Err(why) => {
            println!("embree not run: {why}");
            doc["embree"] = serde_json::json!({ "unavailable": why });
        }
    }
    let path = results_path("bvh.json");
    match std::fs::write(
        &path,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    ) {
        Ok(()) if disagreement_ok => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Ok(()) => {
            eprintln!(
                "compare: wrote {}, but Grin and Embree disagree on more than 0.01% of the rays (see above)",
                path.display()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("compare: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
