#!/bin/sh
# Installs nnkern without cargo-c: the files `cargo cinstall` installs, plus a CMake package.
#
#   bindings/cmake/install.sh PREFIX
#
# PREFIX/lib/libnnkern.so.X.Y.Z (soname libnnkern.so.X.Y for 0.x versions, as cargo-c names it)
#   with the links libnnkern.so.X.Y and libnnkern.so, PREFIX/lib/libnnkern.a,
# PREFIX/include/nnkern/{nnkern.h,nnkern.hpp}, PREFIX/lib/pkgconfig/nnkern.pc,
# PREFIX/lib/cmake/nnkern/{nnkernConfig.cmake,nnkernConfigVersion.cmake}.
# Builds in target/install (its own target directory: the soname is a link argument).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 PREFIX" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
prefix=$(cd "$1" && pwd)
cd "$root"

version=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' Cargo.toml | head -n 1)
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
if [ "$major" = 0 ]; then soversion="$major.$minor"; else soversion="$major"; fi
soname="libnnkern.so.$soversion"

export CARGO_TARGET_DIR="$root/target/install"
# One build of both libraries; rustc also reports the system libraries a static link needs.
log=$(cargo rustc --release -p nnkern --lib --crate-type cdylib,staticlib -- \
    -C "link-arg=-Wl,-soname,$soname" --print native-static-libs 2>&1) || { echo "$log" >&2; exit 1; }
static_libs=$(echo "$log" | sed -n 's/.*native-static-libs: //p' | tail -n 1)
[ -n "$static_libs" ] || { echo "$log" >&2; echo "no native-static-libs line" >&2; exit 1; }
out="$CARGO_TARGET_DIR/release"

lib="$prefix/lib"
inc="$prefix/include/nnkern"
mkdir -p "$lib/pkgconfig" "$lib/cmake/nnkern" "$inc"
install -m 644 include/nnkern.h bindings/cpp/nnkern.hpp "$inc/"
install -m 644 "$out/libnnkern.a" "$lib/libnnkern.a"
install -m 755 "$out/libnnkern.so" "$lib/libnnkern.so.$version"
ln -sf "libnnkern.so.$version" "$lib/$soname"
ln -sf "libnnkern.so.$version" "$lib/libnnkern.so"

description=$(sed -n 's/^description = "\([^"]*\)"$/\1/p' Cargo.toml | head -n 1)
cat >"$lib/pkgconfig/nnkern.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: nnkern
Description: $description
Version: $version
Libs: -L\${libdir} -lnnkern
Cflags: -I\${includedir}/nnkern
Libs.private: $static_libs
PC

install -m 644 bindings/cmake/nnkernConfig.cmake "$lib/cmake/nnkern/"
cat >"$lib/cmake/nnkern/nnkernConfigVersion.cmake" <<CM
# nnkern $version: compatible with requests of the same major version (same minor for 0.x).
set(PACKAGE_VERSION "$version")
set(PACKAGE_VERSION_COMPATIBLE FALSE)
if(NOT PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  if(PACKAGE_FIND_VERSION_MAJOR EQUAL $major AND ($major GREATER 0 OR PACKAGE_FIND_VERSION_MINOR EQUAL $minor))
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  endif()
endif()
if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
  set(PACKAGE_VERSION_EXACT TRUE)
endif()
CM
echo "nnkern $version installed in $prefix"
