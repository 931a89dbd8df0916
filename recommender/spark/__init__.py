"""Apache Spark for data one machine cannot hold (``recommender train --backend spark``, ``forecast --backend spark``).

Spark is an optional extra (``pip install 'recommender[spark]'``) and needs Java 17 or newer; nothing here
imports ``pyspark`` at module level, so the rest of the package (and serving) never needs it.
:func:`require_spark` checks both before a session is started, so a missing piece is reported
as what to install rather than as a Java gateway stack trace.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_MASTER = "local[*]"
MIN_JAVA = 17
INSTALL_PYSPARK = "install the [spark] extra: pip install 'recommender[spark]'"
INSTALL_JAVA = (f"install Java {MIN_JAVA} or newer (e.g. `apt-get install openjdk-{MIN_JAVA}-jre-headless`) and put "
                "its `java` on PATH or set JAVA_HOME to its directory")


class SparkUnavailable(ValueError):
    """pyspark or a suitable Java is missing; the message says what to install."""


def java_executable() -> str | None:
    """The ``java`` Spark will start: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java")


def java_major_version(java: str) -> int | None:
    """The major version ``java -version`` reports (``17`` for ``17.0.15``, ``8`` for ``1.8.0``)."""
    try:
        output = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def require_spark() -> None:
    """Raise :class:`SparkUnavailable` unless pyspark is importable and Java 17+ is found."""
    if importlib.util.find_spec("pyspark") is None:
        raise SparkUnavailable(f"--backend spark needs pyspark, which is not installed: {INSTALL_PYSPARK}")
    java = java_executable()
    if java is None:
        where = f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java" if os.environ.get("JAVA_HOME") \
            else "no `java` on PATH and JAVA_HOME is not set"
        raise SparkUnavailable(f"--backend spark needs Java {MIN_JAVA}+, which was not found ({where}): {INSTALL_JAVA}")
    version = java_major_version(java)
    if version is None or version < MIN_JAVA:
        found = "an unknown version" if version is None else f"Java {version}"
        raise SparkUnavailable(f"--backend spark needs Java {MIN_JAVA}+, but {java} is {found}: {INSTALL_JAVA}")


@contextmanager
def spark_session(master: str = DEFAULT_MASTER, checkpoint_dir: str | None = None, conf: dict | None = None,
                  app_name: str = "recommender-train") -> Iterator:
    """A SparkSession on ``master`` (``local[*]``, ``spark://host:7077``, ``yarn``, ...), stopped on exit.

    When a session is already active in this process (a notebook, a test suite), it is used as it is
    (``master`` and ``conf`` do not apply) and left running. Times without a zone are read as UTC,
    like the single-machine loaders; Arrow moves results to the driver. ALS checkpoints to
    ``checkpoint_dir`` (on a cluster, a path every node can reach, e.g. on HDFS); by default a
    temporary local directory, removed on exit (an active session keeps a checkpoint directory it
    already has). ``conf`` adds Spark settings such as ``{"spark.sql.shuffle.partitions": "8"}``.
    """
    require_spark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.showConsoleProgress", "false"))
    if master.startswith("local"):  # Python workers run this interpreter (forecasts run statsforecast in them)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in (conf or {}).items():
        builder = builder.config(key, str(value))
    spark = active or builder.getOrCreate()
    try:
        with tempfile.TemporaryDirectory(prefix="recommender-spark-checkpoints-") as scratch:
            if checkpoint_dir or spark.sparkContext.getCheckpointDir() is None:
                spark.sparkContext.setCheckpointDir(checkpoint_dir or scratch)
            yield spark
    finally:
        if active is None:
            spark.stop()
