#!/usr/bin/env bash
# Builds askfirst without cargo-leptos: the two browser bundles (wasm + wasm-bindgen), the
# site directory (target/site), and the server binary. The bundles are always built
# optimised (LTO, opt-level "z", wasm-opt -Oz) and precompressed: the browser tests then
# measure and load what people get. `--release` builds the server optimised too.
#
# Prints the path of the server binary on its last line.
source "$(dirname "$0")/lib.sh"

release=0
[[ "${1:-}" == "--release" ]] && release=1
TARGET_DIR=$(target_dir)

if (( release )); then
  server_args=(--release); server_out=release
else
  server_args=(); server_out=debug
fi

# The approver's bundle (inbox, card, small widgets; within the first-load budget) and the
# console's (the admin and manager pages' islands too). One cargo call each: built together,
# cargo would unify their features and both would hold the console.
bundles=("askfirst-browser:askfirst_browser:askfirst" "askfirst-console:askfirst_console:askfirst_console")
wasms=()
for bundle in "${bundles[@]}"; do
  IFS=: read -r crate file _ <<<"$bundle"
  log "building the browser bundle $crate (hydrate, wasm32, wasm-release)"
  cargo build -p "$crate" --lib --target wasm32-unknown-unknown --profile wasm-release
  wasms+=("$TARGET_DIR/wasm32-unknown-unknown/wasm-release/$file.wasm")
done

# The site is assembled again only when what goes into it changed: a warm start with
# nothing changed skips wasm-bindgen, wasm-opt and precompression (tens of seconds).
stamp_file="$ROOT/target/site.stamp"
stamp=$( { wasm-bindgen --version; sha256sum "${wasms[@]}" style/main.css \
  scripts/precompress.mjs; find public -type f -print0 | sort -z | xargs -0 sha256sum; } \
  | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" && -d "$SITE_ROOT/pkg" ]]; then
  log "$SITE_ROOT is up to date"
else
  rm -f "$stamp_file"
  log "assembling $SITE_ROOT"
  rm -rf "$SITE_ROOT"
  mkdir -p "$SITE_ROOT/pkg"
  cp -R public/. "$SITE_ROOT/"
  cp style/main.css "$SITE_ROOT/pkg/askfirst.css"
  for i in "${!bundles[@]}"; do
    IFS=: read -r _ _ name <<<"${bundles[$i]}"
    wasm-bindgen --target web --no-typescript --out-dir "$SITE_ROOT/pkg" --out-name "$name" "${wasms[$i]}"
    log "optimising $name (wasm-opt -Oz)"
    end2end/node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$SITE_ROOT/pkg/${name}_bg.wasm" -o "$SITE_ROOT/pkg/${name}_bg.wasm"
  done
  log "precompressing static files"
  node scripts/precompress.mjs "$SITE_ROOT"
  echo "$stamp" > "$stamp_file"
fi

log "building the server (ssr)"
cargo build --bin askfirst --no-default-features --features ssr "${server_args[@]}"
echo "$TARGET_DIR/$server_out/askfirst"
