#!/usr/bin/env bash
# One prepared run on a lent NVIDIA GPU machine (see benches/device/README.md):
# loaders, the adapter wgpu picks, the GPU tests, then `compare -- gpu` at 1920x1080
# for every example scene (GPU and the CPU path on the machine's own cores), and a
# profiled pass (GPU timestamps per dispatch). Results and logs go to $OUT.
#
#   bash benches/device/run.sh [all|gpu|tests]   # all (default): the CPU path timed
#                                                # too; tests: the tests only
#
# Expects .devbin/ and .gl/ from benches/device/build.sh (carried in the call), and
# .devbin-base/ if built with --base.
set -uo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-all}
OUT=${OUT:-/tmp/grin-device}
mkdir -p "$OUT"
log() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

log "loaders"
# Debian's loader packages unpacked over / (the container has the NVIDIA driver's
# ICD and EGL vendor files but no loader); then point the loaders at them.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] || icd=$(ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
if [ -n "$icd" ]; then export VK_DRIVER_FILES=$icd; fi
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -f "$egl" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES=$egl; fi
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-} (loader: $(ldconfig -p | grep -c libvulkan) entries)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
lscpu | grep -m1 'Model name'
export WGPU_BACKEND=vulkan NODEVICE_SELECT=1 RUST_BACKTRACE=1 GRIN_REQUIRE_GPU=1

# The test binaries find assets through the path of the tree they were built in.
root=$(cat .devbin/built-in)
if [ "$root" != "$PWD" ] && [ ! -e "$root" ]; then mkdir -p "$(dirname "$root")" && ln -s "$PWD" "$root"; fi
echo "repo at $PWD (built in $root)"

log "adapter"
if ! .devbin/grin render assets/scenes/tetra.ron --backend gpu --size 64x48 --spp 1 -o "$OUT/tetra.png" 2>&1 | tee "$OUT/adapter.txt"; then
  # What the loader saw, for the next try.
  ls -l /usr/local/nvidia/share/vulkan/icd.d/ /usr/share/vulkan/icd.d/ /etc/vulkan/icd.d/ 2>&1
  cat "${VK_DRIVER_FILES:-/dev/null}"
  VK_LOADER_DEBUG=error,warn,driver .devbin/grin render assets/scenes/tetra.ron --backend gpu --size 64x48 --spp 1 -o "$OUT/tetra.png" 2>&1 | tail -40
  exit 1
fi

if true; then
  log "GPU tests"
  mkdir -p /tmp/parity
  GRIN_PARITY_DUMP=/tmp/parity timeout 120 .devbin/test-gpu --nocapture --test-threads=4 2>&1 | tee "$OUT/tests.log" | grep -E '^(test |[a-z_]+\.ron:|test result)|panicked|within'
  .devbin/test-probe gpu::shaders 2>&1 | tail -3
  tar -C /tmp -czf "$OUT/parity.tgz" parity
  log "kernel probe (each shader leaf function against the CPU's, on this GPU)"
  timeout 120 .devbin/test-probe gpu::probe --nocapture 2>&1 | tee "$OUT/probe.log" | grep -E 'checks|test result|panicked|GPU .*CPU' | head -60
fi
[ "$mode" = tests ] && { log "done"; exit 0; }

scenes=luneburg,black_hole,heat_haze,tetra,terrain,mirage,hot_air,fisheye,kerr_disk
if [ -x .devbin-base/compare ]; then
  # A base commit's binary beside this tree's (build.sh --base REV): GPU frames
  # only, interleaved base, this, this, base.
  base=$(cat .devbin-base/rev)
  for run in base-1 this-1 this-2 base-2; do
    bin=.devbin/compare
    case $run in base-*) bin=.devbin-base/compare ;; esac
    log "compare -- gpu at 1920x1080: $run (base is $base)"
    $bin gpu --size 1920x1080 --frames 5 --cpu-frames 0 --scenes "$scenes" \
      --out "$OUT/gpu-1080p-$run.json" 2>&1 | tee "$OUT/compare-$run.log"
  done
else
  log "compare -- gpu at 1920x1080"
  cpu_frames=1
  [ "$mode" = all ] || cpu_frames=0
  .devbin/compare gpu --size 1920x1080 --frames 5 --cpu-frames "$cpu_frames" \
    --scenes "$scenes" --out "$OUT/gpu-1080p.json" 2>&1 | tee "$OUT/compare.log"
fi

log "profiled (GPU timestamps per dispatch)"
GRIN_GPU_PROFILE=1 .devbin/compare gpu --size 1920x1080 --frames 3 --cpu-frames 0 \
  --out "$OUT/gpu-1080p-profiled.json" 2>&1 | tee "$OUT/profile.log"
log "done"
