#!/usr/bin/env bash
# A new user's first run, measured and checked: clone this repository (its committed HEAD) into
# a temporary folder, run `make serve` there and time it until the server answers, print that
# time and the size of the .venv it built; then check that this base install holds no model,
# Ray or test dependency and that the light commands, the server and a model command's
# missing-extra error work without them. .ci/run calls it; rerun it to refresh README's
# figures. Uses pip's cache as a user's machine would (PIP_NO_CACHE_DIR=1 for a cold one).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/datasety-fresh.XXXXXX")
server=""
cleanup() {
    if [ -n "$server" ]; then
        kill -TERM -- "-$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

git clone -q "$repo" "$work/datasety"
cd "$work/datasety"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATASETY_PORT=$port DATASETY_DATA_DIR="$work/data"

start=$(date +%s.%N)
# Its own process group, so the cleanup stops make and the server it started together.
setsid make serve >"$work/serve.log" 2>&1 &
server=$!
until python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/v1/datasets', timeout=1)" 2>/dev/null; do
    if ! kill -0 "$server" 2>/dev/null; then
        cat "$work/serve.log" >&2
        echo "fresh_serve: make serve exited before the server answered" >&2
        exit 1
    fi
    if python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $start > 900 else 1)"; then
        echo "fresh_serve: no answer after 900 s" >&2
        exit 1
    fi
    sleep 0.2
done
seconds=$(python3 -c "print(f'{$(date +%s.%N) - $start:.0f}')")
size=$(du -sm .venv | cut -f1)
echo "fresh clone: make serve answered after ${seconds} s; .venv is ${size} MB"

# The base install: nothing heavy, and what it has works.
py=.venv/bin/python
$py - <<'PY'
import importlib.util
heavy = ["torch", "transformers", "ray", "huggingface_hub", "playwright", "pytest", "mypy", "ruff"]
found = [name for name in heavy if importlib.util.find_spec(name)]
assert not found, f"the base install holds {found}"
PY
.venv/bin/datasety --help >/dev/null
$py -c "from PIL import Image; Image.new('RGB', (64, 48), 'red').save('$work/in.png')"
echo "a red image" >"$work/in.txt"
.venv/bin/datasety resize --input-image "$work/in.png" --output-image "$work/out/in.jpg" -r 32x32 >/dev/null
test -f "$work/out/in.jpg" && test -f "$work/out/in.txt"
$py -c "import urllib.request as u, json; assert 'commands' in json.load(u.urlopen('http://127.0.0.1:$port/v1/commands'))"
# A model command without its extra: one line that says what to install, exit 1.
set +e
.venv/bin/datasety caption -i "$work/out" --device cpu >"$work/caption.out" 2>"$work/caption.err"
code=$?
set -e
if [ "$code" != 1 ] || [ "$(wc -l <"$work/caption.err")" != 1 ] || ! grep -q "pip install 'datasety\[caption\]'" "$work/caption.err"; then
    echo "fresh_serve: caption without its extra said (exit $code):" >&2
    cat "$work/caption.err" >&2
    exit 1
fi
echo "base install: no torch/transformers/ray/test tools; --help, resize, the server and caption's missing-extra line work"
