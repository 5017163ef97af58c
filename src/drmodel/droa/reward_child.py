"""Run a reward function on sample inputs, the way DeepRacer on AWS's validator does at import. A standalone
script (no drmodel import): drmodel starts it as `python -I reward_child.py` in a temporary folder, only when the
user asked for it (--run-reward-function), and reads one JSON line from it.

Input (stdin, JSON): {"source": <the reward function's text>, "per_call_seconds": float, "memory_bytes": int}.
Output (the original stdout, JSON): {"failures": [<DRoA-style message>, ...], "notes": [...]}; the first failure
is the one DRoA would report. The function's own prints go to stderr.

What DRoA does (aws-solutions/deepracer-on-aws @ 61af778f,
source/libs/reward-function-validation/lib/reward_func_validator/test_reward_function.py): load the module; call
reward_function once on a valid sample with imports forbidden (#L287-L315); check it takes one parameter
(#L618-L624); call it on five sample cars and require a Python float within [-1e5, 1e5] each time
(#L626-L672), with 5 s per call (constants.py#L25). The sample inputs below are drmodel's own values with the
structure DRoA documents (24 keys; waypoints an ndarray when numpy is installed); the track is drmodel's own
oval, not the model's track (DRoA uses the real track's waypoints).
"""

import builtins
import inspect
import json
import math
import os
import signal
import sys
import traceback
import types

OBJECT_COUNT = 6


def _track(n=70, a=6.0, b=3.2, cx=7.5, cy=4.2):
    """An oval centre line of n points (the last equal to the first), and its width and length."""
    points = []
    for i in range(n):
        t = 2 * math.pi * (i % (n - 1)) / (n - 1)
        points.append([cx + a * math.cos(t), cy + b * math.sin(t)])
    length = sum(math.dist(points[i - 1], points[i]) for i in range(1, n))
    return points, 1.07, length


def _objects(points):
    step = len(points) // (OBJECT_COUNT + 1)
    return [[round(points[(k + 1) * step][0], 3), round(points[(k + 1) * step][1], 3)] for k in range(OBJECT_COUNT)]


def sample_cars():
    """(name, params) for the valid sample and the four sample cars."""
    points, width, length = _track()
    try:
        import numpy

        waypoints = numpy.array(points, dtype=float)
        numpy_missing = False
    except ImportError:
        waypoints = [tuple(p) for p in points]
        numpy_missing = True
    n = len(points)

    def at(i, outward=0.0):
        x, y = points[i]
        cx, cy = 7.5, 4.2
        d = math.hypot(x - cx, y - cy) or 1.0
        return x + (x - cx) / d * outward, y + (y - cy) / d * outward

    common = {
        "track_width": width, "track_length": length, "waypoints": waypoints, "is_left_of_center": True,
        "is_reversed": False, "closest_objects": [0, 1], "objects_location": _objects(points),
        "objects_left_of_center": [True, False, True, False, True, False], "object_in_camera": False,
        "objects_speed": [0.0] * OBJECT_COUNT, "objects_heading": [0.5 * k for k in range(OBJECT_COUNT)],
        "objects_distance": [2.5 * (k + 1) for k in range(OBJECT_COUNT)], "is_crashed": False,
    }

    def car(i, **values):
        x, y = at(i, values.pop("outward", 0.0))
        return dict(common, x=x, y=y, **values)

    return numpy_missing, [
        ("valid", car(0, outward=-0.1, all_wheels_on_track=True, distance_from_center=0, heading=0, progress=0,
                      steps=1, speed=0.6, steering_angle=5, closest_waypoints=[0, 1], is_offtrack=False)),
        ("start", car(0, all_wheels_on_track=True, distance_from_center=0, heading=0, progress=0, steps=1,
                      speed=0.2, steering_angle=0.5, closest_waypoints=[0, 1], is_offtrack=False)),
        ("progress", car(n // 2, all_wheels_on_track=True, distance_from_center=0, heading=270.5, progress=50,
                         steps=120, speed=1.5, steering_angle=10, closest_waypoints=[n // 2, n // 2 + 1],
                         is_offtrack=False)),
        ("off_track", car(0, outward=width, all_wheels_on_track=False, distance_from_center=width, heading=270.5,
                          progress=0, steps=1, speed=2, steering_angle=20, closest_waypoints=[0, 1],
                          is_offtrack=True)),
        ("finish", car(n - 1, all_wheels_on_track=True, distance_from_center=0, heading=270.5, progress=100,
                       steps=9000, speed=4.0, steering_angle=0, closest_waypoints=[n - 2, n - 1],
                       is_offtrack=False)),
    ]


CAR_MESSAGES = {
    "start": "Vehicle failed at start position. Reward: {}",
    "progress": "Vehicle failed to make progress. Reward: {}",
    "off_track": "Off-track vehicle failed to make progress. Reward: {}",
    "finish": "Vehicle failed to make it to end of track. Reward: {}",
}


class TimedOut(BaseException):
    pass


def _message(exc):
    """The text DRoA keeps of an exception: its last line, after the first ':'."""
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    head, colon, rest = last.partition(":")
    return rest.strip() if colon else last


def _call(fn, params, seconds):
    timer = hasattr(signal, "setitimer")
    if timer:
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(params)
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _in_range(reward):
    return isinstance(reward, float) and -1e5 <= reward <= 1e5


def run(source, seconds):
    notes = []
    numpy_missing, cars = sample_cars()
    if numpy_missing:
        notes.append("numpy is not installed here: the sample waypoints are a list, where DRoA passes a numpy array")
    module = types.ModuleType("reward_function")
    module.__file__ = "reward_function.py"
    try:
        exec(compile(source, "reward_function.py", "exec"), module.__dict__)  # noqa: S102  # asked for by the user
    except TimedOut:
        return ["Timed Out"], notes
    except BaseException as exc:  # noqa: BLE001  # any failure of the module is the answer
        return [_message(exc)], notes
    fn = getattr(module, "reward_function", None)
    if fn is None:
        return ["module 'reward_function' has no attribute 'reward_function'"], notes
    valid = dict(cars[0][1])
    real_import = builtins.__import__

    def no_import(name, *args, **kwargs):
        raise ImportError(json.dumps({"message": "Import should be put at the top of file, module: " + name,
                                      "type": "IMPORT_ERROR"}))

    builtins.__import__ = no_import
    try:
        _call(fn, valid, seconds)
    except TimedOut:
        return ["Timed Out"], notes
    except BaseException as exc:  # noqa: BLE001  # any failure of the call is DRoA's answer
        text = exc.args[0] if isinstance(exc, ImportError) and exc.args else str(exc)
        if isinstance(exc, MemoryError):
            text = "MemoryError: over the memory limit drmodel set"
        return [f'Unsafe builtin function detected: "{text}".'], notes
    finally:
        builtins.__import__ = real_import
    failures = []
    try:
        if len(inspect.signature(fn).parameters) != 1:
            failures.append("Invalid reward function signature. Should be def reward_function(params)")
    except (TypeError, ValueError) as exc:
        failures.append(_message(exc))
    checks = [("valid", None)] + [(name, CAR_MESSAGES[name]) for name in ("start", "progress", "off_track", "finish")]
    samples = dict(cars)
    for name, template in checks:
        try:
            reward = _call(fn, dict(samples[name]), seconds)
        except TimedOut:
            failures.append("Timed Out")
            continue
        except BaseException as exc:  # noqa: BLE001  # any failure with a sample car is a finding
            failures.append(_message(exc))
            continue
        if template is None:
            if not isinstance(reward, float):
                failures.append(f"Method returned non-floating type value: {reward}")
            elif not _in_range(reward):
                failures.append(f"Reward score out of range. Reward: {reward}, range: [-1e5, 1e5]")
        elif not _in_range(reward):
            failures.append(template.format(reward))
    return failures, notes


def main():
    request = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the function's prints (and any library's) go to stderr
    sys.stdout = sys.stderr
    try:
        import resource

        limit = int(request["memory_bytes"])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass  # Windows has no resource module: the parent's time limit still holds
    if hasattr(signal, "SIGALRM"):
        def alarm(signum, frame):
            raise TimedOut()

        signal.signal(signal.SIGALRM, alarm)
    failures, notes = run(request["source"], float(request["per_call_seconds"]))
    out.write(json.dumps({"failures": failures, "notes": notes}) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
