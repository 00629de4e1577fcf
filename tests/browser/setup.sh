#!/usr/bin/env bash
# Installs what the browser tests need, only when absent (quick when present):
# Debian's chromium, a CJK font (the console speaks Chinese; screenshots need
# glyphs), Node.js/npm, and playwright-core from package-lock.json.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
need=()
[[ -x /usr/bin/chromium ]] || need+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-noto-cjk)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
command -v curl >/dev/null 2>&1 || need+=(curl)
if ((${#need[@]})); then
  echo "tests/browser/setup.sh: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [[ ! -f "$here/node_modules/playwright-core/package.json" ]] ||
  ! node -e 'process.exit(require(process.argv[1]).version===require(process.argv[2]).devDependencies["playwright-core"]?0:1)' \
    "$here/node_modules/playwright-core/package.json" "$here/package.json"; then
  (cd "$here" && npm ci --no-audit --no-fund --silent)
fi
