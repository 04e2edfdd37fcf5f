"""The launcher's state folder: which services this launcher started, their pids, data and log paths."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORD = "started.json"


@dataclass(frozen=True, slots=True)
class StateDir:
    """One absolute folder holding `started.json` and a sub-folder per service (data, config, logs)."""

    root: Path

    @classmethod
    def at(cls, path: str) -> StateDir:
        return cls(Path(path).expanduser().resolve())

    def service(self, name: str) -> Path:
        """The folder of one service (created when the service is first started)."""
        return self.root / name

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise launchers sharing this folder, so two `up`s never start the same service twice."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def started(self) -> dict[str, dict[str, Any]]:
        """service name -> what `up` recorded when it started it (pid, start ticks, ...)."""
        try:
            data: dict[str, dict[str, Any]] = json.loads((self.root / RECORD).read_text())
        except FileNotFoundError:
            return {}
        return data

    def record(self, name: str, info: dict[str, Any] | None) -> None:
        """Remember (or, with None, forget) that this launcher started `name`; written atomically."""
        data = self.started()
        if info is None:
            data.pop(name, None)
        else:
            data[name] = info
        tmp = self.root / (RECORD + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.root / RECORD)
