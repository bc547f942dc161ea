#!/usr/bin/env bash
# The dashboard's browser tests drive Debian's Chromium (playwright-core cannot download a
# browser here). Installs it when missing and we may; otherwise the browser tests skip.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: chromium is missing and cannot be installed here; browser tests will skip" >&2
  exit 0
fi
echo "ensure-chromium: installing Debian's chromium for the dashboard tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } ||
  echo "ensure-chromium: apt-get could not install chromium; browser tests will skip" >&2
exit 0
