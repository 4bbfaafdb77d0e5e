"""Tests of kgdx.app.neo4j_server, `kgdx neo4j`, and the CI rule for skipped neo4j tests.

Unit tests fake the launcher with a Python process whose command line names the launcher's main
class, so they need neither Java nor a server. Tests marked ``neo4j`` use the real server.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from kgdx.app import neo4j_server
from kgdx.app.cli import app
from kgdx.errors import ConfigError, StoreError
from kgdx.settings import get_settings

CONFTEST = Path(__file__).parents[1] / "conftest.py"

# Sleeps like a launcher; "ignore-term" makes it ignore SIGTERM. It prints "up" once its handler is set.
_FAKE_LAUNCHER = textwrap.dedent(
    """
    import signal, sys, time
    if sys.argv[1] == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("up", flush=True)
    time.sleep(120)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def _text(console: Console) -> str:
    return console.file.getvalue()  # type: ignore[attr-defined]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Settings with a fresh KGDX_HOME and a free Bolt port; restores the real ones afterwards."""
    for var in ("KGDX_NEO4J_URI", "KGDX_NEO4J_DATA_DIR", "KGDX_NEO4J_HEAP"):
        monkeypatch.delenv(var, raising=False)
    port = _free_port()
    monkeypatch.setenv("KGDX_HOME", str(tmp_path / "kgdx-home"))
    monkeypatch.setenv("KGDX_NEO4J_PORT", str(port))
    monkeypatch.setenv("KGDX_NEO4J_URI", f"bolt://127.0.0.1:{port}")
    get_settings.cache_clear()
    s = get_settings()
    s.neo4j_dir.mkdir(parents=True)
    yield s
    get_settings.cache_clear()


@pytest.fixture
def fake_launcher(home):
    """Starts a fake launcher and records it in the pid file, as `start` would."""
    procs: list[subprocess.Popen] = []

    def spawn(mode: str = "normal") -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", _FAKE_LAUNCHER, mode, neo4j_server.LAUNCHER_MAIN],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "up"
        procs.append(proc)
        (home.neo4j_dir / "neo4j.pid").write_text(f"{proc.pid}\n")
        state = {"pid": proc.pid, "port": home.neo4j_port, "uri": home.neo4j_uri, "data_dir": "/somewhere"}
        (home.neo4j_dir / "neo4j.json").write_text(json.dumps(state))
        return proc

    yield spawn
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def _no_build(*args, **kwargs):
    raise AssertionError("start() must not build or launch anything here")


# ------------------------------------------------------------------------- pid files and status


def test_status_without_server(home):
    st = neo4j_server.status()
    assert st.running is False
    assert st.pid is None
    assert st.uri == f"bolt://127.0.0.1:{home.neo4j_port}"
    assert st.version is None and st.apoc is None
    assert st.data_dir == str(home.neo4j_dir / "db")
    assert st.log == str(home.neo4j_dir / "neo4j.log")
    assert set(st.to_dict()) == {
        "running",
        "pid",
        "uri",
        "version",
        "edition",
        "apoc",
        "apoc_version",
        "data_dir",
        "log",
        "auth",
        "read_only",
        "password_file",
    }


def test_stale_pid_of_dead_process_is_removed(home):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    pid_file = home.neo4j_dir / "neo4j.pid"
    pid_file.write_text(f"{proc.pid}\n")
    (home.neo4j_dir / "neo4j.json").write_text("{}")
    assert neo4j_server.status().running is False
    assert not pid_file.exists()
    assert not (home.neo4j_dir / "neo4j.json").exists()


def test_pid_of_another_program_is_stale(home):
    # A recycled pid: alive, but not the launcher. It must be forgotten, never signalled.
    pid_file = home.neo4j_dir / "neo4j.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    assert neo4j_server.stop(console=_quiet()) is False
    assert not pid_file.exists()


@pytest.mark.parametrize("content", ["", "not-a-pid", "-5", "0"])
def test_unreadable_pid_file_is_removed(home, content):
    pid_file = home.neo4j_dir / "neo4j.pid"
    pid_file.write_text(content)
    assert neo4j_server.status().pid is None
    assert not pid_file.exists()


def test_status_and_stop_of_a_running_launcher(home, fake_launcher):
    proc = fake_launcher()
    st = neo4j_server.status()
    assert st.running is True
    assert st.pid == proc.pid
    assert st.uri == home.neo4j_uri
    assert st.data_dir == "/somewhere"
    assert st.version is None  # nothing answers Bolt on that port

    console = _quiet()
    assert neo4j_server.stop(timeout_s=10, console=console) is True
    assert proc.wait(timeout=10) == -signal.SIGTERM
    assert not (home.neo4j_dir / "neo4j.pid").exists()
    assert not (home.neo4j_dir / "neo4j.json").exists()
    assert f"Stopped Neo4j (pid {proc.pid})" in _text(console)
    assert neo4j_server.stop(console=_quiet()) is False


def test_stop_kills_a_launcher_that_ignores_sigterm(home, fake_launcher):
    proc = fake_launcher("ignore-term")
    console = _quiet()
    assert neo4j_server.stop(timeout_s=0.5, console=console) is True
    assert proc.wait(timeout=10) == -signal.SIGKILL
    assert "was killed" in _text(console)
    assert not (home.neo4j_dir / "neo4j.pid").exists()


def test_start_is_a_noop_when_running(home, fake_launcher, monkeypatch):
    proc = fake_launcher()
    monkeypatch.setattr(neo4j_server, "build", _no_build)
    console = _quiet()
    st = neo4j_server.start(console=console)
    assert st.pid == proc.pid
    assert "already running" in _text(console)
    assert proc.poll() is None


# ---------------------------------------------------------------------------- start: arguments


def test_start_refuses_a_non_local_uri(home, monkeypatch):
    monkeypatch.setenv("KGDX_NEO4J_URI", "neo4j+s://abcd1234.databases.neo4j.io")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="only launches a local Neo4j"):
        neo4j_server.start(console=_quiet())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"port": 0}, r"got 0"),
        ({"port": 65536}, r"got 65536"),
        ({"port": "7687"}, r"got '7687'"),
        ({"wait_s": 0}, r"positive number of seconds \(got 0\)"),
        ({"wait_s": -1.5}, r"got -1.5"),
    ],
)
def test_start_checks_its_arguments(home, monkeypatch, kwargs, match):
    monkeypatch.setattr(neo4j_server, "build", _no_build)
    with pytest.raises(ConfigError, match=match):
        neo4j_server.start(console=_quiet(), **kwargs)


@pytest.mark.parametrize("heap", ["", "lots", "2 g", "0g", "-1g"])
def test_start_checks_the_heap(home, monkeypatch, heap):
    monkeypatch.setenv("KGDX_NEO4J_HEAP", heap)
    get_settings.cache_clear()
    monkeypatch.setattr(neo4j_server, "build", _no_build)
    with pytest.raises(ConfigError, match="KGDX_NEO4J_HEAP"):
        neo4j_server.start(console=_quiet())


def test_start_refuses_a_busy_port(home, monkeypatch):
    monkeypatch.setattr(neo4j_server, "build", _no_build)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(StoreError, match=f"Port {port} on 127.0.0.1 is already in use"):
            neo4j_server.start(port=port, console=_quiet())
    assert not (home.neo4j_dir / "neo4j.pid").exists()


def test_missing_java_is_a_config_error(home, monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigError, match="Java 17 or 21 is needed"):
        neo4j_server.start(console=_quiet())


def test_missing_maven_is_a_config_error(home, monkeypatch, tmp_path):
    java = neo4j_server.shutil.which("java")
    if java is None:
        pytest.skip("no java on PATH to keep while hiding mvn")
    bin_dir = tmp_path / "java-only"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(java)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigError, match=r"Maven \(mvn\) is needed"):
        neo4j_server.build(force=True, console=_quiet())


@pytest.mark.parametrize(
    "banner, major",
    [
        ('openjdk version "1.8.0_352"', 8),
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "21" 2023-09-19 LTS', 21),
        ('openjdk version "25" 2025-09-16', 25),
    ],
)
def test_java_version_is_parsed(tmp_path, banner, major):
    fake = tmp_path / "java"
    fake.write_text(f"#!/bin/sh\necho '{banner}' >&2\n")
    fake.chmod(0o755)
    assert neo4j_server._java_major(str(fake)) == major


def test_old_java_is_refused(tmp_path):
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\"' >&2\n")
    fake.chmod(0o755)
    with pytest.raises(ConfigError, match="Java 11"):
        neo4j_server._check_java(str(fake), _quiet())


def test_java_command():
    jar = Path("/k/neo4j/launcher/target/kgdx-neo4j-launcher.jar")
    cmd = neo4j_server._java_command(
        "java", jar, port=7688, data_dir=Path("/data/db"), heap="1536m", password_file=Path("/h/neo4j-password")
    )
    assert cmd[0] == "java"
    assert cmd[1] == "-Xmx1536m"
    cp = cmd[cmd.index("-cp") + 1].split(os.pathsep)
    assert cp == [str(jar), "/k/neo4j/launcher/target/lib/*"]
    main = cmd.index(neo4j_server.LAUNCHER_MAIN)
    assert cmd[main + 1 :] == [
        "--port",
        "7688",
        "--dir",
        "/data/db",
        "--plugins",
        "/k/neo4j/launcher/target/plugins",
        "--pagecache",
        neo4j_server.PAGECACHE,
        "--tx-memory",
        "512m",
        "--procedures",
        ",".join(neo4j_server.SERVER_PROCEDURES),
        "--read-only",
        "false",
        "--password-file",
        "/h/neo4j-password",
    ]
    assert "-XX:+ExitOnOutOfMemoryError" not in cmd  # a query's OOM must not take the server down
    assert not any(
        "apoc.cypher" in p or "apoc.periodic" in p or "apoc.export" in p for p in neo4j_server.SERVER_PROCEDURES
    )


def test_password_file_is_generated_private_and_kept(home, monkeypatch):
    monkeypatch.delenv("KGDX_NEO4J_PASSWORD", raising=False)
    get_settings.cache_clear()
    path = neo4j_server.ensure_password()
    assert path == home.home_dir / "neo4j-password"
    first = path.read_text().strip()
    assert len(first) >= 32 and path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    assert neo4j_server.ensure_password().read_text().strip() == first  # kept, made private again
    assert path.stat().st_mode & 0o777 == 0o600
    assert get_settings().neo4j_auth() == ("neo4j", first)
    monkeypatch.setenv("KGDX_NEO4J_PASSWORD", "short")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="at least 8"):
        neo4j_server.ensure_password()
    monkeypatch.setenv("KGDX_NEO4J_PASSWORD", "chosen-by-the-user")
    get_settings.cache_clear()
    assert neo4j_server.ensure_password().read_text().strip() == "chosen-by-the-user"


def test_harness_sources_ship_with_the_package(tmp_path):
    src = neo4j_server._HARNESS_SRC
    pom = (src / "pom.xml").read_text()
    assert re.search(r"<neo4j.version>5\.26\.\d+</neo4j.version>", pom)
    assert "<artifactId>neo4j-harness</artifactId>" in pom
    launcher = src / "src/main/java/dev/kgdx/harness/Launcher.java"
    assert neo4j_server.READY_MARK in launcher.read_text()

    copy = tmp_path / "harness"
    shutil.copytree(src, copy)
    digest = neo4j_server._source_digest(copy)
    assert digest == neo4j_server._source_digest(src)
    launcher_copy = copy / "src/main/java/dev/kgdx/harness/Launcher.java"
    launcher_copy.write_text(launcher_copy.read_text() + "\n// changed\n")
    assert neo4j_server._source_digest(copy) != digest


# ------------------------------------------------------------------------------------------ CLI


def test_cli_help_texts():
    runner = CliRunner()
    for args, words in [
        (["neo4j", "--help"], ["start", "stop", "status"]),
        (["neo4j", "start", "--help"], ["--port", "--data-dir", "--wait"]),
        (["neo4j", "stop", "--help"], ["--timeout"]),
        (["neo4j", "status", "--help"], ["--json"]),
    ]:
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        for word in words:
            assert word in result.output


def test_cli_status_json(home):
    result = CliRunner().invoke(app, ["neo4j", "status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["running"] is False and data["uri"] == home.neo4j_uri


def test_cli_user_error_is_one_line(home, monkeypatch):
    env = dict(os.environ, KGDX_NEO4J_URI="bolt://db.example.org:7687")
    result = subprocess.run(
        [sys.executable, "-m", "kgdx", "neo4j", "start"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("kgdx: error: KGDX_NEO4J_URI is bolt://db.example.org:7687")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------- the CI rule (pytester)


def test_ci_turns_skipped_neo4j_tests_into_failures(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\nmarkers =\n    neo4j: needs the real Neo4j server\n")
    pytester.makepyfile(
        test_inner="""
        import pytest

        @pytest.mark.neo4j
        def test_skips_in_body():
            pytest.skip("server is down")

        @pytest.mark.neo4j
        @pytest.mark.skip(reason="skipped by marker")
        def test_skip_marker():
            pass

        def test_uses_driver(neo4j_driver):  # marked neo4j by the conftest
            pass

        @pytest.mark.skip(reason="not a neo4j test")
        def test_plain_skip():
            pass

        @pytest.mark.neo4j
        @pytest.mark.xfail(reason="expected", strict=False)
        def test_neo4j_xfail():
            assert False
        """
    )
    dead = f"bolt://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("KGDX_NEO4J_URI", dead)

    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=4, xfailed=1)
    result.stdout.fnmatch_lines([f"*Neo4j not reachable at {dead} (start it with `kgdx neo4j start`)*"])
    assert result.ret == 0

    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_subprocess("-ra")
    result.assert_outcomes(failed=3, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "FAILED test_inner.py::test_skips_in_body - neo4j test skipped under CI=true*: server is down",
            "FAILED test_inner.py::test_skip_marker - neo4j test skipped under CI=true*: skipped by marker",
            f"FAILED test_inner.py::test_uses_driver - *Neo4j not reachable at {dead}*",
        ]
    )
    assert result.ret == 1


# --------------------------------------------------------------- the real server (marked neo4j)


def test_server_write_and_read(neo4j_driver):
    label = f"KgdxTest_{uuid.uuid4().hex[:8]}"
    try:
        neo4j_driver.execute_query(f"CREATE (:{label} {{name: $name}})", name="harness")
        records, _, _ = neo4j_driver.execute_query(f"MATCH (n:{label}) RETURN n.name AS name")
        assert [r["name"] for r in records] == ["harness"]
    finally:
        neo4j_driver.execute_query(f"MATCH (n:{label}) DETACH DELETE n")


def test_status_reports_the_running_server(neo4j_driver):
    st = neo4j_server.status()
    if not st.running:
        pytest.skip(f"the Neo4j at {get_settings().neo4j_uri} was not launched by `kgdx neo4j start` here")
    assert st.pid is not None
    assert st.version is not None and st.version.startswith("5.26."), st
    assert st.edition == "community"
    # APOC core 5.26 loads in the harness (see docs/ and kgdx/app/neo4j_harness/pom.xml).
    assert st.apoc is True and st.apoc_version.startswith("5.26."), st


def test_apoc_helpers_load_and_dangerous_procedures_do_not(neo4j_driver):
    records, _, _ = neo4j_driver.execute_query("RETURN apoc.text.join(['a', 'b'], '-') AS j")
    assert records[0]["j"] == "a-b"
    records, _, _ = neo4j_driver.execute_query(
        "SHOW PROCEDURES YIELD name WHERE name STARTS WITH 'apoc.' RETURN collect(name) AS p"
    )
    procedures = records[0]["p"]
    records, _, _ = neo4j_driver.execute_query(
        "SHOW FUNCTIONS YIELD name WHERE name STARTS WITH 'apoc.' RETURN collect(name) AS f"
    )
    loaded = procedures + records[0]["f"]
    assert "apoc.path.expand" in loaded
    for ns in (
        "apoc.cypher.",
        "apoc.periodic.",
        "apoc.export.",
        "apoc.load.",
        "apoc.import.",
        "apoc.log.",
        "apoc.trigger.",
        "apoc.do.",
        "apoc.when",
        "apoc.case",
        "apoc.util.sleep",
        "apoc.config.",
    ):
        assert not [p for p in loaded if p.startswith(ns)], ns


def test_server_refuses_file_urls_and_wrong_passwords(neo4j_driver):
    import neo4j

    with pytest.raises(neo4j.exceptions.ClientError, match="allow_csv_import_from_file_urls"):
        neo4j_driver.execute_query("LOAD CSV FROM 'file:///etc/hostname' AS r RETURN r")
    s = get_settings()
    with (
        neo4j.GraphDatabase.driver(s.neo4j_uri, auth=("neo4j", "not-the-password")) as bad,
        pytest.raises(neo4j.exceptions.AuthError),
    ):
        bad.verify_connectivity()


@pytest.mark.neo4j
@pytest.mark.slow
def test_start_stop_restart_keeps_data(tmp_path, monkeypatch):
    """A second server (own home, port and data) survives a restart with its data."""
    real_launcher = get_settings().neo4j_dir / "launcher"
    port = _free_port()
    monkeypatch.setenv("KGDX_HOME", str(tmp_path / "kgdx-home"))
    monkeypatch.setenv("KGDX_NEO4J_PORT", str(port))
    monkeypatch.setenv("KGDX_NEO4J_URI", f"bolt://127.0.0.1:{port}")
    monkeypatch.delenv("KGDX_NEO4J_DATA_DIR", raising=False)
    get_settings.cache_clear()
    s = get_settings()
    s.neo4j_dir.mkdir(parents=True)
    # Share the launcher that `kgdx neo4j start` built instead of building (and copying 150 MB) again.
    real_launcher.mkdir(parents=True, exist_ok=True)
    (s.neo4j_dir / "launcher").symlink_to(real_launcher, target_is_directory=True)
    import neo4j

    # If CI is cancelled (SIGTERM) mid-test, still run `finally`: the server is detached and would outlive us.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    console = _quiet()
    try:
        st = neo4j_server.start(wait_s=300, console=console)
        assert st.running and st.uri == f"bolt://127.0.0.1:{port}" and st.version.startswith("5.26.")
        with neo4j.GraphDatabase.driver(st.uri, auth=get_settings().neo4j_auth()) as driver:
            driver.execute_query("CREATE (:Kept {id: 'x'})")
        assert neo4j_server.stop(console=console) is True
        assert neo4j_server.status().running is False

        # Restarted --read-only (two starts, not three: each costs a JVM start): the data is kept,
        # every client can read, none can write (Community has no read-only role).
        st = neo4j_server.start(wait_s=300, read_only=True, console=console)
        assert st.read_only is True and st.auth is True
        # The harness's own scratch folder is deleted on a clean stop; the store stays.
        assert (Path(st.data_dir) / "data" / "databases" / "neo4j").is_dir()
        with neo4j.GraphDatabase.driver(st.uri, auth=get_settings().neo4j_auth()) as driver:
            records, _, _ = driver.execute_query("MATCH (k:Kept) RETURN k.id AS id")
            assert [r["id"] for r in records] == ["x"]
            with pytest.raises(neo4j.exceptions.Neo4jError, match="(?i)read.only"):
                driver.execute_query("CREATE (:Evil)")
    finally:
        neo4j_server.stop(console=console)
        signal.signal(signal.SIGTERM, previous)
        get_settings.cache_clear()
    assert list((Path(st.data_dir) / "run").iterdir()) == []
