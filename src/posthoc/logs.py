"""Send a job's prints and progress bars (tqdm writes to stderr) into its log file."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path


@contextlib.contextmanager
def log_to(path: str | Path | None):
    """Redirect stdout and stderr to ``path`` (line-buffered) for the duration of the block.

    An exception escaping the block is written to the log with its traceback, except a
    :class:`~posthoc.errors.UserError`, which ends the log and the console with its message alone
    (exit status 1).
    """
    if path is None:
        yield
        return
    from .errors import UserError

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        try:
            yield
        except SystemExit:
            raise
        except UserError as err:  # a problem the user can fix: its one sentence ends the log and the console
            print(f"error: {err}", file=fh)
            if sys.__stderr__ is not None:
                print(f"error: {err}", file=sys.__stderr__)
            raise SystemExit(1) from None
        except BaseException:
            import traceback

            traceback.print_exc(file=fh)
            raise


def set_threads(threads: int | None) -> None:
    """Use the job's CPU allotment for torch's intra-op parallelism."""
    if threads:
        import torch

        torch.set_num_threads(int(threads))
