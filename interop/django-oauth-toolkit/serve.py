"""Starts the interop authorization server on a free loopback port.

    <venv>/bin/python interop/django-oauth-toolkit/serve.py [--data-dir DIR] [--port N]

Migrates a fresh SQLite database (in DIR, else a new temporary directory that is removed
on exit), seeds the test clients and user (`manage.py seed_interop`), binds 127.0.0.1 on
port N (default 0: a free port chosen by the OS), then prints exactly one line to stdout,

    grantkit-interop listening on http://127.0.0.1:PORT

and serves with Django's threaded development server until stdin reaches end of file
(the test process that started it exited, however it exited), SIGTERM or SIGINT.
The request log and any error go to stderr.
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
OWN_DIRS = []  # temporary directories to remove on exit


def shut_down(code=0):
    for path in OWN_DIRS:
        shutil.rmtree(path, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="where the SQLite database goes (default: a temp dir)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--no-stdin-watch",
        action="store_true",
        help="keep serving when stdin closes (for running it by hand in the background)",
    )
    args = parser.parse_args()

    if args.data_dir is None:
        data_dir = tempfile.mkdtemp(prefix="grantkit-dot-")
        OWN_DIRS.append(data_dir)
    else:
        data_dir = args.data_dir
        os.makedirs(data_dir, exist_ok=True)

    signal.signal(signal.SIGTERM, lambda *_: shut_down())
    signal.signal(signal.SIGINT, lambda *_: shut_down())
    if not args.no_stdin_watch:

        def watch_stdin():
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            except OSError:
                pass
            shut_down()

        threading.Thread(target=watch_stdin, daemon=True).start()

    sys.path.insert(0, HERE)
    os.environ["DJANGO_SETTINGS_MODULE"] = "dotserver.settings"
    os.environ["GRANTKIT_INTEROP_DATA_DIR"] = data_dir

    import django
    from django.core.management import call_command
    from django.core.servers.basehttp import WSGIServer, run
    from django.core.wsgi import get_wsgi_application

    django.setup()
    call_command("migrate", interactive=False, run_syncdb=True, verbosity=0)
    call_command("seed_interop", stdout=sys.stderr)

    def on_bind(port):
        import django as dj
        import oauth2_provider

        print(
            f"django {dj.get_version()}, django-oauth-toolkit {oauth2_provider.__version__}, "
            f"data in {data_dir}",
            file=sys.stderr,
        )
        print(f"grantkit-interop listening on http://127.0.0.1:{port}", flush=True)

    run(
        "127.0.0.1",
        args.port,
        get_wsgi_application(),
        ipv6=False,
        threading=True,
        on_bind=on_bind,
        server_cls=WSGIServer,
    )
    shut_down()


if __name__ == "__main__":
    try:
        main()
    except SystemExit as exit:
        shut_down(exit.code if isinstance(exit.code, int) else 1)
    except BaseException:  # noqa: BLE001 - report, then exit without waiting on stdin
        import traceback

        traceback.print_exc()
        shut_down(1)
