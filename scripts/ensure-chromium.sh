#!/usr/bin/env bash
# Make sure a headless Chromium is on PATH for the HTML-report rendering test.
# Idempotent: does nothing when chromium is already installed. Installs Debian's package as root
# (or through sudo); elsewhere it only says what to do, and the test skips with that reason.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no apt-get here; install Chromium yourself (the rendering test skips without it)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "ensure-chromium: not root and no passwordless sudo; run: apt-get install -y chromium" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
  echo "ensure-chromium: apt-get could not install chromium; the rendering test skips" >&2
  exit 0
fi
command -v chromium >/dev/null 2>&1 && echo "ensure-chromium: $(chromium --version 2>/dev/null || echo installed)"
