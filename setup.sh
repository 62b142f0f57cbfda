#!/usr/bin/env bash
# Installs what masterbuild and its tests need on a fresh Debian machine:
# the Python package (editable, with test extras) and the independent checkers the
# tests run (ffmpeg/ffprobe, flac, mediainfo, sox, cdrdao, cuetools, libcdio), and
# chromium, which renders the HTML report headless in the report tests.
set -euo pipefail
cd "$(dirname "$0")"

tools=(ffmpeg flac mediainfo sox cdrdao cueprint chromium)
missing=()
for t in "${tools[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
# Debian package names where they differ from the command
declare -A package=([cueprint]=cuetools)
pkgs=()
for t in "${missing[@]}"; do pkgs+=("${package[$t]:-$t}"); done
# libraries the tests load directly (libcdio: an independent CD-Text decoder)
for lib in libcdio19; do
  dpkg -s "$lib" >/dev/null 2>&1 || { missing+=("$lib"); pkgs+=("$lib"); }
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi
python3 -m pip install -q -e '.[test]'
