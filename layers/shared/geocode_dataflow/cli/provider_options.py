"""``--provider`` and the options that only one provider understands (``emulator``, ``local``).

Such an option parses to None, so one given for the other provider is refused with a usage error
instead of being silently ignored; the chosen provider's defaults are filled in afterwards.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass, field
from typing import Any

from geocode_dataflow.cli.common import CliError

BING_DATAFLOW = "bing-dataflow"
AMAZON_LOCATION = "amazon-location"
AZURE_MAPS = "azure-maps"
PROVIDERS = (BING_DATAFLOW, AMAZON_LOCATION, AZURE_MAPS)  # the names the pipeline uses too


@dataclass(frozen=True)
class ProviderOption:
    """One provider's option; ``{default}`` in the help text shows ``default``."""

    provider: str
    flag: str
    default: Any
    keywords: dict[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


def add_provider_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--provider",
        choices=PROVIDERS,
        default=BING_DATAFLOW,
        help=f"{help_text} (default: %(default)s)",
    )


def add_provider_options(
    parser: argparse.ArgumentParser, options: tuple[ProviderOption, ...]
) -> None:
    """The options, grouped under "<provider> options" in ``--help``."""
    groups: dict[str, Any] = {}
    for option in options:
        if option.provider not in groups:
            groups[option.provider] = parser.add_argument_group(f"{option.provider} options")
        keywords = dict(option.keywords)
        if "help" in keywords:
            keywords["help"] = keywords["help"].format(default=option.default)
        groups[option.provider].add_argument(option.flag, default=None, **keywords)


def resolve_provider_options(args: argparse.Namespace, options: tuple[ProviderOption, ...]) -> None:
    """Refuses another provider's options; fills in the defaults of ``args.provider``'s."""
    for option in options:
        given = getattr(args, option.dest) is not None
        if option.provider != args.provider and given:
            raise CliError(f"{option.flag} applies to --provider {option.provider} only")
        if option.provider == args.provider and not given:
            setattr(args, option.dest, copy.copy(option.default))
