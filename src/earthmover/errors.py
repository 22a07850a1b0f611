"""The one exception type for failures a user can cause.

Every message names the value, what was expected, and the fix, on one line.
The command-line interface prints it without a traceback and exits with status 2.
"""


class EarthmoverError(ValueError):
    """A bad value, a missing file, or an input the library cannot use."""
