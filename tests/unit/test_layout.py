"""Guards of the package layout: our `http/` folder must never shadow the standard library."""

import http
import sysconfig
from pathlib import Path

import usagestream.http


def test_http_is_the_standard_library() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(http.__file__).resolve().is_relative_to(stdlib)


def test_our_http_package_is_namespaced() -> None:
    assert Path(usagestream.http.__file__).resolve().parent.name == "http"
    assert usagestream.http.__name__ == "usagestream.http"
