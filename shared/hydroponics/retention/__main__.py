"""`python -m hydroponics.retention`: see cli.py."""

from hydroponics.retention.cli import main

raise SystemExit(main())
