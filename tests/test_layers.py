"""The layers docs/architecture.md draws, checked on the import graph of lib/ (see test_import_cycles): who may
import whom. A failure names the import that crosses a layer."""

from __future__ import annotations

import ast
from pathlib import Path

from test_import_cycles import LIB, import_graph

#: a service's modules may import these other services' modules (the runtime serves the SageMaker backend's models)
SHARED_BACKENDS = {("sagemaker_runtime", "sagemaker")}


def _crossings(rule: str, bad: list[tuple[str, str]]) -> str:
    return f"{rule}:\n" + "\n".join(f"  {a} imports {b}" for a, b in sorted(bad))


def _edges() -> list[tuple[str, str]]:
    return [(a, b) for a, targets in import_graph().items() for b in targets]


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_localcloud_knows_nothing_of_retrain() -> None:
    bad = [(a, b) for a, b in _edges() if _under(a, "localcloud") and _under(b, "retrain")]
    assert not bad, _crossings("localcloud is a cloud, not part of the pipeline", bad)


def test_retrain_uses_localcloud_only_through_its_public_faces() -> None:
    faces = {"localcloud", "localcloud.iam"}
    bad = [(a, b) for a, b in _edges() if _under(a, "retrain") and _under(b, "localcloud") and b not in faces]
    assert not bad, _crossings("retrain may import only `localcloud` and `localcloud.iam`", bad)


def test_core_is_the_bottom_of_localcloud() -> None:
    above = ("localcloud.services", "localcloud.asl", "localcloud.server", "localcloud.lifecycle", "localcloud.cli",
             "localcloud.images", "localcloud.iam")
    bad = [(a, b) for a, b in _edges() if _under(a, "localcloud.core") and any(_under(b, p) for p in above)]
    assert not bad, _crossings("localcloud.core imports only the standard library, localcloud.errors/settings", bad)


def test_the_engine_does_not_reach_into_services_or_the_server() -> None:
    above = ("localcloud.services", "localcloud.server", "localcloud.lifecycle", "localcloud.cli")
    bad = [(a, b) for a, b in _edges() if _under(a, "localcloud.asl") and any(_under(b, p) for p in above)]
    assert not bad, _crossings("the ASL engine and its integrations call services over HTTP, never their code", bad)


def test_services_do_not_import_each_other() -> None:
    def service(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if len(parts) > 2 and parts[:2] == ["localcloud", "services"] else None

    bad = [(a, b) for a, b in _edges() if service(a) and service(b) and service(a) != service(b)
           and (service(a), service(b)) not in SHARED_BACKENDS]
    assert not bad, _crossings("a service talks to another over HTTP (core.clients), as AWS services do", bad)


def _imported_names(path: Path) -> set[str]:
    """Every module name an import statement of ``path`` names (third-party ones too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def test_only_a_services_api_speaks_http() -> None:
    http = ("localcloud.core.protocol", "localcloud.core.keepalive", "werkzeug", "http.server", "wsgiref")
    services = LIB / "localcloud" / "services"
    bad = [(str(path.relative_to(LIB)), name) for path in services.glob("*/*.py")
           if path.name not in ("api.py", "__init__.py")
           for name in _imported_names(path) if any(_under(name, h) for h in http)]
    assert not bad, _crossings("backends return plain results and raise service errors; api.py does the wire", bad)
