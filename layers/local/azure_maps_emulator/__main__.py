"""``python -m azure_maps_emulator``: the emulator without the project CLI."""

from .cli import main

raise SystemExit(main())
