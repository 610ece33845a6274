"""``python -m geocode_dataflow``: the ``geocode-dataflow`` command."""

from geocode_dataflow.cli import main

raise SystemExit(main())
