"""The exception types for problems a user can fix (a bad value, a missing or unreadable file)."""


class UserError(Exception):
    """Its message names the config key or file and says what to do; rule scripts print it without a traceback."""


class DataError(UserError, ValueError):
    """A dataset's config value or file cannot be used; the message names the key or file and the remedy."""


class MissingInputError(UserError, FileNotFoundError):
    """A file a stage needs is absent; the message names it and the step that makes it."""


class DownloadError(UserError, RuntimeError):
    """A file could not be fetched or failed its checksum; the message says how to place it by hand."""
