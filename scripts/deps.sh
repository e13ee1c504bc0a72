#!/usr/bin/env bash
# Install the Debian packages CAI needs, only those missing. `deps.sh build` for building and running
# cai; `deps.sh test` adds what the tests need (PyTorch for the golden vectors, clang for the fuzzers,
# Node.js for the state-machine validator, SLURM + munge for the HPC engine's one-node test cluster).
set -euo pipefail
want=(gcc make pkg-config libdnnl-dev libcurl4-openssl-dev libssl-dev libcjson-dev libcfitsio-dev zlib1g-dev
      libcmocka-dev gnuplot-nox openmpi-bin libopenmpi-dev zip unzip libhdf5-dev)
if [ "${1:-build}" = test ]; then
  want+=(python3-torch libopenblas0-openmp clang libclang-rt-14-dev nodejs busybox-static fitsverify
         slurm-wlm munge python3-astropy python3-h5py)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
