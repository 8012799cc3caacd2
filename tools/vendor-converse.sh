#!/usr/bin/env bash
# Re-creates dotimely_chat/web/static/vendor/converse/ from the npm package converse.js at the pinned version,
# checking the tarball against the registry's recorded integrity. Only the files the page loads are kept
# (no source maps, no OMEMO, no locale chunks: the page runs in English) plus the MPL-2.0 licence.
# Run it only to change the pin; the files are committed so that `up` needs no npm and no network.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=14.0.0
INTEGRITY="sha512-LFUg030jDalV47vI/vyVPqYPZfJYXFbubq8v0cFDe2zXNeeGEk3Up0Fj/WTzT6t+6do+cAIToy73eAj7RNDj2Q=="
DEST=dotimely_chat/web/static/vendor/converse
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "converse.js@$VERSION" >/dev/null)
tarball="$work/converse.js-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[ "$actual" = "$INTEGRITY" ] || { echo "integrity mismatch: $actual" >&2; exit 1; }
tar xzf "$tarball" -C "$work"
rm -rf "$DEST" && mkdir -p "$DEST/images"
cp "$work/package/dist/converse.min.js" "$work/package/dist/converse.min.css" "$work/package/dist/emoji.json" "$DEST/"
cp -r "$work/package/dist/webfonts" "$DEST/"
cp "$work/package/dist/images/favicon.ico" "$DEST/images/"
cp -r "$work/package/dist/images/custom_emojis" "$DEST/images/"
cp "$work/package/LICENSE" "$work/package/COPYRIGHT" "$DEST/" 2>/dev/null || cp "$work/package/LICENSE" "$DEST/"
echo "converse.js $VERSION vendored into $DEST"
