#!/usr/bin/env bash
# Runs every test, on a fresh machine too: first installs what the tests
# use and the machine lacks (git, rsync, chromium and chromedriver for the
# web UI tests, python3 for the playbook's snippets, util-linux's script for
# a terminal), with apt-get; then `cargo test`, passing on any arguments.
# No test skips a missing tool: it fails and names the package.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package that provides it
needed=(git:git rsync:rsync chromium:chromium chromedriver:chromium-driver
        python3:python3 script:util-linux ps:procps)
missing=()
for pair in "${needed[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "Error: the tests need these packages, and apt-get is not here to install them: ${missing[*]}" >&2
    echo "  Install them with your package manager, then run $0 again." >&2
    exit 1
  fi
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing what the tests need: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

exec cargo test "$@"
