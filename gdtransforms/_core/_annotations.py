"""Real objects, not strings, in the annotations of gdtransforms' functions.

Every module uses ``from __future__ import annotations``, which stores each
annotation as its source text. Code that inspects a signature, such as
"does this optimizer's ``learning_rate`` accept a schedule?"
(``inspect.signature(f).parameters["learning_rate"].annotation in
(ScalarOrSchedule, Schedule)``), would see the string ``"ScalarOrSchedule"``
and conclude that it does not. :func:`resolve_annotations` evaluates the
strings once, at import, in each function's own module.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["resolve_annotations"]


def _evaluate(text: str, namespace: dict[str, Any]) -> Any:
    """The object an annotation's text names, or the text when it cannot be evaluated at run time."""
    try:
        return eval(text, namespace)  # noqa: S307  # the text is this package's own source code
    except Exception:  # a name imported only under TYPE_CHECKING, say
        return text


def _resolve_function(fn: types.FunctionType) -> bool:
    annotations = fn.__annotations__
    if not any(isinstance(value, str) for value in annotations.values()):
        return False
    fn.__annotations__ = {
        key: _evaluate(value, fn.__globals__) if isinstance(value, str) else value for key, value in annotations.items()
    }
    return True


def resolve_annotations(package: str = "gdtransforms") -> int:
    """Evaluates the string annotations of the functions defined in the loaded modules of ``package``.

    Args:
      package: the top-level package whose modules (those already imported)
        are visited.

    Returns:
      How many functions had their annotations replaced.
    """
    count = 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name == package or name.startswith(package + ".")):
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, types.FunctionType) and obj.__module__ == name:
                count += _resolve_function(obj)
    return count
