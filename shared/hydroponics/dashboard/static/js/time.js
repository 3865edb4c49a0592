// Dates and durations through Luxon (vendored): ages, local times, chart ranges, days in a stage.
import { DateTime } from "../vendor/luxon-3.7.2/luxon.js";

export const now = () => DateTime.now();
export const parse = (iso) => (iso ? DateTime.fromISO(iso) : null);

// "3 min ago", "2 days ago" (the browser's language).
export function ago(iso) {
  const at = parse(iso);
  return at ? at.toRelative({ style: "short" }) : "never";
}

// A moment in the operator's own time zone, e.g. "2 Dec, 14:05".
export function at(iso) {
  const moment = parse(iso);
  return moment ? moment.toLocaleString(DateTime.DATETIME_MED) : "—";
}

export const seconds = (iso) => parse(iso).toSeconds();

// Whole days between two moments (null when `to` is missing), never negative.
export function daysBetween(fromIso, toIso) {
  if (!fromIso || !toIso) return null;
  return Math.max(0, Math.floor(parse(toIso).diff(parse(fromIso), "days").days));
}

export function isoIn(minutes) {
  return now().plus({ minutes }).toUTC().toISO();
}

// The chart ranges: how far back, and the window that keeps each under ~1,000 points a sensor.
export const RANGES = {
  hour: { span: { hours: 1 }, window: "raw" },
  day: { span: { days: 1 }, window: "5m" },
  week: { span: { weeks: 1 }, window: "1h" },
  month: { span: { months: 1 }, window: "1h" },
};

export function rangeBounds(range) {
  const end = now().toUTC();
  return { start: end.minus(RANGES[range].span).toISO(), end: end.toISO() };
}
