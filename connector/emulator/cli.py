"""``fal-connector emulator`` and ``python -m connector.emulator``: serve the emulator in the
foreground.

stdout gets only ``export FAL_...=...`` lines, ``FAL_KEY`` included (so ``eval``-style use and
scripts can parse it and the connector works with them as they are); the human line goes to stderr.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading

from connector.cli_emulator import EXAMPLE, add_arguments

from .emulator import Emulator


def main(host: str = "127.0.0.1", port: int = 8080, tls: bool = False, api_key: str | None = None,
         admin_key: str | None = None) -> int:
    try:
        emu = Emulator(host=host, port=port, api_key=api_key, tls=tls, admin_key=admin_key).start()
    except OSError as e:  # port in use, bad host: one line, not a traceback
        print(f"fal emulator: cannot listen on {host}:{port}: {e.strerror or e}", file=sys.stderr)
        return 1
    done = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM ends the process the same way Ctrl-C does: a clean stop, exit status 0.
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    try:
        env = emu.env()
        if emu.cert_file:
            # The connector (requests) must trust the throwaway certificate. SSL_CERT_FILE is
            # not exported: it would replace the system trust store for every tool in the shell.
            env["REQUESTS_CA_BUNDLE"] = emu.cert_file
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}")
        sys.stdout.flush()
        cert = f" (certificate: {emu.cert_file})" if emu.cert_file else ""
        keys = "only the printed FAL_KEY" if api_key else "any key"
        print(f"fal emulator serving on {emu.url}{cert}, accepting {keys}; Ctrl-C to stop",
              file=sys.stderr, flush=True)
        while not done.wait(0.5):  # short waits keep Ctrl-C responsive
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def run_from_args(args: argparse.Namespace) -> int:
    return main(args.host, args.port, args.tls, args.key, args.admin_key)


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m connector.emulator", description="Run the local fal.ai emulator.",
                                epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run_from_args(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run())
