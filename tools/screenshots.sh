#!/usr/bin/env bash
# Regenerate the README screenshots in docs/ from the real app in a virtual X display.
# Needs: xvfb, imagemagick, xdotool, ffmpeg; a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/centerscope}
OUT=docs
TMP=$(mktemp -d)
DISPLAY_NUM=:77
Xvfb $DISPLAY_NUM -screen 0 1400x860x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
trap 'kill $XVFB 2>/dev/null || true; rm -rf "$TMP"' EXIT
export DISPLAY=$DISPLAY_NUM HOME=$TMP XDG_DATA_HOME=$TMP XDG_CONFIG_HOME=$TMP
sleep 1

# A clip of the fixture photos (people, a cat, a cup).
ffmpeg -v error -y -loop 1 -t 30 -framerate 25 -i tests/fixtures/images/person.jpg -vf "scale=960:-2" \
  -c:v libx264 -pix_fmt yuv420p "$TMP/people.mp4"

shot() { import -window "$(app_window)" "$OUT/$1"; echo "wrote $OUT/$1"; }
app_window() { xdotool search --name Centerscope | head -n1; }
quit_app() { # Ctrl+Q like a user; kill if it has not gone after 10 s
  local win; win=$(app_window)
  xdotool windowfocus --sync "$win" 2>/dev/null || true
  xdotool key --window "$win" Escape ctrl+q
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
  kill "$1"
}

# 1. Main view: boxes, labels, latency badge and plot.
"$BIN" "$TMP/people.mp4" & APP=$!
sleep 15
shot main-view.png
# 2. The model dropdown open (side panel combo box).
WIN=$(app_window)
eval "$(xdotool getwindowgeometry --shell "$WIN")"
xdotool mousemove --window "$WIN" $((WIDTH - 200)) 60 click 1
sleep 1
shot model-dropdown.png
quit_app $APP

# 3. An error notification: a text file named like a video.
echo "not a video" > "$TMP/broken.mp4"
"$BIN" "$TMP/broken.mp4" & APP=$!
sleep 6
shot error-toast.png
quit_app $APP
