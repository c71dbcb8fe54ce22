#!/usr/bin/env bash
# Make TorchSharp 0.107's libLibTorchSharp.so load on hosts whose libstdc++ predates GCC 13 (Debian 12).
# The library needs GLIBCXX_3.4.32 for one symbol only, std::ios_base_library_init(). For each copy
# under DIR...: drop that symbol's version, flag the GLIBCXX_3.4.32 need weak, and provide the symbol
# from a tiny shim library (libstdcxx_compat.so) placed beside it. Idempotent; a no-op on hosts whose
# libstdc++ has GLIBCXX_3.4.32 and in folders without libLibTorchSharp.so. Run by Directory.Build.targets
# after every build and publish.   Usage: fix-glibcxx.sh DIR...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

libs="$(find "$@" -name libLibTorchSharp.so -type f 2>/dev/null || true)"
[ -n "$libs" ] || exit 0

libstdcxx="$(/sbin/ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')"
if [ -n "$libstdcxx" ] && grep -q GLIBCXX_3.4.32 "$libstdcxx"; then exit 0; fi

for tool in patchelf g++ gcc readelf; do
  command -v "$tool" >/dev/null || { echo "fix-glibcxx: '$tool' is required to patch TorchSharp for this libstdc++ (apt-get install -y patchelf g++ binutils)" >&2; exit 1; }
done

# Build the two helpers once per checkout; parallel builds of several projects share them.
cache="$here/../../.artifacts/torchsharp-fix"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -x "$cache/elf_weaken_version" ] || [ "$here/elf_weaken_version.c" -nt "$cache/elf_weaken_version" ]; then
  gcc -O2 -o "$cache/elf_weaken_version.tmp" "$here/elf_weaken_version.c" && mv "$cache/elf_weaken_version.tmp" "$cache/elf_weaken_version"
fi
if [ ! -f "$cache/libstdcxx_compat.so" ]; then
  printf '#include <ios>\nnamespace std { void ios_base_library_init() { static ios_base::Init init; } }\n' \
    | g++ -x c++ -shared -fPIC -O2 -o "$cache/libstdcxx_compat.tmp.so" - && mv "$cache/libstdcxx_compat.tmp.so" "$cache/libstdcxx_compat.so"
fi

while read -r lib; do
  dir="$(dirname "$lib")"
  cp -f "$cache/libstdcxx_compat.so" "$dir/libstdcxx_compat.so"
  if readelf -d "$lib" | grep -q libstdcxx_compat.so; then continue; fi
  patchelf --clear-symbol-version _ZSt21ios_base_library_initv "$lib"
  "$cache/elf_weaken_version" "$lib" GLIBCXX_3.4.32
  patchelf --add-needed libstdcxx_compat.so --set-rpath '$ORIGIN' "$lib"
  echo "fix-glibcxx: patched $lib"
done <<< "$libs"
