"""Mitsuba 3 renders the peer terrain scene for `compare -- render`.

Usage: mitsuba_render.py VARIANT PLY OUT_DIR SPP_TIMED SPP_REFERENCE

Builds the scene of ../shared/reference/peer-terrain.md (the same PLY Grin loads),
renders SPP_TIMED samples per pixel once to warm up (the LLVM variant compiles its
kernels) and three more times, timed; then SPP_REFERENCE samples per pixel to
OUT_DIR/mitsuba_<variant>.exr (linear float RGB). Prints one JSON line.
"""
import json
import sys
import time

import drjit as dr
import mitsuba as mi

variant, ply, out_dir, spp_timed, spp_ref = sys.argv[1:6]
spp_timed, spp_ref = int(spp_timed), int(spp_ref)
mi.set_variant(variant)

t = time.perf_counter()
scene = mi.load_dict({
    "type": "scene",
    "integrator": {"type": "direct"},
    "sensor": {
        "type": "perspective",
        "fov": 45.0,
        "fov_axis": "y",
        "to_world": mi.ScalarTransform4f().look_at(
            origin=[0.0, -1.7, 1.25], target=[0.0, 0.15, -0.1], up=[0.0, 0.0, 1.0]),
        "film": {"type": "hdrfilm", "width": 512, "height": 512,
                 "rfilter": {"type": "box"}, "pixel_format": "rgb"},
        "sampler": {"type": "independent", "sample_count": spp_timed},
    },
    "terrain": {
        "type": "ply", "filename": ply, "face_normals": True,
        "bsdf": {"type": "diffuse",
                 "reflectance": {"type": "rgb", "value": [0.55, 0.5, 0.45]}},
    },
    "sun": {"type": "directional", "direction": [-0.5, 0.6, -0.6],
            "irradiance": {"type": "rgb", "value": [2.0, 2.0, 2.0]}},
    "sky": {"type": "constant",
            "radiance": {"type": "rgb", "value": [0.25, 0.3, 0.4]}},
})
load_s = time.perf_counter() - t


def render(spp, seed):
    img = mi.render(scene, spp=spp, seed=seed)
    dr.eval(img)
    dr.sync_thread()
    return img


render(spp_timed, 0)  # warm-up: kernel compilation, caches
times = []
for k in range(3):
    t = time.perf_counter()
    render(spp_timed, 1 + k)
    times.append(time.perf_counter() - t)
times.sort()
t = time.perf_counter()
ref = render(spp_ref, 100)
ref_s = time.perf_counter() - t
path = f"{out_dir}/mitsuba_{variant}.exr"
mi.Bitmap(ref).write(path)
pixels = 512 * 512
print(json.dumps({
    "variant": variant,
    "load_s": load_s,
    "spp": spp_timed,
    "seconds_median": times[1],
    "samples_per_s": pixels * spp_timed / times[1],
    "reference_spp": spp_ref,
    "reference_s": ref_s,
    "reference_exr": path,
}))
