"""Turn ``{command, args}`` into a validated argv: the ONE argument validator.

``datasety workflow`` steps and the server's jobs (``POST /v1/jobs``) both name a command and
give its arguments as a mapping. Everything here is derived from the click commands in
:func:`datasety.commands.commands` through click's public API (``params``, ``opts``, ``type``,
``is_flag``, ``multiple``, ``nargs``, ``required``, ``default``, ``hidden``, ``help``): there is
no second list of parameters to keep in step.

Argument keys
    A key names a parameter by its long flag, with or without the leading dashes, in dash or
    underscore spelling (``"crop-position"``, ``"crop_position"``, ``"--crop-position"``), or
    by the parameter's Python name (``"input_"``). A flag's ``--no-x`` form is accepted as the
    key ``"no-x"`` with the opposite meaning. Short flags (``"i"``) are not keys: one letter
    is too easy to mistype into another parameter.

Values
    ``None`` omits the parameter. A flag takes ``true`` (given) or ``false`` (omitted, or its
    ``--no-x`` form). Strings, integers and floats are checked with the parameter's own click
    type, exactly as the command will parse them. A list is a repeated option (``multiple``) or
    the values of an ``nargs > 1`` option. Objects are refused everywhere.

The argv
    :func:`build_argv` returns the arguments *including* the command name, ready for
    ``[sys.executable, "-m", "datasety", *argv]``. An option and its value are two items, as in
    the spec's examples (``--input``, ``/data``), except a value that starts with ``-``, which
    is attached to its flag (``--input=--help``); positional arguments follow ``--``. So no
    value can ever be read as a flag: a job argument cannot smuggle in ``--help`` or another
    option. A value equal to its parameter's default is left out. The argv is then parsed by
    the command's own click parser (:func:`check_parses`: required options, values, the
    :mod:`rules <datasety.commands.rules>` between options), so a job that could not start is
    refused when it is submitted, with click's message and the parameter it is about
    (:class:`~datasety.core.errors.ArgumentError`'s ``field``).

Secrets
    A :class:`~datasety.commands.options.SecretOption` (``upload --token``) is refused: a job's
    or a step's command line is stored and shown. Its environment variable is the way in.

Excluded commands
    :data:`JOB_EXCLUDED` names commands that make no sense as a job or a workflow step:
    ``server`` would start a second server inside a job and never finish. ``workflow`` stays
    allowed: a job may run a workflow file (its own recursion guard stops cycles).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import Any

import click
from click.core import ParameterSource

from datasety.commands import (
    commands,
    get_command,
    options,
    resumable,
    resume_point,
    wants_accelerator,
)
from datasety.commands.rules import Rule, RuleError, command_rules
from datasety.core.confinement import Confinement
from datasety.core.errors import ArgumentError, DatasetyError

JOB_EXCLUDED = frozenset({"server"})

_SCALARS = (str, int, float)


# -- parameters as the outside world names them ------------------------------------------------


def visible_params(command: click.Command) -> list[click.Parameter]:
    """The parameters a caller may set: not hidden, not eager extras such as ``--version``."""
    return [
        param
        for param in command.params
        if param.expose_value and not getattr(param, "hidden", False) and param.name != "help"
    ]


def _long_opt(opts: list[str]) -> str | None:
    return next((opt for opt in opts if opt.startswith("--")), None)


def public_name(param: click.Parameter) -> str:
    """The name a schema shows: the long flag in underscore spelling (``crop_position``)."""
    long_opt = _long_opt(param.opts) if isinstance(param, click.Option) else None
    if long_opt:
        return long_opt[2:].replace("-", "_")
    return param.name or param.human_readable_name


def _normalize_key(key: str) -> str:
    return key.lstrip("-").replace("_", "-")


def _key_index(command: click.Command) -> dict[str, tuple[click.Parameter, bool]]:
    """Every accepted key (normalized) -> (parameter, negated)."""
    params = visible_params(command)
    index: dict[str, tuple[click.Parameter, bool]] = {}
    # Flags first: a long flag always wins over a Python name that happens to match it.
    for param in params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                if opt.startswith("--"):
                    index.setdefault(_normalize_key(opt), (param, False))
            for opt in param.secondary_opts:
                if opt.startswith("--"):
                    index.setdefault(_normalize_key(opt), (param, True))
    names = [param.name for param in params]
    for param in params:
        # Feature-switch options share one Python name; that name then picks no one.
        if param.name and names.count(param.name) == 1:
            index.setdefault(_normalize_key(param.name), (param, False))
    return index


# -- looking up commands -----------------------------------------------------------------------


def runnable_commands() -> dict[str, click.Command]:
    """The commands a job or a workflow step may run, in registry order."""
    return {name: cmd for name, cmd in commands().items() if name not in JOB_EXCLUDED}


def get_runnable(command: Any) -> click.Command:
    """The click command a job or step may run, or a one-line error."""
    if not isinstance(command, str):
        raise DatasetyError(f"Unknown command: {command}")
    found = commands().get(command)
    if found is None:
        raise DatasetyError(f"Unknown command: {command}")
    if command in JOB_EXCLUDED:
        raise DatasetyError(f"Command '{command}' cannot run as a job or a workflow step")
    return found


# -- validation --------------------------------------------------------------------------------


def type_label(param: click.Parameter) -> str:
    """What a parameter expects, in words: ``"an integer >= 0"``, ``"one of a, b"``."""
    if isinstance(param, click.Option) and (param.is_flag or param.count):
        return "true or false" if param.is_flag else "a count (integer >= 0)"
    return _describe_type(param.type)


def _describe_type(kind: click.ParamType) -> str:
    if isinstance(kind, options.PatternText):
        return kind.hint
    if isinstance(kind, click.Choice):
        return "one of " + ", ".join(str(choice) for choice in kind.choices)
    if isinstance(kind, (click.IntRange, click.FloatRange)):
        base = "an integer" if isinstance(kind, click.IntRange) else "a number"
        bounds = []
        if kind.min is not None:
            bounds.append(f"{'>' if kind.min_open else '>='} {kind.min}")
        if kind.max is not None:
            bounds.append(f"{'<' if kind.max_open else '<='} {kind.max}")
        return f"{base} {' and '.join(bounds)}".strip()
    if isinstance(kind, click.types.IntParamType):
        return "an integer"
    if isinstance(kind, click.types.FloatParamType):
        return "a number"
    if isinstance(kind, click.types.BoolParamType):
        return "true or false"
    if isinstance(kind, click.Tuple):
        return "a list of " + ", ".join(_describe_type(t) for t in kind.types)
    return "a string" if kind.name in {"text", "path", "filename"} else f"a {kind.name}"


def _what(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


class _Checker:
    """Validates the values of one command's parameters and renders them as argv."""

    def __init__(
        self, name: str, command: click.Command, confinement: Confinement | None = None
    ) -> None:
        self.name = name
        self.command = command
        self.ctx = click.Context(command, info_name=name)
        self.confinement = confinement

    def confine(self, param: click.Parameter, kind: click.ParamType, text: str) -> None:
        """Refuse a path, or a file-naming text, outside the roots (when there are roots)."""
        if self.confinement is None:
            return
        problem = None
        if isinstance(kind, (click.Path, click.File)):
            problem = self.confinement.path_problem(text)
        elif isinstance(kind, options.TextOrPath):
            problem = self.confinement.text_problem(text)
        if problem:
            raise self.fail(param, problem)

    def fail(self, param: click.Parameter, problem: str) -> ArgumentError:
        name = public_name(param)
        return ArgumentError(f"Parameter '{name}' of {self.name} {problem}", field=name)

    def scalar(self, param: click.Parameter, kind: click.ParamType, value: Any) -> str:
        """One value as the text the command will parse, after the command's own check."""
        expected = _describe_type(kind)
        if isinstance(value, bool) and not isinstance(kind, click.types.BoolParamType):
            raise self.fail(param, f"expects {expected}, got {_what(value)}")
        if not isinstance(value, _SCALARS):
            raise self.fail(param, f"expects {expected}, got {_what(value)}")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        self.confine(param, kind, text)
        # Paths may not exist yet when a workflow is validated (an earlier step makes them),
        # so their existence is the command's business at run time; the text is enough here.
        if isinstance(kind, (click.Path, click.File)):
            return text
        try:
            kind.convert(text, param, self.ctx)
        except click.BadParameter as exc:
            problem = f"expects {expected}, got {text!r}"
            if isinstance(kind, options.PatternText) and re.fullmatch(kind.pattern, text):
                problem = f"is out of range: {exc.message}"  # the right shape, e.g. 0x5
            raise self.fail(param, problem) from exc
        return text

    def values(self, param: click.Parameter, value: Any) -> list[str]:
        """The texts for one occurrence of ``param`` (one, or ``nargs`` of them)."""
        if param.nargs == 1:
            if isinstance(value, (list, tuple, Mapping)):
                raise self.fail(param, f"expects {type_label(param)}, got {_what(value)}")
            return [self.scalar(param, param.type, value)]
        if not isinstance(value, (list, tuple)):
            raise self.fail(param, f"expects a list of {param.nargs} values, got {_what(value)}")
        if param.nargs > 0 and len(value) != param.nargs:
            got = f"{len(value)} value{'s' * (len(value) != 1)}"
            raise self.fail(param, f"expects a list of {param.nargs} values, got {got}")
        kinds = (
            list(param.type.types)
            if isinstance(param.type, click.Tuple)
            else [param.type] * len(value)
        )
        return [self.scalar(param, kind, item) for kind, item in zip(kinds, value, strict=True)]

    def option(self, param: click.Option, negated: bool, value: Any) -> list[str]:
        """The argv pieces for an option."""
        if param.is_flag:
            return self.flag(param, negated, value)
        if param.count:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise self.fail(param, f"expects a count (integer >= 0), got {_what(value)}")
            return [self.flag_opt(param)] * value
        opt = self.flag_opt(param)
        occurrences = value if param.multiple and isinstance(value, (list, tuple)) else [value]
        argv: list[str] = []
        for occurrence in occurrences:
            texts = self.values(param, occurrence)
            if not texts:
                continue
            if texts[0].startswith("-"):
                # Attached to its flag, a value like "--help" stays a value.
                first = f"{opt}={texts[0]}" if opt.startswith("--") else f"{opt}{texts[0]}"
                argv += [first, *texts[1:]]
            else:
                # The spec's argv form: the flag, then its value, as separate items.
                argv += [opt, *texts]
        return argv

    def flag(self, param: click.Option, negated: bool, value: Any) -> list[str]:
        if not isinstance(value, bool):
            raise self.fail(param, f"is a flag: expects true or false, got {_what(value)}")
        on = value != negated
        if on:
            return [self.flag_opt(param)]
        off = _long_opt(param.secondary_opts) or next(iter(param.secondary_opts), None)
        if off:
            return [off]
        if param.is_bool_flag and param.default is True:
            raise self.fail(param, "is on by default and has no flag to turn it off")
        return []

    @staticmethod
    def flag_opt(param: click.Option) -> str:
        return _long_opt(param.opts) or param.opts[0]


def build_argv(
    command: str,
    args: Mapping[str, Any] | None = None,
    confinement: Confinement | None = None,
) -> list[str]:
    """The validated argv for ``command`` with ``args``, starting with the command name.

    Raises :class:`~datasety.core.errors.DatasetyError` with a one-line message for an unknown or
    excluded command, an unknown or repeated parameter, a value of the wrong type or outside
    the choices, and a missing required parameter; with a ``confinement``, also for a path
    argument outside its roots (see :mod:`datasety.core.confinement`).

    A value equal to its parameter's default is left out, so a client that sends every
    parameter with its default gets the command line (and the run) of one that leaves them out:
    a command that tells "given" from "defaulted" (train's voice flags, resize's
    ``--output-format`` beside ``--output-image``) sees them as not given.
    """
    click_command = get_runnable(command)
    explicit = without_defaults(command, click_command, args)
    argv = command_argv(command, click_command, explicit, confinement)
    check_parses(click_command, argv)
    check_fits(command, argv)
    return argv


def without_defaults(
    name: str, command: click.Command, args: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """``args`` less every key whose value click parses to the parameter's default (paths
    stay: the server's ``--root`` judges every path a job is given)."""
    if not args or not isinstance(args, Mapping):
        return args
    argv = command_argv(name, command, args)
    try:
        # Resilient: only the values are wanted here; check_parses judges the final argv.
        ctx = command.make_context(name, argv[1:], resilient_parsing=True)
    except click.ClickException:
        return args
    defaulted = {
        param.name
        for param in visible_params(command)
        if param.name is not None
        and not isinstance(param.type, (click.Path, click.File))
        and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
        and ctx.params.get(param.name) == param.get_default(ctx)
    }
    ctx.close()
    index = _key_index(command)
    return {
        key: value
        for key, value in args.items()
        if not isinstance(key, str) or index[_normalize_key(key)][0].name not in defaulted
    }


def check_parses(command: click.Command, argv: list[str]) -> None:
    """Parse ``argv`` (``[name, args...]``) with the command's own click parser, as the job's
    process will, and raise its usage error: a missing required option, a bad value, or a
    broken :mod:`rule <datasety.commands.rules>` between options. Only parsing: no callback
    runs, and path types here check no file (a workflow step may name a folder an earlier
    step makes)."""
    name, *rest = argv
    try:
        ctx = command.make_context(name, list(rest))
    except click.ClickException as exc:
        raise ArgumentError(_one_line(exc.format_message()), _field_of(exc)) from None
    ctx.close()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _field_of(exc: click.ClickException) -> str | None:
    """The parameter a click error is about, as the schema names it."""
    if isinstance(exc, (RuleError, click.BadParameter)) and exc.param is not None:
        return public_name(exc.param)
    return None


def recheck_argv(argv: list[str], confinement: Confinement) -> None:
    """Check the path (and URL) values of ``argv``, made by :func:`build_argv`, against
    ``confinement`` again: a queued job starts later, and a folder it names may have become a
    symlink to somewhere else meanwhile. The argv is parsed back with the command's own click
    parser, so each value is judged by the parameter it really is."""
    name, *rest = argv
    command = get_runnable(name)
    try:
        ctx = command.make_context(name, list(rest), resilient_parsing=True)
    except click.ClickException as exc:
        raise DatasetyError(f"Arguments of {name} no longer parse: {exc.format_message()}") from exc
    checker = _Checker(name, command, confinement)
    for param in visible_params(command):
        value = ctx.params.get(param.name) if param.name else None
        if value is None or isinstance(value, bool):
            continue
        occurrences = value if param.multiple else [value]
        for occurrence in occurrences:
            items = occurrence if isinstance(occurrence, (list, tuple)) else [occurrence]
            kinds = (
                list(param.type.types)
                if isinstance(param.type, click.Tuple)
                else [param.type] * len(items)
            )
            for kind, item in zip(kinds, items, strict=False):
                if isinstance(item, str):
                    checker.confine(param, kind, item)


# Room left for what runs before the argv (python -m datasety, a job wrapper and its file).
_ARGV_PREFIX_ROOM = 8192
_LINUX_ARGS_CAP = 8 * 1024 * 1024 // 4 * 3


def check_fits(command: str, argv: list[str], environ: Mapping[str, str] | None = None) -> None:
    """Refuse an argv that no process could be started with (``E2BIG``): longer in all than
    the system's ``ARG_MAX`` (the environment counts too, and each string a pointer), or, on
    Linux, one argument longer than ``MAX_ARG_STRLEN`` (32 pages)."""
    env = os.environ if environ is None else environ
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    if sys.platform.startswith("linux"):
        longest = max((len(os.fsencode(item)) + 1 for item in argv), default=0)
        if longest > 32 * page:
            raise DatasetyError(
                f"An argument of {command} is {longest - 1} bytes; the system allows "
                f"{32 * page - 1} bytes for one argument"
            )
    try:
        limit = os.sysconf("SC_ARG_MAX")
    except (AttributeError, ValueError, OSError):
        limit = 128 * 1024
    if sys.platform.startswith("linux"):
        # The kernel never allows more than 3/4 of its 8 MiB stack limit, whatever the rlimit.
        limit = min(limit, _LINUX_ARGS_CAP) if limit > 0 else _LINUX_ARGS_CAP
    pointer = 8
    used = sum(len(os.fsencode(item)) + 1 + pointer for item in argv)
    used += sum(len(os.fsencode(k)) + len(os.fsencode(v)) + 2 + pointer for k, v in env.items())
    if limit > 0 and used + _ARGV_PREFIX_ROOM > limit:
        raise DatasetyError(
            f"Arguments of {command} are too long to start a process: {used} bytes with the "
            f"environment, the system allows {limit}"
        )


def command_argv(
    name: str,
    command: click.Command,
    args: Mapping[str, Any] | None = None,
    confinement: Confinement | None = None,
) -> list[str]:
    """:func:`build_argv` for a given click command (the registry lookup already done)."""
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise DatasetyError(f"Arguments for {name} must be an object, got {_what(args)}")
    checker = _Checker(name, command, confinement)
    index = _key_index(command)
    chosen: dict[str, tuple[click.Parameter, bool, Any, str]] = {}
    for key, value in args.items():
        found = index.get(_normalize_key(key)) if isinstance(key, str) else None
        if found is None:
            allowed = ", ".join(public_name(p) for p in visible_params(command)) or "none"
            raise ArgumentError(
                f"Unknown parameter '{key}' for {name}; allowed: {allowed}",
                field=key if isinstance(key, str) else None,
            )
        param, negated = found
        slot = public_name(param)
        if slot in chosen:
            raise ArgumentError(
                f"Parameter '{slot}' of {name} is given twice ('{chosen[slot][3]}' and '{key}')",
                field=slot,
            )
        if isinstance(param, options.SecretOption) and value is not None:
            raise ArgumentError(
                f"Parameter '{slot}' of {name} is a secret: a job's or a workflow step's command "
                f"line is stored and shown (the job list, the process list); set {param.env} in "
                "the environment that runs it instead (for a job: the server's)",
                field=slot,
            )
        chosen[slot] = (param, negated, value, key)

    option_argv: list[str] = []
    positionals: list[str] = []
    for param in visible_params(command):
        entry = chosen.get(public_name(param))
        value = entry[2] if entry else None
        if value is None or (param.multiple and value == []):
            if param.required:
                slot = public_name(param)
                raise ArgumentError(f"Missing required parameter '{slot}' for {name}", field=slot)
            continue
        if isinstance(param, click.Option):
            option_argv += checker.option(param, entry[1] if entry else False, value)
        elif param.nargs == -1:
            items = value if isinstance(value, (list, tuple)) else [value]
            positionals += [checker.scalar(param, param.type, item) for item in items]
        else:
            positionals += checker.values(param, value)
    # Everything after "--" is positional, so a positional value cannot be read as a flag.
    return [name, *option_argv, *(["--", *positionals] if positionals else [])]


# -- schema (GET /v1/commands) -----------------------------------------------------------------


def _json_default(value: Any) -> Any:
    """The default as JSON, or None when there is none to show (unset, callable, empty)."""
    if isinstance(value, (list, tuple)):
        items = [_json_default(item) for item in value]
        return items if items and all(item is not None for item in items) else None
    if isinstance(value, (str, int, float, bool)):
        return value
    return None


def _schema_type(param: click.Parameter) -> str:
    if isinstance(param, click.Option) and param.is_flag:
        return "boolean"
    if isinstance(param, click.Option) and param.count:
        return "integer"
    kind = param.type
    if isinstance(kind, click.Choice):
        return "choice"
    if isinstance(kind, click.types.IntParamType):
        return "integer"
    if isinstance(kind, click.types.FloatParamType):
        return "number"
    if isinstance(kind, click.types.BoolParamType):
        return "boolean"
    if isinstance(kind, click.Tuple):
        return "tuple"
    if isinstance(kind, (click.Path, click.File)):
        return "path"
    return "string" if kind.name == "text" else kind.name


def param_schema(param: click.Parameter, ctx: click.Context) -> dict[str, Any]:
    """One parameter as the spec's ``{"name", "help", "required", "choices"?, "default"?}``.

    Additive keys: ``type``, ``opts`` (flags, short ones too), ``secondary_opts`` (``--no-x``),
    ``flag``, ``multiple``, ``nargs`` (when not 1), ``positional``, ``min``/``max`` (ranges),
    ``pattern``/``pattern_hint`` (text of a known shape: a regular expression the whole value
    matches, in the syntax Python and JavaScript share), ``secret`` and ``env`` (a secret a job
    refuses: set that environment variable on the server instead).
    """
    entry: dict[str, Any] = {
        "name": public_name(param),
        "help": getattr(param, "help", None) or "",
        "required": bool(param.required),
        "type": _schema_type(param),
    }
    if isinstance(param.type, click.Choice):
        entry["choices"] = [str(choice) for choice in param.type.choices]
    default = _json_default(param.get_default(ctx, call=False))
    if default is not None:
        entry["default"] = default
    if isinstance(param, click.Option):
        entry["opts"] = list(param.opts)
        if param.secondary_opts:
            entry["secondary_opts"] = list(param.secondary_opts)
        if param.is_flag:
            entry["flag"] = True
    else:
        entry["positional"] = True
    if param.multiple:
        entry["multiple"] = True
    if param.nargs != 1:
        entry["nargs"] = param.nargs
    if isinstance(param.type, (click.IntRange, click.FloatRange)):
        if param.type.min is not None:
            entry["min"] = param.type.min
        if param.type.max is not None:
            entry["max"] = param.type.max
    if isinstance(param.type, options.PatternText):
        entry["pattern"] = param.type.pattern
        entry["pattern_hint"] = param.type.hint
    if isinstance(param, options.SecretOption):
        entry["secret"] = True
        entry["env"] = param.env
    return entry


def rule_schema(rule: Rule, command: click.Command) -> dict[str, Any]:
    """One :class:`~datasety.commands.rules.Rule` with the schema's parameter names:
    ``{"rule": "one_of" | "not_together" | "requires", "params", "message", "field"}``, and
    for ``requires`` also ``needs`` (any one of them given), ``when`` (values of ``params[0]``
    that trigger it; absent: when it is given), ``needs_values`` (``needs[0]`` must have one)."""
    names = {param.name: public_name(param) for param in command.params}
    entry: dict[str, Any] = {
        "rule": rule.kind,
        "params": [names[name] for name in rule.names],
        "message": rule.message,
        "field": names[rule.shown_at()],
    }
    if rule.needs:
        entry["needs"] = [names[name] for name in rule.needs]
    if rule.when:
        entry["when"] = list(rule.when)
    if rule.needs_values:
        entry["needs_values"] = list(rule.needs_values)
    return entry


def description(command: click.Command) -> str:
    """The command's one-line summary: the first paragraph of its help, on one line."""
    first = (command.help or "").strip().split("\n\n", 1)[0]
    return " ".join(first.split()) or command.name or ""


def command_schema(command: str) -> dict[str, Any]:
    """``{"description", "params"}`` for one runnable command (errors as :func:`build_argv`)."""
    click_command = get_runnable(command)
    ctx = click.Context(click_command, info_name=command)
    return {
        "description": description(click_command),
        "params": [param_schema(param, ctx) for param in visible_params(click_command)],
        "rules": [rule_schema(rule, click_command) for rule in command_rules(click_command)],
    }


def commands_schema() -> dict[str, Any]:
    """The body of ``GET /v1/commands``: every runnable command, in registry order."""
    return {"commands": {name: command_schema(name) for name in runnable_commands()}}


def parsed_params(argv: list[str]) -> dict[str, Any]:
    """The parameter values (defaults filled in) of ``argv`` = ``[command, args...]``, without
    running any callback or checking paths; ``{}`` when it does not parse."""
    if not argv:
        return {}
    name, *rest = argv
    command = get_command(name)
    if command is None:
        return {}
    try:
        ctx = command.make_context(name, list(rest), resilient_parsing=True)
    except click.ClickException:
        return {}
    values = dict(ctx.params)
    for param in command.params:
        if param.name is not None and values.get(param.name) is None:
            values[param.name] = param.get_default(ctx)
    return values


def argv_resume_point(argv: list[str]) -> dict[str, Any] | None:
    """Where the stopped job ``[command, args...]`` continues (see
    :func:`~datasety.commands.resume_point`); None for a command that cannot say."""
    if not argv or not resumable(argv[0]):
        return None
    return resume_point(argv[0], parsed_params(argv))


def argv_wants_accelerator(argv: list[str]) -> bool:
    """Whether the job ``[command, args...]`` runs a model on a GPU (see the registry's
    :func:`~datasety.commands.wants_accelerator`)."""
    return bool(argv) and wants_accelerator(argv[0], parsed_params(argv))
