"""One experiment's merged data -> a validated ExperimentConfig, or its problems.

Core keys are structured into ExperimentConfig by the one converter (unknown keys
forbidden, scalars strict); each plugin section into its component's ``config_type``.
The experiment's own backend always gets its section (defaults when absent); another
backend's section is dropped (it configures other experiments of the sweep); meter and
sink sections are kept as written. Names of the backend, meters and sinks must be
installed here; ``builtin:`` models must be built-in and take ``weights: random`` (their
default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from cattrs.errors import BaseValidationError

from llem.architectures import BUILTIN_PREFIX, builtin_name, builtin_names
from llem.config.catalog import CORE_KEYS, DEFAULT_BACKEND, Catalog
from llem.config.layers import Origins
from llem.config.problems import Issue, structuring_issues
from llem.config.schema import ExperimentConfig
from llem.converter import converter


@attrs.define
class Builder:
    """Builds experiments against one catalog (and one list of built-in models)."""

    catalog: Catalog
    builtin_models: frozenset[str] | None = None  # None: llem.architectures is not installed

    @classmethod
    def create(cls, catalog: Catalog) -> Builder:
        return cls(catalog, _builtin_models())

    def build(self, data: Mapping[str, Any], origins: Origins) -> ExperimentConfig | list[str]:
        """The experiment, or the rendered problems (file:line:col: key: message)."""
        issues: list[Issue] = []
        core = {k: v for k, v in data.items() if k in CORE_KEYS}
        backend = core.get("backend", DEFAULT_BACKEND)
        problem = self.catalog.component_problem("backend", backend)
        if problem is not None:
            if "backend" not in core:
                problem += (
                    f" ({DEFAULT_BACKEND} is the default backend; choose another "
                    "with backend: or --backend)"
                )
            issues.append(Issue(("backend",), problem))
        issues.extend(self._model_issues(core.get("model")))
        issues.extend(_builtin_weights_issues(core))
        if _is_builtin(core.get("model")):
            core.setdefault("weights", "random")  # the only weights a built-in has
        sections = self._sections(data, backend if problem is None else None, issues)
        cfg = structure_into(core, ExperimentConfig, (), issues)
        if cfg is not None:
            issues.extend(self._name_issues(cfg, data.get("output")))
            issues.extend(self._serving_issues(cfg, problem))
        if issues:
            return [i.render(origins) for i in issues]
        assert cfg is not None
        return attrs.evolve(cfg, sections=sections)

    def _sections(
        self, data: Mapping[str, Any], backend: str | None, issues: list[Issue]
    ) -> dict[str, Any]:
        sections: dict[str, Any] = {}
        for name, value in data.items():
            if name in CORE_KEYS:
                continue
            if self.catalog.section_kinds.get(name) == "backend" and name != backend:
                continue
            typ = self.catalog.section_types.get(name)
            if typ is None:
                problem = self.catalog.top_level_problem(name, study=False)
                issues.append(Issue((name,), problem or "not a section", at_key=True))
                continue
            section = structure_into({} if value is None else value, typ, (name,), issues)
            if section is not None:
                sections[name] = section
        if (
            backend is not None
            and backend not in sections
            and backend in self.catalog.section_types
        ):
            default = structure_into({}, self.catalog.section_types[backend], (backend,), issues)
            if default is not None:
                sections[backend] = default
        return dict(sorted(sections.items()))

    def _model_issues(self, model: Any) -> list[Issue]:
        name = builtin_name(model) if isinstance(model, str) else None
        if name is None or self.builtin_models is None or name in self.builtin_models:
            return []
        import difflib

        names = sorted(self.builtin_models)
        msg = f"no built-in model named {name!r}"
        close = (
            difflib.get_close_matches(name, names, n=1, cutoff=0.5)
            or [n for n in names if name and n.startswith(name)][:1]
        )
        if close:
            msg += f"; did you mean '{BUILTIN_PREFIX}{close[0]}'?"
        shown = ", ".join(BUILTIN_PREFIX + n for n in names) or "none"
        return [Issue(("model",), msg + f" (built-in models: {shown})")]

    def _serving_issues(self, cfg: ExperimentConfig, backend_problem: str | None) -> list[Issue]:
        """``load.mode: serving`` needs a backend that streams (``Backend.serves``)."""
        if cfg.load.mode != "serving" or backend_problem or cfg.backend in self.catalog.serving:
            return []
        serving = ", ".join(sorted(self.catalog.serving)) or "none installed"
        return [
            Issue(
                ("load", "mode"),
                f"backend {cfg.backend!r} cannot serve (its class does not set serves = True); "
                f"use load.mode: offline, or a backend that serves ({serving})",
            )
        ]

    def _name_issues(self, cfg: ExperimentConfig, output: Any) -> list[Issue]:
        issues = []
        meter = cfg.energy.meter
        if meter is not None and meter != "auto":
            problem = self.catalog.component_problem("meter", meter)
            if problem:
                issues.append(Issue(("energy", "meter"), problem))
        for i, name in enumerate(cfg.energy.cross_check):
            problem = self.catalog.component_problem("meter", name)
            if problem:
                issues.append(Issue(("energy", "cross_check", i), problem))
        # the names as written (the built-in sinks that cfg.output.sinks adds are not)
        written = output.get("sinks") if isinstance(output, Mapping) else None
        for i, name in enumerate(written if isinstance(written, (list, tuple)) else ()):
            problem = self.catalog.component_problem("sink", name)
            if problem:
                issues.append(Issue(("output", "sinks", i), problem))
        return issues


def _builtin_weights_issues(core: Mapping[str, Any]) -> list[Issue]:
    """A built-in architecture has no weights to load: ``weights: pretrained`` with one
    fails here, once, rather than in every worker's preflight. Left unset, ``weights``
    of a built-in is ``random``."""
    model, weights = core.get("model"), core.get("weights", "random")
    if not _is_builtin(model) or weights == "random":
        return []
    return [
        Issue(
            ("weights",),
            f"{model} is a built-in architecture without weights, but weights is "
            f"{weights!r}; set weights: random (random weights of that architecture) "
            f"or use a model with weights (a hub id or a local directory)",
        )
    ]


def _is_builtin(model: Any) -> bool:
    return isinstance(model, str) and model.startswith(BUILTIN_PREFIX)


def structure_into(data: Any, typ: type, base: tuple, issues: list[Issue]) -> Any:
    """``data`` structured into ``typ``, or None with its problems added to ``issues``."""
    try:
        return converter.structure(data, typ)
    except BaseValidationError as exc:
        issues.extend(structuring_issues(exc, data, typ, base))
    except Exception as exc:  # a plugin's section class may raise anything: still a config error
        if not isinstance(data, Mapping):
            issues.append(Issue(base, f"expected a mapping (a section of keys), got {data!r}"))
        else:
            issues.append(Issue(base, f"{type(exc).__name__}: {exc}"))
    return None


def _builtin_models() -> frozenset[str]:
    """Names of the built-in models (without the prefix)."""
    return frozenset(builtin_names())
