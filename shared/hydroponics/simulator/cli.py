"""The `scripts/simulate` command line: options, the farm's clock, signals and the final tally."""

import argparse
import os
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Mapping

from hydroponics.simulator.farm import farm_rounds
from hydroponics.simulator.probes import SENSORS
from hydroponics.simulator.runner import run_farm
from hydroponics.simulator.sender import AccessRefused, FarmSender

DESCRIPTION = """A simulated farm: bays of pH, EC, water temperature, water level, air temperature and
humidity sensors posting readings to the platform like real devices (legacy POST /api/data), with
day/night curves, dosing, refills and occasional probe faults. Same --seed, same readings."""


def _positive(kind: type):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value
    return parse


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not ISO-8601: {text}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/simulate", description=DESCRIPTION)
    add = parser.add_argument
    add("--api-url", default=env.get("API_URL") or None, help="the platform's base URL (default: $API_URL)")
    add("--client-id", default=env.get("CLIENT_ID") or None, help="X-Client-Id (default: $CLIENT_ID)")
    add("--api-key", default=env.get("API_KEY") or None, help="X-API-Key (default: $API_KEY)")
    add("--locations", type=_positive(int), default=3, help="bays, e.g. greenhouse-1/bay-a (default 3)")
    add("--interval", type=_positive(float), default=5.0, help="real seconds between rounds (default 5, jittered)")
    add("--duration", type=_positive(float), help="real seconds to run (default: until stopped)")
    add("--once", action="store_true", help="send one round, one reading per sensor, then exit")
    add("--speed", type=_positive(float), default=1.0, help="virtual seconds per real second (default 1)")
    add("--start", type=_moment, help="the farm clock's start, ISO-8601 (default: now, or early enough with "
                                      "--speed above 1 that the clock ends now)")
    add("--seed", type=int, default=42, help="same seed, same readings (default 42)")
    add("--fault-rate", type=_fraction, default=0.001,
        help="chance per reading that a probe fault starts: stuck, dropout or spike (default 0.001)")
    add("--no-faults", action="store_true", help="healthy probes only (--fault-rate 0)")
    add("--batch", action="store_true", help='send each round as one {"readings": [...]} request')
    return parser


def parse_args(argv: list[str] | None = None, env: Mapping[str, str] | None = None,
               now: datetime | None = None) -> argparse.Namespace:
    """The options, with the credentials checked and the farm clock's `start` settled."""
    env = os.environ if env is None else env
    parser = build_parser(env)
    args = parser.parse_args(argv)
    for option, variable in (("api_url", "API_URL"), ("client_id", "CLIENT_ID"), ("api_key", "API_KEY")):
        if not getattr(args, option):
            parser.error(f"no {variable}: pass --{option.replace('_', '-')} or set {variable} "
                         "(scripts/up writes it to .local/stack.env)")
    if args.no_faults:
        args.fault_rate = 0.0
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    if args.start is None:
        if args.speed > 1 and not args.once and args.duration is None:
            parser.error("--speed above 1 runs the farm's clock ahead of the wall clock, and the platform refuses "
                         "future timestamps: give --duration (the clock then ends about now) or --start")
        if args.once:  # the round just taken: its jittered readings all lie in the past
            args.start = now - timedelta(seconds=args.interval * args.speed)
        else:
            args.start = now - timedelta(seconds=(args.duration or 0.0) * max(0.0, args.speed - 1))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the farm until --duration, --once or SIGINT/SIGTERM; 0 when stopped, 2 when the key is refused."""
    args = parse_args(argv)
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    faults = "no faults" if args.fault_rate == 0 else f"fault rate {args.fault_rate:g}"
    print(f"simulate: {args.locations} location(s) x {len(SENSORS)} sensors every {args.interval:g} s "
          f"(speed {args.speed:g}x, seed {args.seed}, {faults}, {'batch' if args.batch else 'legacy'}) "
          f"-> {args.api_url}; farm clock from {args.start.isoformat()}", flush=True)
    sender = FarmSender(args.api_url, args.client_id, args.api_key, stop=stop)
    rounds = farm_rounds(seed=args.seed, start=args.start, step=args.interval * args.speed,
                         locations=args.locations, fault_rate=args.fault_rate)
    try:
        tally = run_farm(rounds, sender, start=args.start, speed=args.speed, interval=args.interval,
                         duration=args.duration, once=args.once, batch=args.batch, stop=stop,
                         say=lambda line: print(line, flush=True))
    except AccessRefused as exc:
        print(f"simulate: the platform refused the farm's credentials: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        sender.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"simulate: done: {tally.line()}", flush=True)
    return 0
