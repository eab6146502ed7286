"""The base of BloomWatch's expected errors: what a user caused and can fix from the message alone.

A missing promotion to roll back, a malformed rules or tokens file, data that is not there: the
`bloomwatch` command line (app/cli.py) prints any of these as one `error: ...` line and
exits 1, so no command shows a traceback for them. Anything else is a bug and keeps its traceback.

A module marks its own exception type as expected by deriving from `ExpectedError` beside the
built-in type its callers already catch (`class RuleFileError(ExpectedError, ValueError)`).
"""


class ExpectedError(Exception):
    """An error whose message is the whole story: shown as one line, without a traceback."""

    def __str__(self) -> str:
        # beside KeyError, whose str() is the repr of its argument: the message, unquoted
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()
