#!/usr/bin/env bash
# Refreshes the console's vendored Apache ECharts from the npm registry (no CDN:
# the console must work on an offline customs intranet). Pinned version; the
# sha256 of the vendored file is recorded in vendor/SHA256SUMS and checked by
# `vendor.sh --check`.
set -euo pipefail
ECHARTS_VERSION=6.1.0
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/vendor"
if [[ "${1:-}" == "--check" ]]; then
  sha256sum -c SHA256SUMS
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "echarts@${ECHARTS_VERSION}" >/dev/null)
tar -xzf "$tmp/echarts-${ECHARTS_VERSION}.tgz" -C "$tmp" package/dist/echarts.min.js package/LICENSE package/NOTICE
cp "$tmp/package/dist/echarts.min.js" echarts.min.js
cp "$tmp/package/LICENSE" LICENSE-echarts
cp "$tmp/package/NOTICE" NOTICE-echarts
{
  echo "# echarts@${ECHARTS_VERSION} from the npm registry (npm pack), dist/echarts.min.js"
  sha256sum echarts.min.js LICENSE-echarts NOTICE-echarts
} > SHA256SUMS
cat SHA256SUMS
