#!/usr/bin/env bash
# Install target/debian/centerscope_*.deb on this machine, check the installed files and
# programs, and remove the package again (CI runs this after packaging/build-deb.sh).
# Needs: lintian, desktop-file-utils, appstream (.ci/run installs them). Root or sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
debs=("$target_dir"/debian/centerscope_*_amd64.deb)
[ "${#debs[@]}" = 1 ] && [ -f "${debs[0]}" ] || { echo "check-deb: expected one .deb, found: ${debs[*]}" >&2; exit 1; }
deb="${debs[0]}"
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
checks=0
step() { echo "== check-deb: $*"; checks=$((checks + 1)); }

step "lintian $(basename "$deb") (errors fail; warnings are listed)"
# Run as a normal user when we can: lintian refuses nothing as root but warns about it.
lintian --fail-on error --info --tag-display-limit 0 "$deb" || fail "lintian reported errors"

step "contents"
contents="$(dpkg-deb --contents "$deb")"
echo "$contents"
for f in ./usr/bin/centerscope ./usr/share/applications/centerscope.desktop \
  ./usr/share/metainfo/io.github.centerscope.centerscope.metainfo.xml \
  ./usr/share/icons/hicolor/48x48/apps/centerscope.png ./usr/share/icons/hicolor/128x128/apps/centerscope.png \
  ./usr/share/icons/hicolor/256x256/apps/centerscope.png ./usr/share/icons/hicolor/512x512/apps/centerscope.png \
  ./usr/share/icons/hicolor/scalable/apps/centerscope.svg \
  ./usr/share/man/man1/centerscope.1.gz ./usr/share/man/man1/centerscope-detect.1.gz \
  ./usr/share/man/man1/centerscope-bench.1.gz ./usr/share/man/man1/centerscope-models.1.gz \
  ./usr/share/man/man1/centerscope-sources.1.gz \
  ./usr/share/bash-completion/completions/centerscope ./usr/share/zsh/vendor-completions/_centerscope \
  ./usr/share/fish/vendor_completions.d/centerscope.fish \
  ./usr/share/doc/centerscope/copyright ./usr/share/doc/centerscope/models.md; do
  grep -q " $f\$" <<<"$contents" || fail "$f is not in the package"
done
depends="$(dpkg-deb --field "$deb" Depends)"
echo "Depends: $depends"
grep -qw ffmpeg <<<"$depends" || fail "Depends lacks ffmpeg"

step "install"
if dpkg -s centerscope >/dev/null 2>&1; then $SUDO apt-get remove -y centerscope; fi
$SUDO apt-get install -y --no-install-recommends "$deb"
installed_files="$(mktemp)"
dpkg -L centerscope > "$installed_files"

step "installed binary"
[ "$(command -v centerscope)" = /usr/bin/centerscope ] || fail "centerscope on PATH is $(command -v centerscope)"
# Run from / so nothing from the source tree can be picked up.
version="$(cd / && /usr/bin/centerscope --version)"
echo "$version"
pkg_version="$(dpkg-query -W -f '${Version}' centerscope)"
echo "$version" | grep -Eq "^centerscope ${pkg_version//./\\.} \(git ([0-9a-f]{7,}|unknown), kernels: (avx512|avx2\+fma|portable) \[" \
  || fail "--version should name version $pkg_version, the git commit and the kernels: $version"
models="$(cd / && /usr/bin/centerscope models)"
echo "$models"
grep -q centernet-mobilenetv3-coco <<<"$models" || fail "models"
out="$(mktemp -d)"
dog="$PWD/tests/fixtures/images/dog.jpg"
(cd / && /usr/bin/centerscope detect "$dog" --output "$out/dog.jsonl")
grep -q '"label":"dog"' "$out/dog.jsonl" || { cat "$out/dog.jsonl"; fail "detect found no dog"; }
echo "detect: $(grep -o '"label":"[a-z ]*"' "$out/dog.jsonl" | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
rm -rf "$out"

step "validators on the installed files"
desktop-file-validate /usr/share/applications/centerscope.desktop || fail "desktop-file-validate"
appstreamcli validate --no-net /usr/share/metainfo/io.github.centerscope.centerscope.metainfo.xml || fail "appstreamcli validate"
zcat /usr/share/man/man1/centerscope.1.gz | grep -q 'centerscope\\-detect(1)' || fail "centerscope.1 does not list detect"
bash -c 'source /usr/share/bash-completion/completions/centerscope && complete -p centerscope' || fail "bash completion"

step "remove"
$SUDO apt-get remove -y centerscope
left=""
while read -r f; do
  case "$f" in /usr/*) if [ -e "$f" ] && [ ! -d "$f" ]; then left="$left $f"; fi ;; esac
done < "$installed_files"
rm -f "$installed_files"
[ -z "$left" ] || fail "left behind after apt-get remove:$left"
echo "check-deb: $(basename "$deb") OK"
# Each step above exits on the first failure, so reaching here means all of them passed.
echo "package checks: $checks passed, 0 failed"
