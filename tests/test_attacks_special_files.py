"""Special files where an input is expected: only regular files are read, sizes capped first.

Every reader of an input (configuration, image and label tables, covariates, images,
EEG files, cache sidecars, manifests, download records) is given a FIFO (which would
block), ``/dev/zero`` (which never ends), a socket, ``/proc/self/pagemap`` (0 bytes
by its size, gigabytes by its content) and ``/proc/self/environ`` (the user's
secrets). Each attack runs in a child process under a 2 GiB address-space limit
(``RLIMIT_AS``) and a 20 s alarm, so a hang or an allocation of gigabytes shows up as
a failed attack rather than a stuck test run; the child's environment holds a secret
that no message may show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from attack_tools import SECRET, SRC
from special_file_attacks import ATTACKS

MEMORY_LIMIT = 2 << 30
ALARM_S = 20

_CHILD = textwrap.dedent("""
    import json, resource, signal, sys, tempfile, traceback
    from pathlib import Path
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    sys.path.insert(0, {tests!r})
    from special_file_attacks import ATTACKS
    from perceptogram.errors import PerceptogramError

    class Hang(BaseException):
        pass

    def alarm(*_):
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    for name in sys.argv[1:]:
        print("START " + json.dumps(name), flush=True)
        folder = Path(tempfile.mkdtemp(dir={base!r}))
        signal.alarm({alarm})
        try:
            ATTACKS[name][1](folder)
            outcome = {{"error": None, "message": "", "ours": False}}
        except Hang:
            outcome = {{"error": "HANG", "message": "no answer in {alarm} s", "ours": False}}
        except BaseException as exc:
            outcome = {{"error": type(exc).__name__, "message": str(exc),
                        "ours": isinstance(exc, PerceptogramError)}}
        finally:
            signal.alarm(0)
        print("RESULT " + json.dumps(outcome), flush=True)
""")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    base = tmp_path_factory.mktemp("special")
    code = _CHILD.format(limit=MEMORY_LIMIT, tests=str(Path(__file__).parent),
                         base=str(base), alarm=ALARM_S)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path]),
           "PG_SECRET": SECRET, "PERCEPTOGRAM_QUIET": "1", "OPENBLAS_NUM_THREADS": "1"}
    results: dict[str, dict] = {}
    remaining = list(ATTACKS)
    while remaining:
        proc = subprocess.run([sys.executable, "-c", code, *remaining], env=env,
                              capture_output=True, text=True, timeout=900,
                              stdin=subprocess.DEVNULL)
        current = None
        for line in proc.stdout.splitlines():
            if line.startswith("START "):
                current = json.loads(line[6:])
            elif line.startswith("RESULT ") and current is not None:
                results[current] = json.loads(line[7:])
                current = None
        if current is not None:  # the child died during this attack
            results[current] = {"error": "CRASH", "message": f"exit {proc.returncode}",
                                "ours": False}
        elif proc.returncode != 0 and not results:
            pytest.fail(f"the attack child failed: {proc.stderr[-2000:]}")
        remaining = [name for name in remaining if name not in results]
    return results


@pytest.mark.parametrize("name", list(ATTACKS))
def test_special_file_is_refused_or_handled(outcomes, name):
    expected = ATTACKS[name][0]
    outcome = outcomes[name]
    if expected == "handled":
        assert outcome["error"] is None, outcome
        return
    assert outcome["ours"], outcome
    message = outcome["message"]
    assert "\n" not in message and len(message) < 600, message
    assert SECRET not in message and "Internal error" not in message


def test_special_file_attack_count(outcomes):
    clean = sum((o["error"] is None) if ATTACKS[n][0] == "handled" else o["ours"]
                for n, o in outcomes.items())
    print(f"\nspecial-file attacks tried: {len(outcomes)}, refused or handled cleanly: {clean}")
    assert clean == len(outcomes) == len(ATTACKS)
