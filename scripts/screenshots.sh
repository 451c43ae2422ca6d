#!/usr/bin/env bash
# Remakes docs/screenshots/*.png: the web UI's dashboard, task list, "since
# you left" view and task page, desktop (1280 px) and phone (390 px), light
# and dark, from a seeded night of ~320 tasks over 20 hours in three
# streams (tests/integration/night.rs). Needs chromium and chromedriver
# (apt-get install -y chromium chromium-driver). Look at every picture
# afterwards: a screenshot nobody looked at proves nothing.
#
# With pngquant on the PATH (apt-get install -y pngquant) the PNGs are
# reduced to 64 colours, which keeps the folder at a few hundred KB.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --test integration review_ui::screenshots_for_the_docs -- --ignored --exact
if command -v pngquant >/dev/null 2>&1; then
  pngquant --force --ext .png --speed 1 64 docs/screenshots/*.png
else
  echo "pngquant not found: the PNGs stay full size (apt-get install -y pngquant)" >&2
fi
du -ch docs/screenshots/*.png | tail -1
