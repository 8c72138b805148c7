"""One exception type for every mistake a user can fix: the CLI prints it as one line, exit 2."""


class GanforgeError(Exception):
    """A user-facing error: bad option, bad file, missing data. The message says what to do."""
