"""The one exception type for bad input, and how entry points report it."""

import sys
from functools import wraps


class UserInputError(ValueError):
    """A problem with the user's data, options or files; the message says what to do."""


def exit_on_user_error(main):
    """Print a `UserInputError` (exit status 2) or a non-finite loss (status 3) as one line on stderr."""

    @wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserInputError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        except FloatingPointError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(3)

    return wrapper
