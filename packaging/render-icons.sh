#!/usr/bin/env bash
# Re-render the packaged PNG icons from assets/icons/centerscope.svg (only needed after the SVG
# changes; the PNGs are committed). Needs rsvg-convert (Debian: librsvg2-bin).
set -euo pipefail
cd "$(dirname "$0")/.."
for size in 48 64 128 256 512; do
  rsvg-convert -w "$size" -h "$size" assets/icons/centerscope.svg -o "assets/icons/centerscope-$size.png"
done
