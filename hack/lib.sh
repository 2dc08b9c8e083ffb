# Shared by the build scripts; source it.

# build_cached DEST MODULE_DIR LDFLAGS OUT PACKAGE...
# `go build` PACKAGE... of the module in MODULE_DIR into the folder DEST, once: a DEST that holds
# `.complete` is kept as it is, and a half-built folder never counts. OUT is the binary's name for
# one package, or "." for several (each named by go).
build_cached() {
  local dest=$1 module=$2 ldflags=$3 out=$4
  shift 4
  [ -f "$dest/.complete" ] && return 0
  local tmp="$dest.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  echo "building $(basename "$dest") (first time only; a few minutes)" >&2
  (cd "$module" && go build -ldflags "$ldflags" -o "$tmp/${out#.}" "$@")
  touch "$tmp/.complete"
  rm -rf "$dest" && mv "$tmp" "$dest"
}
