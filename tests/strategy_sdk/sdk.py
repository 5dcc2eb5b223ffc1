"""What the scripts here share: Strategy's SDK made quiet (stdout carries only the JSON
lines the Rust tests read) and a wait for a duplication to settle."""

import logging
import sys

from mstrio import config


def quiet(level=logging.WARNING):
    """No progress bars, polls every 0.2 s, and the SDK's log on stderr only."""
    config.verbose = False
    config.progress_bar = False
    config.delay_between_polling = 0.2
    config._logger_stream_handler.setStream(sys.stderr)
    config.logger.setLevel(level)  # the SDK logs progress at INFO even when not verbose


def settle(dup, expected, timeout=60):
    """Poll until `dup` is stable; it must then be `expected`."""
    if not dup.wait_for_stable_status(timeout=timeout):
        raise AssertionError(f"{dup.id} did not settle in {timeout} s")
    got = dup.status.value if dup.status else None
    if got != expected:
        raise AssertionError(f"{dup.id} is {got}, expected {expected}: {dup.message}")
