"""One declaration per option: a dataclass whose fields are declared with `option(...)` is the source from
which a command's argparse flags and a Dagster `Config` class are derived, with the same defaults.

A field's metadata says how each side spells it: the CLI flag (default `--name-with-dashes`), the Dagster
field name (default the field's), a default that differs on one side, whether a side has it at all, and
for a typed value (say a datetime) the text type both sides take plus the function that parses it.
Dagster is imported only by `dagster_config`, so a command that only parses flags stays light.

Why not pydantic-settings' CLI support (`CliSettingsSource` over a parser of ours): it would change the flags
and the help docs/reference.md documents. It names each value by its type (`--rate float`, not `--rate RATE`), has
no per-field metavar (`--until-idle SECONDS`), appends `(default: ...)` to every help line, and its mutually
exclusive group is a nested model whose flags carry the group's name (`--stop.count`, not `--count`). Nor does
it cover the Dagster side: a field named or defaulted differently there (`duration_seconds`, a run's 10,000
events) or present on one side only. What is left here is only that mapping, over the standard library.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    help: str = ""
    flag: str | None = None  # CLI flag; None = "--" + name with dashes
    metavar: str | None = None
    choices: tuple | None = None
    exclusive: str | None = None  # options with the same name here are mutually exclusive on the CLI
    cli: bool = True
    dagster: bool = True
    dagster_name: str | None = None
    dagster_default: Any = _UNSET  # when Dagster's default differs from the field's
    text_type: type | None = None  # the type both sides take when the field's own type is not (a datetime)
    parse: Callable[[Any], Any] | None = None  # text_type value -> field value


def option(default: Any, **spec: Any) -> Any:
    """A dataclass field that is also a CLI flag and a Dagster config field (see OptionSpec)."""
    return dataclasses.field(default=default, metadata={"option": OptionSpec(**spec)})


@dataclasses.dataclass(frozen=True)
class _Option:
    name: str
    type: type  # int, float, str, ... (None stripped)
    optional: bool
    default: Any
    spec: OptionSpec

    @property
    def flag(self) -> str:
        return self.spec.flag or "--" + self.name.replace("_", "-")

    @property
    def dagster_name(self) -> str:
        return self.spec.dagster_name or self.name

    @property
    def dagster_default(self) -> Any:
        return self.default if self.spec.dagster_default is _UNSET else self.spec.dagster_default

    def to_value(self, given: Any) -> Any:
        return self.spec.parse(given) if self.spec.parse is not None else given


def _options(cls: type) -> Iterator[_Option]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("option")
        if spec is None:
            continue
        hint = hints[f.name]
        args = (
            typing.get_args(hint)
            if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
            else ()
        )
        optional = type(None) in args
        base = next((a for a in args if a is not type(None)), hint) if args else hint
        yield _Option(f.name, spec.text_type or base, optional or spec.text_type is not None, f.default, spec)


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per CLI option of `cls`, dest = the field's name, with the field's default."""
    groups: dict[str, Any] = {}
    for opt in _options(cls):
        if not opt.spec.cli:
            continue
        target = parser
        if opt.spec.exclusive:
            if opt.spec.exclusive not in groups:
                groups[opt.spec.exclusive] = parser.add_mutually_exclusive_group()
            target = groups[opt.spec.exclusive]
        kwargs: dict[str, Any] = {"dest": opt.name, "default": opt.default, "help": opt.spec.help or None}
        if opt.type is not str:
            kwargs["type"] = opt.type
        if opt.spec.choices:
            kwargs["choices"] = opt.spec.choices
        if opt.spec.metavar:
            kwargs["metavar"] = opt.spec.metavar
        target.add_argument(opt.flag, **kwargs)


def from_arguments(cls: type, args: argparse.Namespace, **values: Any):
    """An instance of `cls` from parsed flags (fields without a flag keep their default; `values` win)."""
    given = {o.name: o.to_value(getattr(args, o.name)) for o in _options(cls) if o.spec.cli}
    return cls(**{**given, **values})


def dagster_config(cls: type, name: str, include: Callable[[str], bool] = lambda _name: True, base=None):
    """A `dagster.Config` subclass with one field per Dagster option of `cls` (`include` filters by name)."""
    import dagster as dg
    import pydantic

    fields: dict[str, Any] = {}
    for opt in _options(cls):
        if not opt.spec.dagster or not include(opt.name):
            continue
        annotation = opt.type | None if opt.optional else opt.type
        fields[opt.dagster_name] = (annotation, pydantic.Field(default=opt.dagster_default))
    return pydantic.create_model(name, __base__=base or dg.Config, __module__=cls.__module__, **fields)


def from_dagster_config(cls: type, config: Any, **values: Any):
    """An instance of `cls` from a config made by `dagster_config` (other fields keep their default)."""
    given = {}
    for opt in _options(cls):
        if opt.spec.dagster and hasattr(config, opt.dagster_name):
            given[opt.name] = opt.to_value(getattr(config, opt.dagster_name))
    return cls(**{**given, **values})
