"""Rules between a command's options, declared once on the click command.

A flag's type, range and choices are checked by click one option at a time; what depends on
several options ("--input or --input-image", "--aspect-ratio only with --megapixel") is a
:class:`Rule` here. :class:`RuledCommand` checks its rules while click parses (so the CLI, a
job submitted to the server and a workflow step all refuse the same argv with the same
message, before anything runs), and ``GET /v1/commands`` publishes them (``rules``), so the web
UI checks a form with the very same rules.

"Given" means set to something: not None, not False, not empty. Only options whose default is
not given take part that way (checked when the command is built), so a client that sends
every default gets what the CLI gets without them. A rule may instead look at an option's value
(``when`` / ``needs_values``), default included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click


def is_given(value: Any) -> bool:
    """Whether an option's parsed value counts as set (``--output ""`` does not)."""
    return value not in (None, False, "", ())


@dataclass(frozen=True)
class Rule:
    """One rule over parameters named by their Python names (``input_``).

    ``one_of``: at least one of ``names`` is given. ``not_together``: at most one is.
    ``requires``: when ``names[0]`` is given (or, with ``when``, has one of those values), one
    of ``needs`` is given (or, with ``needs_values``, ``needs[0]`` has one of those values).
    ``field`` is the parameter a broken rule is shown beside.
    """

    kind: str
    names: tuple[str, ...]
    message: str
    needs: tuple[str, ...] = ()
    when: tuple[str, ...] = ()
    needs_values: tuple[str, ...] = ()
    field: str = ""

    def broken(self, values: Mapping[str, Any]) -> bool:
        """Whether ``values`` (parameter name -> parsed value) break this rule."""
        if self.kind == "one_of":
            return not any(is_given(values.get(name)) for name in self.names)
        if self.kind == "not_together":
            return sum(is_given(values.get(name)) for name in self.names) > 1
        subject = values.get(self.names[0])
        triggered = str(subject) in self.when if self.when else is_given(subject)
        if not triggered:
            return False
        if self.needs_values:
            return str(values.get(self.needs[0])) not in self.needs_values
        return not any(is_given(values.get(name)) for name in self.needs)

    def given_semantics(self) -> tuple[str, ...]:
        """The parameters this rule reads as given/not given (their defaults must be unset)."""
        if self.kind != "requires":
            return self.names
        subject = () if self.when else self.names[:1]
        return subject + (() if self.needs_values else self.needs)

    def shown_at(self) -> str:
        if self.field:
            return self.field
        if self.kind == "requires" and not self.needs_values:
            return self.needs[0]
        return self.names[-1] if self.kind == "not_together" else self.names[0]


def one_of(*names: str, message: str) -> Rule:
    return Rule("one_of", names, message)


def not_together(*names: str, message: str, field: str = "") -> Rule:
    return Rule("not_together", names, message, field=field)


def requires(
    name: str,
    *needs: str,
    message: str,
    when: Sequence[str] = (),
    needs_values: Sequence[str] = (),
    field: str = "",
) -> Rule:
    return Rule("requires", (name,), message, needs, tuple(when), tuple(needs_values), field)


@dataclass(frozen=True)
class Check:
    """A rule only Python can judge (two values compared, where a value came from): checked
    while click parses, as a :class:`Rule` is, so a job breaking it is refused at submit too,
    but not published (a form learns of it from the server's 400). ``broken(ctx)`` reads
    ``ctx.params``; ``message`` may be a function of ``ctx`` too, to name the value it refuses;
    ``field`` is the parameter's Python name."""

    broken: Callable[[click.Context], bool]
    message: str | Callable[[click.Context], str]
    field: str

    def message_for(self, ctx: click.Context) -> str:
        return self.message(ctx) if callable(self.message) else self.message


class RuleError(click.UsageError):
    """A broken rule: a usage error (exit status 2) that knows the parameter it is about."""

    def __init__(self, message: str, ctx: click.Context, param: click.Parameter) -> None:
        super().__init__(message, ctx)
        self.param = param


class RuledCommand(click.Command):
    """A click command with :class:`Rule` s: ``@click.command(cls=RuledCommand, rules=[...])``."""

    def __init__(
        self, *args: Any, rules: Sequence[Rule] = (), checks: Sequence[Check] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.rules = tuple(rules)
        self.checks = tuple(checks)
        defaults = {param.name: param.default for param in self.params}
        for check in self.checks:
            if check.field not in defaults:
                raise TypeError(f"{self.name}: a check names no parameter {check.field!r}")
        for rule in self.rules:
            for name in (*rule.names, *rule.needs, rule.shown_at()):
                if name not in defaults:
                    raise TypeError(f"{self.name}: a rule names no parameter {name!r}")
            for name in rule.given_semantics():
                if is_given(defaults[name]):
                    raise TypeError(f"{self.name}: rule on {name!r}, which has a default")

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        # Resilient parsing (completion, reading a job's argv back) judges nothing.
        if not ctx.resilient_parsing:
            for rule in self.rules:
                if rule.broken(ctx.params):
                    raise RuleError(rule.message, ctx, self._param(rule.shown_at()))
            for check in self.checks:
                if check.broken(ctx):
                    raise RuleError(check.message_for(ctx), ctx, self._param(check.field))
        return rest

    def _param(self, name: str) -> click.Parameter:
        return next(param for param in self.params if param.name == name)


def command_rules(command: click.Command) -> tuple[Rule, ...]:
    """The rules of ``command`` (none for a plain click command)."""
    return tuple(getattr(command, "rules", ()))
