"""``python -m sefa_zoo`` and the ``sefa-zoo`` command (see [project.scripts] in pyproject.toml).

Kept tiny, and catching Ctrl-C around the imports too: an interruption while the application's
modules load gets the same one line and exit status as one during a command. A Ctrl-C that a
library turned into another exception, or swallowed, counts as one too.
"""

import sys

INTERRUPTED = 130  # as sefa_zoo.interrupts.INTERRUPTED, which may not be imported yet


def _not_yet_counting() -> bool:
    return False


def main() -> None:
    ctrl_c_received = _not_yet_counting
    try:
        from .interrupts import listen, received as ctrl_c_received

        listen()
        from .cli.main import main as run_application

        if ctrl_c_received():  # during the imports, and swallowed there
            raise KeyboardInterrupt
        run_application()
    except SystemExit:
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) or ctrl_c_received():
            _exit_interrupted()
        raise


def _exit_interrupted() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the message
    sys.stderr.write("Error: interrupted\n")
    sys.stderr.flush()
    raise SystemExit(INTERRUPTED) from None


if __name__ == "__main__":
    main()
