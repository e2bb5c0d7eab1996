"""The one exception type for problems a user can fix (a bad value, a missing or unreadable file)."""


class UserError(Exception):
    """Its message names the config key or file and says what to do; rule scripts print it without a traceback."""
