"""`python -m hydroponics.simulator`: run the simulated farm."""

from hydroponics.simulator.cli import main

raise SystemExit(main())
