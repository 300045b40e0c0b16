"""``python -m perceptogram``: the same as the ``perceptogram`` command.

``python -m`` puts the working directory first on ``sys.path``; it is taken off
before anything else is imported, so that a received folder Perceptogram runs in
cannot shadow a module (the installed ``perceptogram`` command never has it there).
"""

import os
import sys

if sys.path and os.path.realpath(sys.path[0] or os.curdir) == os.path.realpath(os.curdir):
    del sys.path[0]

from perceptogram.cli import main  # noqa: E402 - after the sys.path fix above

if __name__ == "__main__":
    main()
