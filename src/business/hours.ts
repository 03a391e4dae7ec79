import { DateTime, IANAZone } from 'luxon';

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Day = (typeof DAYS)[number];

/**
 * One opening range on a weekday, in the business's local time. `close` may be `24:00` (end of the day).
 * A range never crosses midnight: a night shift is two ranges (`fri 22:00-24:00`, `sat 00:00-02:00`).
 */
export interface OpeningRange {
  day: Day;
  open: string;
  close: string;
}

const TIME = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;

/** A UTC offset (`+02:00`, `-0500`, `+02`): not a zone name, though Node 24's Intl accepts it as one. */
const UTC_OFFSET = /^[+\-\u2212]\d/;

/**
 * An IANA time zone name (`Europe/Berlin`, `UTC`, `Etc/GMT+2`) the runtime knows. A bare UTC offset is
 * refused whatever the runtime, so that the same business is valid on every Node version (Node 20's
 * Intl refuses offsets, Node 24's accepts them); a fixed offset is still available as `Etc/GMT-2`.
 */
export function isValidTimeZone(zone: string): boolean {
  return !UTC_OFFSET.test(zone) && IANAZone.isValidZone(zone);
}

const minutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Problems with a week of opening hours (empty when valid): bad times, open ≥ close, overlapping ranges. */
export function validateHours(hours: OpeningRange[]): string[] {
  const problems: string[] = [];
  hours.forEach((r, i) => {
    if (!DAYS.includes(r.day)) problems.push(`hours[${i}].day must be one of ${DAYS.join(', ')}`);
    if (!TIME.test(r.open) || r.open === '24:00')
      problems.push(`hours[${i}].open must be HH:MM (00:00-23:59)`);
    if (!TIME.test(r.close)) problems.push(`hours[${i}].close must be HH:MM (00:01-24:00)`);
    else if (TIME.test(r.open) && minutes(r.open) >= minutes(r.close))
      problems.push(`hours[${i}]: open must be before close (split a range that crosses midnight in two)`);
  });
  if (problems.length) return problems;
  for (const day of DAYS) {
    const ranges = hours.filter((r) => r.day === day).sort((a, b) => minutes(a.open) - minutes(b.open));
    for (let i = 1; i < ranges.length; i++)
      if (minutes(ranges[i]!.open) < minutes(ranges[i - 1]!.close))
        problems.push(`hours: ranges overlap on ${day}`);
  }
  return problems;
}

/** The instant `hhmm` falls on the local date of `day` (a time skipped by a DST change moves forward, as clocks do). */
function at(day: DateTime, hhmm: string): DateTime {
  if (hhmm === '24:00') return day.startOf('day').plus({ days: 1 });
  return day.set({
    hour: Number(hhmm.slice(0, 2)),
    minute: Number(hhmm.slice(3, 5)),
    second: 0,
    millisecond: 0,
  });
}

/**
 * The opening ranges of the local day containing `local`, as instants. Times are placed from the start
 * of that day, whatever instant of it asks: a time repeated by a DST change is then always its first
 * occurrence (placed from `local` itself, it depended on which side of the change `local` was).
 */
function rangesOn(hours: OpeningRange[], local: DateTime): { open: DateTime; close: DateTime }[] {
  const start = local.startOf('day');
  const day = DAYS[start.weekday - 1];
  return hours
    .filter((r) => r.day === day)
    .map((r) => ({ open: at(start, r.open), close: at(start, r.close) }))
    .sort((a, b) => a.open.toMillis() - b.open.toMillis());
}

/** Is the business open at `now`? */
export function isOpen(hours: OpeningRange[], timeZone: string, now: Date): boolean {
  const local = DateTime.fromJSDate(now, { zone: timeZone });
  const t = local.toMillis();
  return rangesOn(hours, local).some((r) => r.open.toMillis() <= t && t < r.close.toMillis());
}

/**
 * When the business next opens after `now` (strictly later, when it is closed now; the start of the
 * current range's successor otherwise is not asked for). Null when it has no opening hours at all.
 */
export function nextOpening(hours: OpeningRange[], timeZone: string, now: Date): Date | null {
  if (!hours.length) return null;
  const start = DateTime.fromJSDate(now, { zone: timeZone });
  const t = start.toMillis();
  // A week and a day reach every weekday's next range; a second week, one a DST change skipped.
  for (let d = 0; d <= 14; d++) {
    const day = start.startOf('day').plus({ days: d });
    // A range inside the hour a DST change skips is empty (or inverted) that day: it does not open.
    for (const r of rangesOn(hours, day))
      if (r.open.toMillis() > t && r.close.toMillis() > r.open.toMillis()) return r.open.toJSDate();
  }
  return null;
}

/**
 * How a system message says when the business opens (CONTRACT §5): local `HH:MM`, with the weekday
 * when it is not today, e.g. `09:00` or `Mon 09:00`.
 */
export function describeOpening(opensAt: Date, timeZone: string, now: Date): string {
  const open = DateTime.fromJSDate(opensAt, { zone: timeZone });
  const today = DateTime.fromJSDate(now, { zone: timeZone });
  const time = open.toFormat('HH:mm');
  return open.hasSame(today, 'day') ? time : `${open.setLocale('en').toFormat('ccc')} ${time}`;
}
