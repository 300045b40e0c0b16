"""``python -m perceptogram``: the same as the ``perceptogram`` command."""

from perceptogram.cli import main

if __name__ == "__main__":
    main()
