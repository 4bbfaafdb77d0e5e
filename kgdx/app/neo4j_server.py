"""A local Neo4j 5.26 for development and CI, served by Neo4j's own test harness.

``kgdx neo4j start`` runs a small Java launcher (``kgdx/app/neo4j_harness``) around
``org.neo4j.test:neo4j-harness`` with APOC core. The launcher is built once with Maven into
``$KGDX_HOME/neo4j/launcher``, never into the installed package, which may be read-only; Maven
keeps what it downloads from Maven Central in ``~/.m2``.

Files under :attr:`kgdx.settings.Settings.neo4j_dir` (``$KGDX_HOME/neo4j`` unless
``KGDX_NEO4J_DATA_DIR`` is set):

- ``launcher/``: the Maven project and its build (``target/``), reused by later starts.
- ``db/``: the server's home, default data folder: ``data/`` (the store, kept across restarts)
  and ``logs/debug.log``.
- ``neo4j.log``: the launcher's output for the latest start (the previous one is ``neo4j.log.1``).
- ``neo4j.pid`` and ``neo4j.json``: the running server's pid, and its port, data folder and URI.
- ``neo4j.lock``: held while a start or stop runs, so two of them cannot race.

The server binds 127.0.0.1 only, with auth on: the user ``neo4j`` has a password generated on the
first start and kept in ``$KGDX_HOME/neo4j-password`` (mode 0600), which every kgdx client reads
(``KGDX_NEO4J_PASSWORD``, when set, replaces it). It is hardened for the read-only Cypher path
(docs/security.md): ``LOAD CSV`` cannot read files, its import folder is empty, only the APOC
procedures and functions in :data:`SERVER_PROCEDURES` load (no dynamic Cypher, periodic, export,
load, log, trigger or config procedures), APOC file import and export are off, and one
transaction may use at most ``KGDX_NEO4J_TX_MEMORY`` of heap, so no query can take the server
down. Neo4j Community has no roles, so every user can write: ``--read-only`` (or
``KGDX_NEO4J_READ_ONLY=true``) starts the server with every database read-only instead.

Example:
    >>> from kgdx.app import neo4j_server
    >>> st = neo4j_server.start()          # doctest: +SKIP
    >>> st.version, st.apoc                # doctest: +SKIP
    ('5.26.30', True)
    >>> neo4j_server.stop()                # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from kgdx.errors import ConfigError, StoreError
from kgdx.settings import Settings, get_settings

__all__ = ["Neo4jStatus", "build", "start", "stop", "status"]

LAUNCHER_MAIN = "dev.kgdx.harness.Launcher"
LAUNCHER_JAR = "kgdx-neo4j-launcher.jar"
READY_MARK = "KGDX_NEO4J_READY"
FAILED_MARK = "KGDX_NEO4J_FAILED"
# Page cache for a 2-core, 24 GB dev box: the HPO-scale KG store is a few hundred MB.
PAGECACHE = "512m"
# JVM options from Neo4j's own start script (module opens for its direct-memory and Netty code).
JVM_FLAGS = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.attach.allowAttachSelf=true",
    "-XX:+UseG1GC",
    # No -XX:+ExitOnOutOfMemoryError: a user query that builds a huge value outside Neo4j's memory
    # tracking (a list comprehension over range(1, 300000000)) would take the server down with it.
    # Without the flag the query's thread gets the error, Neo4j fails that transaction with
    # Neo.TransientError.General.OutOfMemoryError, and the memory is freed.
)
#: Plugin procedures and functions the launched server loads (dbms.security.procedures.allowlist).
#: Read-only helpers only: no apoc.cypher/do/when/case (dynamic Cypher), periodic, export, import,
#: load, log, trigger, config, util.sleep, graph.fromCypher, search (string-built Cypher) or xml.
SERVER_PROCEDURES = (
    "apoc.version",
    "apoc.agg.*",
    "apoc.algo.*",
    "apoc.any.*",
    "apoc.bitwise.*",
    "apoc.coll.*",
    "apoc.convert.*",
    "apoc.date.*",
    "apoc.diff.*",
    "apoc.hashing.*",
    "apoc.json.*",
    "apoc.label.*",
    "apoc.map.*",
    "apoc.math.*",
    "apoc.meta.*",
    "apoc.neighbors.*",
    "apoc.node.*",
    "apoc.nodes.*",
    "apoc.number.*",
    "apoc.path.*",
    "apoc.rel.*",
    "apoc.scoring.*",
    "apoc.stats.*",
    "apoc.temporal.*",
    "apoc.text.*",
    "apoc.util.md5",
    "apoc.util.sha1",
    "apoc.util.sha256",
    "apoc.util.sha384",
    "apoc.util.sha512",
)
SUPPORTED_JAVA = (17, 21)  # Neo4j 5.26 LTS runs on Java 17 and 21
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_HEAP_RE = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")
_PASSWORD_BYTES = 24  # secrets.token_urlsafe(24): 32 characters, 192 bits
_HARNESS_SRC = Path(__file__).resolve().parent / "neo4j_harness"
# Popen objects of servers started by this process, kept so they are reaped, not left as zombies.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_JAVA_CHECKED: set[str] = set()
_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Neo4jStatus:
    """What ``kgdx neo4j status`` reports about the locally launched server.

    Attributes:
        running: A launcher process from ``kgdx neo4j start`` is alive.
        pid: Its process id, or ``None``.
        uri: The Bolt URI it serves (or would serve, on ``KGDX_NEO4J_PORT``).
        version: Neo4j's version from ``CALL dbms.components()``; ``None`` if Bolt did not answer.
        edition: ``community`` for the harness.
        apoc: Whether APOC procedures are callable; ``None`` if unknown (not running).
        apoc_version: ``apoc.version()``, when APOC is available.
        data_dir: The server's data folder (its ``neo4j_home``).
        log: The launcher's log file.
        auth: Whether the server requires a password (always, for servers started by kgdx).
        read_only: Whether it was started with every database read-only.
        password_file: Where the generated password is kept.
    """

    running: bool
    pid: int | None
    uri: str
    version: str | None = None
    edition: str | None = None
    apoc: bool | None = None
    apoc_version: str | None = None
    data_dir: str | None = None
    log: str | None = None
    auth: bool | None = None
    read_only: bool | None = None
    password_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------- paths


def _pid_file(s: Settings) -> Path:
    return s.neo4j_dir / "neo4j.pid"


def _state_file(s: Settings) -> Path:
    return s.neo4j_dir / "neo4j.json"


def _log_file(s: Settings) -> Path:
    return s.neo4j_dir / "neo4j.log"


def _launcher_dir(s: Settings) -> Path:
    return s.neo4j_dir / "launcher"


def _default_data_dir(s: Settings) -> Path:
    return s.neo4j_dir / "db"


# ------------------------------------------------------------------------------ tools: java, mvn


def _find_java() -> str:
    """The ``java`` to run: ``$JAVA_HOME/bin/java`` if set, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if not found:
        raise ConfigError(
            "Java 17 or 21 is needed to run Neo4j 5.26 and was not found (set JAVA_HOME or put java "
            "on PATH, e.g. `apt-get install openjdk-17-jre-headless`)."
        )
    return found


def _java_major(java: str) -> int:
    """The major version of ``java`` (8 for ``1.8.0_x``, 17 for ``17.0.15``)."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"Could not run '{java} -version' ({e}).") from e
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        raise ConfigError(f"Could not read the Java version from '{java} -version'.")
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def _check_java(java: str, console: Console) -> None:
    if java in _JAVA_CHECKED:
        return
    major = _java_major(java)
    if major < SUPPORTED_JAVA[0]:
        raise ConfigError(
            f"Neo4j 5.26 needs Java 17 or 21 but '{java}' is Java {major}; set JAVA_HOME to a Java 17 or 21."
        )
    if major not in SUPPORTED_JAVA:
        console.print(
            f"[yellow]warning:[/] Neo4j 5.26 supports Java 17 and 21; '{java}' is Java {major}, trying anyway."
        )
    _JAVA_CHECKED.add(java)


def _find_mvn() -> str:
    found = shutil.which("mvn")
    if not found:
        raise ConfigError(
            "Maven (mvn) is needed once, to download Neo4j from Maven Central and build the launcher, "
            "and was not found on PATH (install Maven 3.6+, e.g. `apt-get install maven`)."
        )
    return found


# ------------------------------------------------------------------------------------- building


def _source_digest(src: Path) -> str:
    """sha256 over the launcher's pom and sources, so a changed launcher is rebuilt."""
    h = hashlib.sha256()
    files = [src / "pom.xml", *sorted(p for p in (src / "src").rglob("*") if p.is_file())]
    for f in files:
        h.update(f.relative_to(src).as_posix().encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _maven_repo() -> Path:
    """Maven's local repository: ``-Dmaven.repo.local`` in MAVEN_OPTS, else ``~/.m2/repository``."""
    m = re.search(r"-Dmaven\.repo\.local=(\S+)", os.environ.get("MAVEN_OPTS", ""))
    return Path(m.group(1)).expanduser() if m else Path.home() / ".m2" / "repository"


def _launcher_jar(s: Settings) -> Path:
    return _launcher_dir(s) / "target" / LAUNCHER_JAR


def _is_built(s: Settings) -> bool:
    target = _launcher_dir(s) / "target"
    stamp = target / "kgdx-source.sha256"
    return (
        (target / LAUNCHER_JAR).is_file()
        and (target / "lib").is_dir()
        and stamp.is_file()
        and stamp.read_text().strip() == _source_digest(_HARNESS_SRC)
    )


def build(*, force: bool = False, console: Console | None = None) -> Path:
    """Builds the launcher into ``$KGDX_HOME/neo4j/launcher`` unless it is already built.

    The first build downloads Neo4j 5.26 and APOC (about 200 MB) from Maven Central into
    ``~/.m2``; later builds, e.g. after the launcher's sources change, reuse it.

    Args:
        force: Rebuild even when the built launcher matches its sources.
        console: Where to print progress; stderr by default.

    Returns:
        The launcher jar (``.../launcher/target/kgdx-neo4j-launcher.jar``).

    Raises:
        ConfigError: Java or Maven is missing.
        StoreError: The Maven build failed; the message names its log.
    """
    s = get_settings()
    console = console or _stderr
    if not force and _is_built(s):
        return _launcher_jar(s)
    java = _find_java()
    mvn = _find_mvn()
    _check_java(java, console)

    dest = _launcher_dir(s)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(_HARNESS_SRC / "pom.xml", dest / "pom.xml")
    shutil.rmtree(dest / "src", ignore_errors=True)
    shutil.copytree(_HARNESS_SRC / "src", dest / "src")
    shutil.rmtree(dest / "target", ignore_errors=True)

    build_log = dest / "build.log"
    env = dict(os.environ)
    env.setdefault("JAVA_HOME", str(Path(java).resolve().parent.parent))
    cmd = [mvn, "-B", "-Dstyle.color=never", "package"]
    first = not (_maven_repo() / "org" / "neo4j" / "test" / "neo4j-harness").is_dir()
    console.print(
        f"Building the Neo4j launcher in {dest} "
        + (
            f"(first time: downloading Neo4j 5.26 and APOC, ~200 MB, from Maven Central into {_maven_repo()}) …"
            if first
            else f"(Maven reuses {_maven_repo()}) …"
        )
    )
    t0 = time.monotonic()
    downloaded = 0
    with build_log.open("w") as log, console.status("mvn package …") as spinner:
        proc = subprocess.Popen(cmd, cwd=dest, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if "Downloaded from" in line:
                downloaded += 1
                spinner.update(f"mvn package: {downloaded} files downloaded from Maven Central …")
        rc = proc.wait()
    if rc != 0:
        raise StoreError(
            f"Building the Neo4j launcher failed (mvn exit {rc}); see {build_log} "
            f"(last line: {_last_lines(build_log, 1) or 'none'})."
        )
    (dest / "target" / "kgdx-source.sha256").write_text(_source_digest(_HARNESS_SRC) + "\n")
    console.print(
        f"Built the Neo4j launcher in {time.monotonic() - t0:.0f} s"
        + (f" ({downloaded} files downloaded)." if downloaded else ".")
    )
    return _launcher_jar(s)


# ------------------------------------------------------------------------------ process control


def _cmdline(pid: int) -> str | None:
    """The command line of ``pid``, or ``None`` if it cannot be read."""
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.exists():
        try:
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
    try:
        out = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() or None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a child of this process that has exited is reaped, not 'alive'."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        _CHILDREN.pop(pid, None)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an exited process that its parent has not reaped yet still takes signals
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] not in "ZX"
    except (OSError, ValueError, IndexError):
        return True


def _is_launcher(pid: int) -> bool:
    """Whether ``pid`` is alive and runs the kgdx launcher (a pid can be reused by the OS)."""
    if not _alive(pid):
        return False
    cmd = _cmdline(pid)
    return cmd is None or LAUNCHER_MAIN in cmd


def _read_pid(s: Settings) -> int | None:
    try:
        text = _pid_file(s).read_text().strip()
    except FileNotFoundError:
        return None
    try:
        pid = int(text)
    except ValueError:
        return None
    return pid if pid > 0 else None


def _read_state(s: Settings) -> dict[str, Any]:
    try:
        return json.loads(_state_file(s).read_text())
    except (FileNotFoundError, ValueError):
        return {}


@contextlib.contextmanager
def _lock(s: Settings):
    """Serialises start and stop of one server: two `kgdx neo4j start` at once must not race."""
    s.neo4j_dir.mkdir(parents=True, exist_ok=True)
    with open(s.neo4j_dir / "neo4j.lock", "w") as f:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _clear_pid(s: Settings) -> None:
    _pid_file(s).unlink(missing_ok=True)
    _state_file(s).unlink(missing_ok=True)


def _running_pid(s: Settings) -> int | None:
    """The pid of the running launcher, or ``None``; removes a stale or unreadable pid file."""
    if not _pid_file(s).exists():
        return None
    pid = _read_pid(s)
    if pid is not None and _is_launcher(pid):
        return pid
    _clear_pid(s)
    return None


def _terminate(pid: int, timeout_s: float) -> bool:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL. Returns whether SIGKILL was needed."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return False
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a process listens on ``host:port``; SO_REUSEADDR as Java's own bind uses it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _last_lines(path: Path, n: int) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except FileNotFoundError:
        return ""
    return " | ".join(lines[-n:])


def _failure_line(path: Path) -> str:
    """The launcher's ``KGDX_NEO4J_FAILED`` reason, else the log's last line."""
    try:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(FAILED_MARK):
                return line[len(FAILED_MARK) :].strip()
    except FileNotFoundError:
        return ""
    return _last_lines(path, 1)


# ---------------------------------------------------------------------------------- arguments


def _check_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"The Bolt port must be an integer in 1..65535 (got {port!r}).")
    return port


def _check_heap(heap: str, name: str = "KGDX_NEO4J_HEAP") -> str:
    if not _HEAP_RE.match(heap.strip()):
        raise ConfigError(f"{name} must be a JVM size such as 2g or 1536m (got {heap!r}).")
    return heap.strip()


def _check_local_uri(uri: str) -> None:
    host = urlsplit(uri).hostname or ""
    if host not in _LOCAL_HOSTS and not host.startswith("127."):
        raise ConfigError(
            f"KGDX_NEO4J_URI is {uri}, a non-local server; `kgdx neo4j start` only launches a local "
            "Neo4j on 127.0.0.1 (unset KGDX_NEO4J_URI, or set it to bolt://127.0.0.1:7687, to start one)."
        )


def _uri_port(uri: str) -> int | None:
    try:
        return urlsplit(uri).port or 7687
    except ValueError:
        return None


def ensure_password(s: Settings | None = None) -> Path:
    """The local server's password file, made on first use with a random password (mode 0600).

    ``KGDX_NEO4J_PASSWORD``, when set, is written into it instead, so the server and every client
    agree. A file that others could read is made private again.
    """
    import secrets

    s = s or get_settings()
    path = s.neo4j_password_file
    path.parent.mkdir(parents=True, exist_ok=True)
    wanted = s.neo4j_password
    if wanted is not None and len(wanted) < 8:
        raise ConfigError("KGDX_NEO4J_PASSWORD must have at least 8 characters (Neo4j's minimum).")
    current = path.read_text(encoding="utf-8").strip() if path.is_file() else None
    if current is None or (wanted is not None and wanted != current) or len(current) < 8:
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write((wanted or secrets.token_urlsafe(_PASSWORD_BYTES)) + "\n")
        tmp.replace(path)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path


def _java_command(
    java: str,
    jar: Path,
    *,
    port: int,
    data_dir: Path,
    heap: str,
    password_file: Path | None = None,
    tx_memory: str = "512m",
    read_only: bool = False,
) -> list[str]:
    """The command line of the launcher (the password is passed as a file, never on it)."""
    classpath = os.pathsep.join([str(jar), str(jar.parent / "lib" / "*")])
    return [
        java,
        f"-Xmx{heap}",
        *JVM_FLAGS,
        "-cp",
        classpath,
        LAUNCHER_MAIN,
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--plugins",
        str(jar.parent / "plugins"),
        "--pagecache",
        PAGECACHE,
        "--tx-memory",
        tx_memory,
        "--procedures",
        ",".join(SERVER_PROCEDURES),
        "--read-only",
        "true" if read_only else "false",
        *(["--password-file", str(password_file)] if password_file is not None else []),
    ]


# ----------------------------------------------------------------------------------- the server


def _driver(uri: str, s: Settings, timeout_s: float = 5.0):  # -> neo4j.Driver
    import neo4j  # a core dependency; imported here to keep `kgdx --help` fast

    return neo4j.GraphDatabase.driver(
        uri,
        auth=s.neo4j_auth(),
        connection_timeout=timeout_s,
        connection_acquisition_timeout=timeout_s,
        max_transaction_retry_time=timeout_s,  # probes must fail fast, not retry for 30 s
    )


def _listening(uri: str) -> bool:
    """Whether anything accepts TCP connections at ``uri``'s host and port (cheap, no retries)."""
    address = (urlsplit(uri).hostname or "127.0.0.1", _uri_port(uri) or 7687)
    try:
        socket.create_connection(address, timeout=1).close()
    except OSError:
        return False
    return True


def _bolt_answers(uri: str, s: Settings) -> bool:
    """Whether the server at ``uri`` answers ``RETURN 1``."""
    if not _listening(uri):
        return False  # not listening yet: skip the driver and its retries
    try:
        with _driver(uri, s, timeout_s=3) as driver:
            driver.verify_connectivity()
            records, _, _ = driver.execute_query("RETURN 1 AS ok", database_=s.neo4j_database)
            return bool(records) and records[0]["ok"] == 1
    except Exception:  # any driver or socket error means "not ready yet"
        return False


def _probe(uri: str, s: Settings) -> dict[str, Any]:
    """Version, edition and APOC of the server at ``uri``; empty if it does not answer."""
    found: dict[str, Any] = {}
    if not _listening(uri):
        return found
    try:
        with _driver(uri, s, timeout_s=3) as driver:
            records, _, _ = driver.execute_query(
                "CALL dbms.components() YIELD name, versions, edition RETURN name, versions[0] AS version, edition",
                database_="system",
            )
            for r in records:
                if r["name"] == "Neo4j Kernel":
                    found["version"], found["edition"] = r["version"], r["edition"]
            try:
                records, _, _ = driver.execute_query("RETURN apoc.version() AS v", database_=s.neo4j_database)
                found["apoc"], found["apoc_version"] = True, records[0]["v"]
            except Exception:  # the function is unknown: APOC did not load
                found["apoc"] = False
    except Exception:
        return {}
    return found


def status() -> Neo4jStatus:
    """The state of the server that ``kgdx neo4j start`` launched from this ``KGDX_HOME``.

    Returns:
        A :class:`Neo4jStatus`; ``running`` is false when no launcher process is alive. A stale
        pid file (the process is gone, or the pid now belongs to another program) is removed.
    """
    s = get_settings()
    pid = _running_pid(s)
    state = _read_state(s) if pid else {}
    uri = state.get("uri") or f"bolt://127.0.0.1:{s.neo4j_port}"
    info = _probe(uri, s) if pid else {}
    return Neo4jStatus(
        running=pid is not None,
        pid=pid,
        uri=uri,
        version=info.get("version"),
        edition=info.get("edition"),
        apoc=info.get("apoc"),
        apoc_version=info.get("apoc_version"),
        data_dir=state.get("data_dir") or str(_default_data_dir(s)),
        log=str(_log_file(s)),
        auth=state.get("auth") if pid else None,
        read_only=state.get("read_only") if pid else None,
        password_file=str(s.neo4j_password_file),
    )


def start(
    port: int | None = None,
    data_dir: str | Path | None = None,
    wait_s: float = 120,
    *,
    read_only: bool | None = None,
    console: Console | None = None,
) -> Neo4jStatus:
    """Starts the local Neo4j in the background and waits until Bolt answers.

    Builds the launcher first if needed (see :func:`build`). A no-op, with a message, if the
    server from this ``KGDX_HOME`` already runs.

    Args:
        port: Bolt port on 127.0.0.1; ``KGDX_NEO4J_PORT`` (7687) by default.
        data_dir: The server's data folder; ``<neo4j_dir>/db`` by default. Kept across restarts.
        wait_s: Seconds to wait for Bolt to answer before giving up (and stopping the server).
        read_only: Every database read-only for every client; ``KGDX_NEO4J_READ_ONLY`` by default.
        console: Where to print messages; stderr by default.

    Returns:
        The server's :class:`Neo4jStatus`.

    Raises:
        ConfigError: A bad argument, a non-local ``KGDX_NEO4J_URI``, or Java/Maven missing.
        StoreError: The port is taken, the launcher exited, or Bolt did not answer in time.
    """
    s = get_settings()
    console = console or _stderr
    _check_local_uri(s.neo4j_uri)
    port = _check_port(s.neo4j_port if port is None else port)
    if not isinstance(wait_s, (int, float)) or isinstance(wait_s, bool) or wait_s <= 0:
        raise ConfigError(f"The startup wait must be a positive number of seconds (got {wait_s!r}).")
    heap = _check_heap(s.neo4j_heap)
    _check_heap(s.neo4j_tx_memory, "KGDX_NEO4J_TX_MEMORY")
    home = Path(data_dir).expanduser() if data_dir is not None else _default_data_dir(s)
    home = home.resolve()
    with _lock(s):
        return _start_locked(s, port, home, data_dir is not None, heap, wait_s, read_only, console)


def _start_locked(
    s: Settings,
    port: int,
    home: Path,
    home_given: bool,
    heap: str,
    wait_s: float,
    read_only: bool | None,
    console: Console,
) -> Neo4jStatus:
    pid = _running_pid(s)
    if pid is not None:
        st = status()
        note = ""
        if st.uri != f"bolt://127.0.0.1:{port}" or (home_given and st.data_dir != str(home)):
            note = " (with other settings than asked for: run `kgdx neo4j stop` first to change them)"
        console.print(f"Neo4j is already running (pid {pid}) at {st.uri}{note}; nothing to do.")
        return st

    if _port_in_use(port):
        raise StoreError(
            f"Port {port} on 127.0.0.1 is already in use by another process; stop it or choose a free "
            "port with --port or KGDX_NEO4J_PORT."
        )
    if _uri_port(s.neo4j_uri) != port:
        console.print(
            f"[yellow]warning:[/] the server will listen on port {port} but KGDX_NEO4J_URI is "
            f"{s.neo4j_uri}; set KGDX_NEO4J_URI=bolt://127.0.0.1:{port} for clients and tests."
        )

    java = _find_java()
    _check_java(java, console)
    jar = build(console=console)
    home.mkdir(parents=True, exist_ok=True)
    log = _log_file(s)
    if log.exists():
        log.replace(log.with_name(log.name + ".1"))
    password_file = ensure_password(s)
    read_only = bool(s.neo4j_read_only if read_only is None else read_only)
    cmd = _java_command(
        java,
        jar,
        port=port,
        data_dir=home,
        heap=heap,
        password_file=password_file,
        tx_memory=s.neo4j_tx_memory.strip(),
        read_only=read_only,
    )
    uri = f"bolt://127.0.0.1:{port}"

    t0 = time.monotonic()
    with log.open("wb") as out:
        out.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=s.neo4j_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the shell and the CLI that started it
        )
    _CHILDREN[proc.pid] = proc
    _pid_file(s).write_text(f"{proc.pid}\n")
    _state_file(s).write_text(
        json.dumps(
            {
                "pid": proc.pid,
                "port": port,
                "uri": uri,
                "data_dir": str(home),
                "heap": heap,
                "auth": True,
                "read_only": read_only,
            },
            indent=2,
        )
        + "\n"
    )

    def give_up() -> None:
        if proc.poll() is None:
            _terminate(proc.pid, timeout_s=15)
        _CHILDREN.pop(proc.pid, None)
        _clear_pid(s)

    with console.status(f"Starting Neo4j on {uri} (heap {heap}) …"):
        try:
            while not _bolt_answers(uri, s):
                rc = proc.poll()
                if rc is not None:
                    give_up()
                    raise StoreError(
                        f"Neo4j exited during startup (exit {rc}): {_failure_line(log) or 'no output'}; see {log}."
                    )
                if time.monotonic() - t0 > wait_s:
                    give_up()
                    raise StoreError(
                        f"Neo4j did not answer on {uri} within {wait_s:g} s and was stopped; see the last "
                        f"lines of {log} (last: {_last_lines(log, 1) or 'none'})."
                    )
                time.sleep(0.5)
        except StoreError:
            raise
        except BaseException:  # Ctrl-C, SystemExit, a driver bug: no half-started server left behind
            give_up()
            raise
    console.print(f"Neo4j answered on {uri} after {time.monotonic() - t0:.1f} s (log: {log}).")
    return status()


def stop(timeout_s: float = 60, *, console: Console | None = None) -> bool:
    """Stops the local Neo4j: SIGTERM (a clean shutdown), then SIGKILL after ``timeout_s``.

    Args:
        timeout_s: Seconds to wait for a clean shutdown.
        console: Where to print messages; stderr by default.

    Returns:
        Whether a running server was stopped (``False`` if none was running).
    """
    s = get_settings()
    console = console or _stderr
    if not _pid_file(s).exists():
        console.print("Neo4j is not running; nothing to stop.")
        return False
    with _lock(s):
        pid = _running_pid(s)
        if pid is None:
            console.print("Neo4j is not running; nothing to stop.")
            return False
        t0 = time.monotonic()
        with console.status(f"Stopping Neo4j (pid {pid}) …"):
            killed = _terminate(pid, timeout_s=timeout_s)
        _CHILDREN.pop(pid, None)
        _clear_pid(s)
    if killed:
        console.print(
            f"[yellow]Neo4j (pid {pid}) did not stop within {timeout_s:g} s and was killed;[/] the store "
            "recovers from its transaction log on the next start."
        )
    else:
        console.print(f"Stopped Neo4j (pid {pid}) in {time.monotonic() - t0:.1f} s.")
    return True
