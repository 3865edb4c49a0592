"""`python -m hydroponics.legacy`: see cli.py."""

from hydroponics.legacy.cli import main

raise SystemExit(main())
