"""Every option and argument of every ``fhirbridge`` command says what it is for: the parser is
walked, subcommands included, and ``--help`` of each command shows the texts."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from fhirbridge.cli.main import build_parser, main


def _commands(
    parser: argparse.ArgumentParser, name: str = "fhirbridge"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub_parser in action.choices.items():
                yield from _commands(sub_parser, f"{name} {sub_name}")


def _undocumented(parser: argparse.ArgumentParser) -> list[str]:
    return [
        "/".join(action.option_strings) or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction)
        and (not action.help or action.help == argparse.SUPPRESS or not action.help.strip())
    ]


COMMANDS = dict(_commands(build_parser()))


def test_the_walk_finds_every_command() -> None:
    assert {"fhirbridge serve", "fhirbridge load", "fhirbridge db upgrade", "fhirbridge report"} <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_has_help(command: str) -> None:
    assert _undocumented(COMMANDS[command]) == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_shows_it(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command.split()[1:], "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    parser = COMMANDS[command]
    for action in parser._actions:
        if action.help and action.help != argparse.SUPPRESS and not isinstance(action, argparse._SubParsersAction):
            assert " ".join(action.help.split()[:3]) in " ".join(shown.split()), (command, action.dest)
