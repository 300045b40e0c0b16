"""Text from data or input, made safe for the place it is shown.

Channel names, concepts, file names and error messages can hold anything: rich
markup (``[red]``, ``[/]``), terminal escape sequences (ANSI colours, OSC
hyperlinks and title changes), or TeX (``$\\undefinedcmd$``). Each formatter gets
the text through one function here, so that the text is shown as it is written and
never interpreted:

- :func:`for_terminal`: plain text for a terminal or a log, control characters
  removed (C0 except tab and newline, DEL and C1, which start every escape
  sequence);
- :func:`for_rich`: the same, with rich markup escaped, for ``Console.print``;
- :func:`for_matplotlib`: the same on one line, with ``$`` escaped so that
  matplotlib never parses it as mathtext;
- HTML uses :func:`html.escape` (after :func:`for_terminal`), see
  :func:`for_html`.
"""

from __future__ import annotations

import html
import re

__all__ = ["for_terminal", "for_rich", "for_matplotlib", "for_html"]

# C0 controls except tab (\x09) and newline (\x0a), DEL, C1 controls (\x80-\x9f):
# ESC (\x1b) and CSI (\x9b) start ANSI sequences, OSC (\x9d) and BEL end hyperlinks
# and title changes, CR and backspace rewrite what is already shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Unicode bidirectional overrides and isolates reorder what the reader sees.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: object) -> str:
    """``str(text)`` without control characters (escape sequences cannot start).

    Parameters
    ----------
    text : object
        Anything; converted with ``str``.

    Returns
    -------
    str
        Tabs and newlines are kept; every other C0/C1 control character, DEL and
        the bidirectional overrides are removed.
    """
    return _BIDI.sub("", _CONTROL.sub("", str(text)))


def for_rich(text: object) -> str:
    """Text for ``rich`` output: :func:`for_terminal`, then rich markup escaped.

    ``[red]`` is shown as ``[red]``, and ``[/]`` can no longer close a tag (or make
    rich raise ``MarkupError``).
    """
    from rich.markup import escape

    return escape(for_terminal(text))


def for_matplotlib(text: object) -> str:
    """Text for a matplotlib ``Text`` (title, label, tick label, legend entry).

    Control characters and newlines are removed and every ``$`` is escaped, so the
    string is never parsed as mathtext (``$\\undefinedcmd$`` would raise when the
    figure is drawn); matplotlib shows ``\\$`` as ``$``. Figures are saved with
    ``usetex`` off (see :func:`perceptogram.viz.figure.save_figure`).
    """
    return for_terminal(text).replace("\n", " ").replace("\t", " ").replace("$", r"\$")


def for_html(text: object) -> str:
    """Text for HTML element content or a quoted attribute value."""
    return html.escape(for_terminal(text), quote=True)
