"""YAML -> typed, frozen dataclasses, with `key.sub=value` overrides and errors a person can act on.

Configuration is data: every tool here (the bulk job, training, evaluation) declares its settings
as dataclasses and loads them through this module. Errors name the full dotted key and, for a
misspelt key, suggest the closest valid one. Override values are parsed as YAML, so
`compute.num_gpus=0.5`, `resume.enabled=false` and `input.extensions=[.wav,.flac]` do what they look like.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

import yaml


class InvalidSettings(ValueError):
    """A settings class's own checks failed; ``problems`` lists them as (field, what is wrong), so
    the loader can name each dotted key. Subclasses say which settings (``what``)."""

    what = "settings"

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__(f"invalid {self.what}: " + "; ".join(f"{name} {text}" for name, text in self.problems))


class ConfigError(ValueError):
    """A config problem a person can fix; the message names the key and what is allowed."""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "mapping"
    return {int: "integer", float: "number", bool: "true/false", str: "string"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: must be one of {', '.join(map(repr, allowed))}, got {value!r}{hint}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise bad
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        names = [str(a) for arg in args if typing.get_origin(arg) is Literal for a in typing.get_args(arg)]
        close = difflib.get_close_matches(str(value), names, n=1) if isinstance(value, str) else []
        raise ConfigError(f"{bad} (did you mean {close[0]!r}?)") if close else bad
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise bad
        item = typing.get_args(tp)[0]
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise bad
        return {str(k): v for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise bad
        return str(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    raise bad  # pragma: no cover - every field type is handled above


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys with a suggestion."""
    prefix = f"{where}." if where else ""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        key = str(key)
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            raise ConfigError(
                f"unknown key '{prefix}{key}'{hint} (valid keys here: {', '.join(fields)})"
            )
        kwargs[key] = _coerce(value, hints[key], prefix + key)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as err:  # the dataclass's own checks (__post_init__)
        raise ConfigError(_checks_failed(err, prefix, list(fields), where or cls.__name__)) from None


def _checks_failed(err: ValueError, prefix: str, names: list[str], where: str) -> str:
    """One line naming the dotted key(s): from ``err.problems`` [(field, text)] when the class
    reports per field (EnhanceConfig, ModelConfig), else from a message that starts with a field name."""
    problems = getattr(err, "problems", None)
    if problems:
        return "; ".join(f"{prefix}{name}: {text}" for name, text in problems)
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    name = text.split(" ", 1)[0].removeprefix(prefix)
    if name in names and " " in text:
        return f"{prefix}{name}: {text.split(' ', 1)[1]}"
    return f"{where}: {text}"


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c.d=[x, y]"]`` -> nested dict; values are parsed as YAML."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {item!r} must look like section.key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw  # not YAML (e.g. a template like "{stem}.wav"): take the text as it is
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with an earlier override of {part!r}")
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and key != "storage_options":
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def apply_overrides(data: Mapping[str, Any], overrides: list[str] | Mapping[str, Any]) -> dict[str, Any]:
    extra = parse_overrides(list(overrides)) if isinstance(overrides, list) else overrides
    return _merge(dict(data), extra)


def read_yaml(path: str) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is an empty mapping)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def load_typed(cls: type, path: str | None = None, overrides: list[str] | Mapping[str, Any] = ()) -> Any:
    """Read `path` (None = all defaults), apply overrides and build `cls`, naming the file in errors."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, list(overrides) if not isinstance(overrides, Mapping) else overrides)
    try:
        return from_dict(cls, data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}" if path else str(err)) from None
