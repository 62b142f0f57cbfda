"""Version numbers of the processing stages, part of every build fingerprint.

Bump a kind's number when its output changes, so masters made with the old code are
rebuilt. Kept apart from the DSP code so planning a build does not import scipy.
"""

STAGE_VERSIONS: dict[str, int] = {
    "gain": 1,
    "dc": 1,
    "highpass": 1,
    "lowpass": 1,
    "eq": 1,
    "width": 1,
    "compressor": 2,  # 2: peak hold and attack one-pole in a numba loop (rounding only)
    "limiter": 4,  # 3: release recursion in numba; 4: folded true-peak taps (rounding only)
}
