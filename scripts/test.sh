#!/usr/bin/env bash
# Install (once) and run the whole test suite. Extra arguments go to pytest.
source "$(dirname "$0")/_venv.sh" test "[test]"
exec .venv/bin/python -m pytest -n "${SWITCHGEAR_TEST_WORKERS:-2}" "$@"
