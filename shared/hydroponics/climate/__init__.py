"""Air-conditioning control: units, commands, interlocks, delivery through drivers, and a simulated unit."""
