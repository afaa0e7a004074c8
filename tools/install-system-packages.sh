#!/bin/sh
# Install the Debian packages listed in requirements/debian.txt that are missing.
# Never fails the test run: what cannot be installed is reported, and the tests
# that need it skip with a reason that says so.
cd "$(dirname "$0")/.." || exit 0
missing=""
for pkg in $(grep -v '^#' requirements/debian.txt); do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "WARNING: cannot install Debian packages:$missing (needs root and apt-get);" \
         "the tests that need them will SKIP" >&2
    exit 0
fi
echo "Installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -q && apt-get install -y -q --no-install-recommends $missing; } >&2 \
    || echo "WARNING: apt-get failed for:$missing; the tests that need them will SKIP" >&2
exit 0
