#!/usr/bin/env sh
# Install the system programs the test suite uses, when they are missing and this machine allows it:
# Graphviz's `dot` (model graphs) and Chromium (the report's browser test), with apt-get, as root.
# Never fails: what cannot be installed is said in one line, and the tests that need it say so too
# (the browser test is then skipped with its reason, unless PARTCLUST_REQUIRE_BROWSER=1).
# PARTCLUST_NO_INSTALL=1 forbids installing anything.
need=""
command -v dot >/dev/null 2>&1 || need="$need graphviz"
if [ -z "${PARTCLUST_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 \
   && ! command -v chromium-browser >/dev/null 2>&1; then
  need="$need chromium"
fi
[ -n "$need" ] || exit 0
if [ "${PARTCLUST_NO_INSTALL:-}" = 1 ]; then
  echo "not installing$need: PARTCLUST_NO_INSTALL=1; the tests that need them will say so"
elif [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "not installing$need: needs root and apt-get (e.g. sudo apt-get install$need); the tests that need them will say so"
elif (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need) >/dev/null 2>&1; then
  echo "installed$need"
else
  echo "could not install$need with apt-get; the tests that need them will say so"
fi
exit 0
