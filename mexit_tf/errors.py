"""The one exception type that the CLI turns into a one-line message."""


class MexitError(ValueError):
    """A problem with what the user asked for, phrased for the user.

    It subclasses `ValueError` so Python callers can catch it the usual way;
    the `mexit` command prints it on one line and exits with status 2.
    """
