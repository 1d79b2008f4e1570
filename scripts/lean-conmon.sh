#!/bin/sh
# Makes in DIR (default: the project's .venv/libexec/pier) a copy of the conmon on PATH
# linked against native/nojournal.c instead of libsystemd (docs/decisions.md, "conmon
# without the journal"), and records the sha256 of the conmon it copied in
# DIR/conmon.source: pierd uses the copy only while that is still the conmon on PATH.
# Idempotent; remakes the copy when conmon changed. Needs gcc and patchelf.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/.venv/libexec/pier}
conmon=$(command -v conmon) || { echo "lean-conmon: no conmon on PATH" >&2; exit 1; }
sum=$(sha256sum "$conmon" | cut -d' ' -f1)
if [ -x "$dir/conmon" ] && [ -f "$dir/libsystemd.so.0" ] && [ -f "$dir/conmon.source" ] &&
    [ "$(cut -d' ' -f1 "$dir/conmon.source")" = "$sum" ] &&
    [ "$dir/libsystemd.so.0" -nt "$here/native/nojournal.c" ] &&
    [ "$dir/libsystemd.so.0" -nt "$here/native/nojournal.map" ]; then
    exit 0
fi
# The stub has one function: a conmon that takes more from libsystemd keeps it.
imports=$(nm -D --undefined-only "$conmon" | awk '/@LIBSYSTEMD_/ {print $2}')
if [ "$imports" != "sd_journal_sendv_with_location@LIBSYSTEMD_209" ]; then
    echo "lean-conmon: $conmon takes from libsystemd: $imports; keeping it as it is" >&2
    rm -f "$dir/conmon" "$dir/conmon.source"
    exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.make.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
gcc -shared -fPIC -O2 -Wall -Werror -Wl,-soname,libsystemd.so.0 \
    -Wl,--version-script="$here/native/nojournal.map" \
    -o "$tmp/libsystemd.so.0" "$here/native/nojournal.c"
cp "$conmon" "$tmp/conmon"
# RUNPATH is this binary's own: crun, which conmon starts, still loads the real one.
patchelf --set-rpath '$ORIGIN' "$tmp/conmon"
"$tmp/conmon" --version >/dev/null
printf '%s %s\n' "$sum" "$conmon" > "$tmp/conmon.source"
mv -f "$tmp/libsystemd.so.0" "$dir/libsystemd.so.0"
mv -f "$tmp/conmon" "$dir/conmon"
mv -f "$tmp/conmon.source" "$dir/conmon.source"
