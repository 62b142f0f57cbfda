"""Helper threads only where a core is spare; the meter reads the same either way."""

from __future__ import annotations

import numpy as np
import pytest

from masterbuild import threads
from masterbuild.dsp.loudness import measure


@pytest.mark.parametrize(
    ("jobs", "cores", "spare"), [("1", 2, True), ("2", 2, False), ("3", 2, False), ("2", 8, True)]
)
def test_spare_core_compares_build_jobs_with_cores(monkeypatch, jobs, cores, spare) -> None:
    monkeypatch.setenv(threads.JOBS_ENV, jobs)
    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    assert threads.build_jobs() == int(jobs)
    assert threads.spare_core() is spare


def test_without_the_variable_a_main_process_is_one_job(monkeypatch) -> None:
    monkeypatch.delenv(threads.JOBS_ENV, raising=False)
    assert threads.build_jobs() == 1  # pytest runs in the main process
    monkeypatch.setenv(threads.JOBS_ENV, "nonsense")
    assert threads.build_jobs() == 1


def test_meter_result_does_not_depend_on_the_helper_thread(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    x = np.clip(rng.normal(0, 0.3, (48000 * 7, 2)), -1, 1)
    readings = []
    for spare in (True, False):
        monkeypatch.setattr("masterbuild.dsp.loudness.spare_core", lambda s=spare: s)
        readings.append(measure(x, 48000))
    with_thread, alone = readings
    assert with_thread.true_peak_dbtp == alone.true_peak_dbtp
    assert with_thread.integrated_lufs == alone.integrated_lufs
    np.testing.assert_array_equal(with_thread.block_powers, alone.block_powers)
