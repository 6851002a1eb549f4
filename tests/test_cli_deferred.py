"""The command imports requests' optional helpers (charset_normalizer, idna) only where they are
used: a status call runs none of their code, and wherever they are used they work as before."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from suite_helpers import cli_env

from connector.testing import connector_for

# Run first in every subprocess: what the console script does before main() (cli.command()).
INSTALL = "import sys\nfrom connector import cli_deferred\ncli_deferred.install()\n"
# Whether a package's own code (its __init__ and what that imports) has run in this process.
STATE = textwrap.dedent("""
    import json, sys
    from connector.cli_deferred import DeferredModule
    def state(name):
        module = sys.modules.get(name)
        return "absent" if module is None else "deferred" if type(module) is DeferredModule else "loaded"
    """)


def python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # -W error: a warning (requests' RequestsDependencyWarning among them) fails the run.
    return subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60,
                          env={**cli_env(), **(env or {})})


def last_json(done: subprocess.CompletedProcess[str]) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_status_call_runs_none_of_their_code(emu):
    with connector_for(emu) as conn:
        request_id = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {"prompt": "x"}})["request_id"]
    code = STATE + textwrap.dedent(f"""
        from connector import cli
        sys.argv = ["fal-connector", "run", "get_request_status", "--input", {json.dumps({"app_id": "fal-ai/echo", "request_id": request_id})!r}]
        status = cli.command()  # the console script's entry
        print(json.dumps({{"status": status, "charset_normalizer": state("charset_normalizer"), "idna": state("idna"),
                           "api": state("charset_normalizer.api"), "idna.core": state("idna.core")}}))
        """)
    done = python(code, emu.env())
    output, probe = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert done.returncode == 0, done.stderr
    assert output["success"] is True and output["status"] in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
    assert probe == {"status": 0, "charset_normalizer": "deferred", "idna": "deferred", "api": "absent", "idna.core": "absent"}


def test_requests_imports_without_a_warning_and_sees_the_real_version():
    code = INSTALL + STATE + textwrap.dedent("""
        import requests
        from importlib.metadata import version
        print(json.dumps({"state": state("charset_normalizer"), "version": sys.modules["charset_normalizer"].__version__,
                          "installed": version("charset-normalizer"), "chardet": requests.compat.chardet is sys.modules["charset_normalizer"]}))
        """)
    probe = last_json(python(code))
    assert probe["state"] == "deferred"
    assert probe["version"] == probe["installed"]
    assert probe["chardet"] is True  # requests holds the deferred module itself: loading it fills that very object


def test_response_text_without_a_charset_loads_charset_normalizer_and_guesses_as_before():
    code = INSTALL + STATE + textwrap.dedent("""
        import requests
        before = state("charset_normalizer")
        response = requests.models.Response()
        response._content = "Grüße aus Köln, ça va très bien, merci beaucoup".encode("utf-8")
        response.headers["Content-Type"] = "text/plain"  # no charset: requests guesses it
        encoding, text = response.apparent_encoding, response.text
        print(json.dumps({"before": before, "after": state("charset_normalizer"), "encoding": encoding, "text": text}))
        """)
    probe = last_json(python(code))
    assert probe["before"] == "deferred" and probe["after"] == "loaded"
    assert probe["encoding"] == "utf-8"
    assert probe["text"] == "Grüße aus Köln, ça va très bien, merci beaucoup"


def test_an_idn_host_loads_idna_and_is_encoded_as_before():
    code = INSTALL + STATE + textwrap.dedent("""
        import requests
        before = state("idna")
        prepared = requests.models.PreparedRequest()
        prepared.prepare_url("https://bücher.example/path", None)
        print(json.dumps({"before": before, "after": state("idna"), "url": prepared.url}))
        """)
    probe = last_json(python(code))
    assert probe == {"before": "deferred", "after": "loaded", "url": "https://xn--bcher-kva.example/path"}


def test_importing_names_or_a_submodule_works_as_a_plain_import():
    code = INSTALL + STATE + textwrap.dedent("""
        import charset_normalizer.api  # a submodule first: the package's own code has not run
        submodule_only = state("charset_normalizer")
        from charset_normalizer import from_bytes  # a name the package defines: now it runs
        best = from_bytes("naïve café".encode("utf-8")).best()
        print(json.dumps({"submodule_only": submodule_only, "after": state("charset_normalizer"), "encoding": best.encoding,
                          "same": from_bytes is charset_normalizer.api.from_bytes}))
        """)
    probe = last_json(python(code))
    assert probe == {"submodule_only": "deferred", "after": "loaded", "encoding": "utf_8", "same": True}


def test_listing_its_names_loads_it():
    code = INSTALL + STATE + textwrap.dedent("""
        import idna
        print(json.dumps({"listed": "encode" in dir(idna), "state": state("idna")}))
        """)
    assert last_json(python(code)) == {"listed": True, "state": "loaded"}


def test_a_missing_name_is_an_attribute_error_after_loading():
    code = INSTALL + STATE + textwrap.dedent("""
        import idna
        try:
            idna.no_such_name
        except AttributeError as exc:
            print(json.dumps({"error": str(exc), "state": state("idna")}))
        """)
    probe = last_json(python(code))
    assert probe["state"] == "loaded" and "no_such_name" in probe["error"]


def test_packages_imported_already_or_missing_are_left_alone():
    code = STATE + textwrap.dedent("""
        import idna  # imported before the command starts (a sitecustomize, say)
        from connector import cli_deferred
        print(json.dumps({"idna": cli_deferred.defer("idna", {}), "missing": cli_deferred.defer("no_such_package_here", {}),
                          "state": state("idna"), "absent": state("no_such_package_here")}))
        """)
    assert last_json(python(code)) == {"idna": False, "missing": False, "state": "loaded", "absent": "absent"}


def test_a_package_not_laid_out_as_expected_is_imported_as_usual():
    code = STATE + textwrap.dedent("""
        from connector import cli_deferred
        deferred = cli_deferred.defer("charset_normalizer", {"__version__": "no_such_submodule"})
        left = sorted(name for name in sys.modules if name.startswith("charset_normalizer"))
        import charset_normalizer
        print(json.dumps({"deferred": deferred, "left": left, "state": state("charset_normalizer")}))
        """)
    assert last_json(python(code)) == {"deferred": False, "left": [], "state": "loaded"}


def test_threads_reading_a_deferred_package_at_once_all_see_it_whole():
    code = INSTALL + STATE + textwrap.dedent("""
        import threading
        import charset_normalizer
        start = threading.Barrier(8)
        seen = []
        def read():
            start.wait()
            seen.append(charset_normalizer.from_bytes(b"hello").best().encoding)
        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads: thread.start()
        for thread in threads: thread.join()
        print(json.dumps({"seen": seen, "state": state("charset_normalizer")}))
        """)
    probe = last_json(python(code))
    assert probe["seen"] == ["ascii"] * 8 and probe["state"] == "loaded"
