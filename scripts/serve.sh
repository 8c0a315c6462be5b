#!/usr/bin/env bash
# Install (once) and run the gateway. No arguments: embedded defaults (provider keys
# from the environment, else the built-in simulator). Extra arguments go to `switchgear serve`.
source "$(dirname "$0")/_venv.sh" serve ""
exec .venv/bin/switchgear serve "$@"
