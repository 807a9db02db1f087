"""Embree (through embreex) on the same mesh and rays as `compare -- bvh`.

Reads the raw arrays the harness writes (float32 vertices, int32 triangles, float32
origins and directions), builds the scene, casts the rays in one batched call, and
prints one JSON line: build seconds, seconds per ray set, hit fractions. Writes each
set's per-ray hit flags (`{name}_embree_hit.u8`, 1 = hit) for the harness to compare
ray by ray.
"""
import json
import sys
import time

import numpy as np
from embreex import rtcore_scene as rtcs
from embreex.mesh_construction import TriangleMesh

d = sys.argv[1]
verts = np.fromfile(f"{d}/verts.f32", dtype=np.float32).reshape(-1, 3)
tris = np.fromfile(f"{d}/tris.i32", dtype=np.int32).reshape(-1, 3)
out = {}
t = time.perf_counter()
scene = rtcs.EmbreeScene()
TriangleMesh(scene, verts, tris)
# embreex builds lazily on the first query: include one ray in the build time.
scene.run(np.zeros((1, 3), np.float32), np.ones((1, 3), np.float32))
out["build_s"] = time.perf_counter() - t
for name in ("coherent", "incoherent"):
    o = np.fromfile(f"{d}/{name}_o.f32", dtype=np.float32).reshape(-1, 3)
    r = np.fromfile(f"{d}/{name}_d.f32", dtype=np.float32).reshape(-1, 3)
    best = None
    for _ in range(3):
        t = time.perf_counter()
        ids = scene.run(o, r)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    (ids >= 0).astype(np.uint8).tofile(f"{d}/{name}_embree_hit.u8")
    out[name] = {"rays": len(o), "seconds": best, "hit_fraction": float(np.mean(ids >= 0))}
print(json.dumps(out))
