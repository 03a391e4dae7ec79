import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DAYS,
  describeOpening,
  isOpen,
  isValidTimeZone,
  nextOpening,
  validateHours,
  type Day,
  type OpeningRange,
} from './hours';

// Every expected instant below is written out in UTC by hand (from the zones' published offsets), never
// computed with the library under test. 2025 transitions used:
//   Europe/Berlin        30 Mar 01:00Z (02:00 +01 -> 03:00 +02)   26 Oct 01:00Z (03:00 +02 -> 02:00 +01)
//   America/New_York      9 Mar 07:00Z (02:00 -05 -> 03:00 -04)    2 Nov 06:00Z (02:00 -04 -> 01:00 -05)
//   Australia/Lord_Howe   4 Oct 15:30Z (02:00 +10:30 -> 02:30 +11) 5 Apr 15:00Z (02:00 +11 -> 01:30 +10:30)
//   Pacific/Auckland     27 Sep 14:00Z (02:00 +12 -> 03:00 +13)    5 Apr 14:00Z (03:00 +13 -> 02:00 +12)
// 2025-01-06 and 2025-07-07 are Mondays.

const d = (iso: string) => new Date(iso);
const r = (day: Day, open: string, close: string): OpeningRange => ({ day, open, close });
const weekdays = (open: string, close: string) =>
  (['mon', 'tue', 'wed', 'thu', 'fri'] as const).map((day) => r(day, open, close));
const MS = 1;

function assertOpenFrom(hours: OpeningRange[], zone: string, openingIso: string): void {
  const at = d(openingIso);
  assert.equal(isOpen(hours, zone, new Date(at.getTime() - MS)), false, `closed just before ${openingIso}`);
  assert.equal(isOpen(hours, zone, at), true, `open at ${openingIso}`);
}

function assertClosesAt(hours: OpeningRange[], zone: string, closingIso: string): void {
  const at = d(closingIso);
  assert.equal(isOpen(hours, zone, new Date(at.getTime() - MS)), true, `open just before ${closingIso}`);
  assert.equal(isOpen(hours, zone, at), false, `closed at ${closingIso}`);
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

describe('opening hours: isOpen in several zones', () => {
  const monday = [r('mon', '09:00', '17:00')];

  it('Europe/Berlin, winter (+01) and summer (+02)', () => {
    assertOpenFrom(monday, 'Europe/Berlin', '2025-01-06T08:00:00Z');
    assertClosesAt(monday, 'Europe/Berlin', '2025-01-06T16:00:00Z');
    assertOpenFrom(monday, 'Europe/Berlin', '2025-07-07T07:00:00Z');
    assertClosesAt(monday, 'Europe/Berlin', '2025-07-07T15:00:00Z');
    // Tuesday at the same local time is closed.
    assert.equal(isOpen(monday, 'Europe/Berlin', d('2025-01-07T10:00:00Z')), false);
  });

  it('America/New_York, winter (-05) and summer (-04)', () => {
    assertOpenFrom(monday, 'America/New_York', '2025-01-06T14:00:00Z');
    assertClosesAt(monday, 'America/New_York', '2025-01-06T22:00:00Z');
    assertOpenFrom(monday, 'America/New_York', '2025-07-07T13:00:00Z');
    assertClosesAt(monday, 'America/New_York', '2025-07-07T21:00:00Z');
  });

  it('Asia/Kolkata (+05:30, no DST)', () => {
    assertOpenFrom(monday, 'Asia/Kolkata', '2025-01-06T03:30:00Z');
    assertClosesAt(monday, 'Asia/Kolkata', '2025-01-06T11:30:00Z');
    assertOpenFrom(monday, 'Asia/Kolkata', '2025-07-07T03:30:00Z');
  });

  it('Australia/Lord_Howe (+11 in January, +10:30 in July)', () => {
    // Monday 09:00 local is Sunday in UTC.
    assertOpenFrom(monday, 'Australia/Lord_Howe', '2025-01-05T22:00:00Z');
    assertClosesAt(monday, 'Australia/Lord_Howe', '2025-01-06T06:00:00Z');
    assertOpenFrom(monday, 'Australia/Lord_Howe', '2025-07-06T22:30:00Z');
    assertClosesAt(monday, 'Australia/Lord_Howe', '2025-07-07T06:30:00Z');
  });

  it('Pacific/Auckland (+13 in January, +12 in July)', () => {
    assertOpenFrom(monday, 'Pacific/Auckland', '2025-01-05T20:00:00Z');
    assertClosesAt(monday, 'Pacific/Auckland', '2025-01-06T04:00:00Z');
    assertOpenFrom(monday, 'Pacific/Auckland', '2025-07-06T21:00:00Z');
    // Monday in UTC, but already Tuesday in Auckland: closed.
    assert.equal(isOpen(monday, 'Pacific/Auckland', d('2025-01-06T12:00:00Z')), false);
  });

  it('UTC', () => {
    assertOpenFrom(monday, 'UTC', '2025-01-06T09:00:00Z');
    assertClosesAt(monday, 'UTC', '2025-01-06T17:00:00Z');
  });

  it('several ranges a day: open in each, closed in the gap', () => {
    const split = [r('mon', '09:00', '12:00'), r('mon', '13:00', '17:30')];
    assertOpenFrom(split, 'Europe/Berlin', '2025-01-06T08:00:00Z');
    assertClosesAt(split, 'Europe/Berlin', '2025-01-06T11:00:00Z');
    assert.equal(isOpen(split, 'Europe/Berlin', d('2025-01-06T11:30:00Z')), false);
    assertOpenFrom(split, 'Europe/Berlin', '2025-01-06T12:00:00Z');
    assertClosesAt(split, 'Europe/Berlin', '2025-01-06T16:30:00Z');
    // Unsorted input means the same.
    assert.equal(isOpen([...split].reverse(), 'Europe/Berlin', d('2025-01-06T12:30:00Z')), true);
  });

  it('adjacent ranges on one day: no gap at the seam', () => {
    const seam = [r('mon', '09:00', '12:00'), r('mon', '12:00', '17:00')];
    assert.equal(isOpen(seam, 'UTC', d('2025-01-06T11:59:59.999Z')), true);
    assert.equal(isOpen(seam, 'UTC', d('2025-01-06T12:00:00Z')), true);
  });

  it('24:00 closes at the end of the day (local midnight), open until then', () => {
    const evening = [r('sat', '20:00', '24:00')];
    // Saturday 2025-01-11 in Berlin (+01): 20:00 local = 19:00Z, midnight = 23:00Z.
    assertOpenFrom(evening, 'Europe/Berlin', '2025-01-11T19:00:00Z');
    assertClosesAt(evening, 'Europe/Berlin', '2025-01-11T23:00:00Z');
    const whole = [r('wed', '00:00', '24:00')];
    assertOpenFrom(whole, 'Asia/Kolkata', '2025-01-07T18:30:00Z');
    assertClosesAt(whole, 'Asia/Kolkata', '2025-01-08T18:30:00Z');
  });

  it('a night shift on adjacent days (fri 22:00-24:00 + sat 00:00-02:00) is one stretch', () => {
    const night = [r('fri', '22:00', '24:00'), r('sat', '00:00', '02:00')];
    // Friday 2025-01-10, New York (-05): 22:00 = 03:00Z Sat, 02:00 Sat = 07:00Z.
    assertOpenFrom(night, 'America/New_York', '2025-01-11T03:00:00Z');
    for (const t of ['2025-01-11T04:59:59.999Z', '2025-01-11T05:00:00Z', '2025-01-11T05:00:00.001Z'])
      assert.equal(isOpen(night, 'America/New_York', d(t)), true, t);
    assertClosesAt(night, 'America/New_York', '2025-01-11T07:00:00Z');
  });

  it('week wrap: Sunday night to Monday morning', () => {
    const wrap = [r('sun', '22:00', '24:00'), r('mon', '00:00', '06:00')];
    // Sunday 2025-01-12 UTC.
    assertOpenFrom(wrap, 'UTC', '2025-01-12T22:00:00Z');
    assert.equal(isOpen(wrap, 'UTC', d('2025-01-13T00:00:00Z')), true);
    assertClosesAt(wrap, 'UTC', '2025-01-13T06:00:00Z');
    assert.equal(isOpen(wrap, 'UTC', d('2025-01-13T12:00:00Z')), false);
  });

  it('no hours at all: never open', () => {
    for (const t of ['2025-01-06T12:00:00Z', '2025-07-07T00:00:00Z'])
      assert.equal(isOpen([], 'Europe/Berlin', d(t)), false);
  });
});

describe('opening hours: DST transitions', () => {
  it('spring forward, Berlin: a range starting in the skipped hour opens the gap later (02:30 -> 03:30 +02)', () => {
    const h = [r('sun', '02:30', '05:00')];
    assertOpenFrom(h, 'Europe/Berlin', '2025-03-30T01:30:00Z');
    assertClosesAt(h, 'Europe/Berlin', '2025-03-30T03:00:00Z');
    assert.equal(iso(nextOpening(h, 'Europe/Berlin', d('2025-03-29T12:00:00Z'))), '2025-03-30T01:30:00.000Z');
  });

  it('spring forward, Berlin: a range ending in the skipped hour; a range across it', () => {
    const h = [r('sun', '01:00', '02:30')];
    // 01:00 +01 = 00:00Z; 02:30 does not exist, it is 03:30 +02 = 01:30Z.
    assertOpenFrom(h, 'Europe/Berlin', '2025-03-30T00:00:00Z');
    assertClosesAt(h, 'Europe/Berlin', '2025-03-30T01:30:00Z');
    const across = [r('sun', '01:30', '03:30')];
    // 01:30 +01 = 00:30Z to 03:30 +02 = 01:30Z: one real hour.
    assertOpenFrom(across, 'Europe/Berlin', '2025-03-30T00:30:00Z');
    assertClosesAt(across, 'Europe/Berlin', '2025-03-30T01:30:00Z');
  });

  it('spring forward: a range inside the skipped hour does not open that day; the next one is a week later', () => {
    const h = [r('sun', '02:30', '03:00')];
    for (let m = -60; m <= 120; m += 5)
      assert.equal(isOpen(h, 'Europe/Berlin', new Date(Date.UTC(2025, 2, 30, 1, m))), false, `minute ${m}`);
    const next = nextOpening(h, 'Europe/Berlin', d('2025-03-29T12:00:00Z'));
    // Sunday 6 April 02:30 +02.
    assert.equal(iso(next), '2025-04-06T00:30:00.000Z');
    assert.equal(isOpen(h, 'Europe/Berlin', next!), true);
  });

  it('fall back, Berlin: open through the repeated hour, from the first 02:30', () => {
    const h = [r('sun', '02:30', '05:00')];
    // First 02:30 is +02 (00:30Z); 05:00 is +01 (04:00Z).
    assertOpenFrom(h, 'Europe/Berlin', '2025-10-26T00:30:00Z');
    // 02:15 and 02:45 of the second pass (01:15Z, 01:45Z) are inside the range.
    for (const t of [
      '2025-10-26T00:59:59Z',
      '2025-10-26T01:00:00Z',
      '2025-10-26T01:15:00Z',
      '2025-10-26T01:45:00Z',
    ])
      assert.equal(isOpen(h, 'Europe/Berlin', d(t)), true, t);
    assertClosesAt(h, 'Europe/Berlin', '2025-10-26T04:00:00Z');
    assert.equal(iso(nextOpening(h, 'Europe/Berlin', d('2025-10-25T12:00:00Z'))), '2025-10-26T00:30:00.000Z');
  });

  it('fall back, Berlin: a range closing in the repeated hour closes at its first pass and stays closed', () => {
    const h = [r('sun', '01:00', '02:30')];
    // 01:00 +02 = 23:00Z Saturday; the first 02:30 (+02) = 00:30Z.
    assertOpenFrom(h, 'Europe/Berlin', '2025-10-25T23:00:00Z');
    assertClosesAt(h, 'Europe/Berlin', '2025-10-26T00:30:00Z');
    for (const t of [
      '2025-10-26T01:00:00Z',
      '2025-10-26T01:15:00Z',
      '2025-10-26T01:29:59Z',
      '2025-10-26T01:45:00Z',
    ])
      assert.equal(isOpen(h, 'Europe/Berlin', d(t)), false, t);
  });

  it('fall back, New York: the repeated 01:00-02:00', () => {
    const h = [r('sun', '01:30', '03:00')];
    // First 01:30 is -04 (05:30Z); 03:00 is -05 (08:00Z).
    assertOpenFrom(h, 'America/New_York', '2025-11-02T05:30:00Z');
    for (const t of ['2025-11-02T06:00:00Z', '2025-11-02T06:15:00Z', '2025-11-02T06:45:00Z'])
      assert.equal(isOpen(h, 'America/New_York', d(t)), true, t);
    assertClosesAt(h, 'America/New_York', '2025-11-02T08:00:00Z');
  });

  it('spring forward, New York: a range starting at 02:00 opens at 03:00 -04', () => {
    const h = [r('sun', '02:00', '04:00')];
    assertOpenFrom(h, 'America/New_York', '2025-03-09T07:00:00Z');
    assertClosesAt(h, 'America/New_York', '2025-03-09T08:00:00Z');
  });

  it('Lord Howe: the 30-minute spring gap and the 30-minute repeated half hour', () => {
    // Spring: 02:00 +10:30 -> 02:30 +11; 02:10 does not exist and becomes 02:40 +11 = 15:40Z.
    const spring = [r('sun', '02:10', '04:00')];
    assertOpenFrom(spring, 'Australia/Lord_Howe', '2025-10-04T15:40:00Z');
    assertClosesAt(spring, 'Australia/Lord_Howe', '2025-10-04T17:00:00Z');
    assert.equal(
      iso(nextOpening(spring, 'Australia/Lord_Howe', d('2025-10-03T00:00:00Z'))),
      '2025-10-04T15:40:00.000Z',
    );
    // Autumn: 02:00 +11 -> 01:30 +10:30; 01:30-02:00 happens twice. First 01:45 (+11) = 14:45Z.
    const autumn = [r('sun', '01:45', '03:00')];
    assertOpenFrom(autumn, 'Australia/Lord_Howe', '2025-04-05T14:45:00Z');
    for (const t of ['2025-04-05T15:00:00Z', '2025-04-05T15:10:00Z', '2025-04-05T15:20:00Z'])
      assert.equal(isOpen(autumn, 'Australia/Lord_Howe', d(t)), true, t);
    assertClosesAt(autumn, 'Australia/Lord_Howe', '2025-04-05T16:30:00Z');
  });

  it('Auckland: whole-day ranges on the DST days are 23 and 25 hours long', () => {
    const sunday = [r('sun', '00:00', '24:00')];
    // 28 Sep 2025: midnight +12 (27th 12:00Z) to midnight +13 (28th 11:00Z).
    assertOpenFrom(sunday, 'Pacific/Auckland', '2025-09-27T12:00:00Z');
    assertClosesAt(sunday, 'Pacific/Auckland', '2025-09-28T11:00:00Z');
    // 6 Apr 2025: midnight +13 (5th 11:00Z) to midnight +12 (6th 12:00Z).
    assertOpenFrom(sunday, 'Pacific/Auckland', '2025-04-05T11:00:00Z');
    assertClosesAt(sunday, 'Pacific/Auckland', '2025-04-06T12:00:00Z');
  });
});

describe('opening hours: nextOpening', () => {
  it('no hours: null', () => {
    assert.equal(nextOpening([], 'Europe/Berlin', d('2025-01-06T12:00:00Z')), null);
    assert.equal(nextOpening([], 'UTC', d('2025-07-07T00:00:00Z')), null);
  });

  it('later the same day, and the next range of the day', () => {
    const split = [r('mon', '09:00', '12:00'), r('mon', '13:00', '17:00')];
    assert.equal(iso(nextOpening(split, 'UTC', d('2025-01-06T06:00:00Z'))), '2025-01-06T09:00:00.000Z');
    assert.equal(iso(nextOpening(split, 'UTC', d('2025-01-06T12:30:00Z'))), '2025-01-06T13:00:00.000Z');
    // Open now: the next range's start (strictly later).
    assert.equal(iso(nextOpening(split, 'UTC', d('2025-01-06T10:00:00Z'))), '2025-01-06T13:00:00.000Z');
    // Exactly at an opening: strictly later, so the following one.
    assert.equal(iso(nextOpening(split, 'UTC', d('2025-01-06T09:00:00Z'))), '2025-01-06T13:00:00.000Z');
  });

  it('Friday evening -> Monday morning (weekend skipped)', () => {
    const h = weekdays('09:00', '17:00');
    // Friday 2025-01-10 18:00 Berlin.
    assert.equal(iso(nextOpening(h, 'Europe/Berlin', d('2025-01-10T17:00:00Z'))), '2025-01-13T08:00:00.000Z');
    // Kolkata: Friday 2025-01-10 18:00 IST.
    assert.equal(iso(nextOpening(h, 'Asia/Kolkata', d('2025-01-10T12:30:00Z'))), '2025-01-13T03:30:00.000Z');
  });

  it('week wrap: Sunday night -> Monday; after the only range of the week -> a week later', () => {
    const h = [r('mon', '09:00', '17:00')];
    // Sunday 2025-01-12 23:00 UTC.
    assert.equal(iso(nextOpening(h, 'UTC', d('2025-01-12T23:00:00Z'))), '2025-01-13T09:00:00.000Z');
    // Monday after closing: next Monday.
    assert.equal(iso(nextOpening(h, 'UTC', d('2025-01-13T18:00:00Z'))), '2025-01-20T09:00:00.000Z');
    // Monday before 09:00 local in Kolkata, though still Sunday in UTC.
    assert.equal(iso(nextOpening(h, 'Asia/Kolkata', d('2025-01-12T20:00:00Z'))), '2025-01-13T03:30:00.000Z');
    const wrap = [r('sun', '22:00', '24:00'), r('mon', '00:00', '06:00')];
    assert.equal(iso(nextOpening(wrap, 'UTC', d('2025-01-12T21:00:00Z'))), '2025-01-12T22:00:00.000Z');
    assert.equal(iso(nextOpening(wrap, 'UTC', d('2025-01-13T07:00:00Z'))), '2025-01-19T22:00:00.000Z');
  });

  it('across a DST change lands on the right UTC instant', () => {
    const h = [r('mon', '09:00', '17:00')];
    // Berlin: asked in winter time, opens in summer time (and back).
    assert.equal(iso(nextOpening(h, 'Europe/Berlin', d('2025-03-28T12:00:00Z'))), '2025-03-31T07:00:00.000Z');
    assert.equal(iso(nextOpening(h, 'Europe/Berlin', d('2025-10-24T12:00:00Z'))), '2025-10-27T08:00:00.000Z');
    // New York.
    assert.equal(
      iso(nextOpening(h, 'America/New_York', d('2025-03-08T12:00:00Z'))),
      '2025-03-10T13:00:00.000Z',
    );
    assert.equal(
      iso(nextOpening(h, 'America/New_York', d('2025-11-01T12:00:00Z'))),
      '2025-11-03T14:00:00.000Z',
    );
    // Auckland: +13 -> +12 on 6 April; Monday 7 April 09:00 +12.
    assert.equal(
      iso(nextOpening(h, 'Pacific/Auckland', d('2025-04-05T00:00:00Z'))),
      '2025-04-06T21:00:00.000Z',
    );
    // Lord Howe: +10:30 -> +11 on 5 October; Monday 6 October 09:00 +11.
    assert.equal(
      iso(nextOpening(h, 'Australia/Lord_Howe', d('2025-10-03T00:00:00Z'))),
      '2025-10-05T22:00:00.000Z',
    );
    // Lord Howe: +11 -> +10:30 on 6 April; Monday 7 April 09:00 +10:30.
    assert.equal(
      iso(nextOpening(h, 'Australia/Lord_Howe', d('2025-04-04T00:00:00Z'))),
      '2025-04-06T22:30:00.000Z',
    );
  });
});

describe('opening hours: describeOpening', () => {
  it('today: HH:MM only', () => {
    assert.equal(
      describeOpening(d('2025-01-06T08:00:00Z'), 'Europe/Berlin', d('2025-01-06T06:00:00Z')),
      '09:00',
    );
    assert.equal(
      describeOpening(d('2025-01-06T03:30:00Z'), 'Asia/Kolkata', d('2025-01-05T20:00:00Z')),
      '09:00',
    );
    // Same local day, different UTC days (New York, Sunday 18:30 -> Sunday 22:00).
    assert.equal(
      describeOpening(d('2025-01-06T03:00:00Z'), 'America/New_York', d('2025-01-05T23:30:00Z')),
      '22:00',
    );
    assert.equal(describeOpening(d('2025-01-06T13:45:00Z'), 'UTC', d('2025-01-06T00:00:00Z')), '13:45');
  });

  it('another day: the weekday too', () => {
    // Friday evening Berlin -> Monday 09:00.
    assert.equal(
      describeOpening(d('2025-01-13T08:00:00Z'), 'Europe/Berlin', d('2025-01-10T17:00:00Z')),
      'Mon 09:00',
    );
    // Same UTC day, but tomorrow in Auckland (Sunday 23:00 -> Monday 09:00).
    assert.equal(
      describeOpening(d('2025-01-05T20:00:00Z'), 'Pacific/Auckland', d('2025-01-05T10:00:00Z')),
      'Mon 09:00',
    );
    // Local midnight tomorrow.
    assert.equal(describeOpening(d('2025-01-07T00:00:00Z'), 'UTC', d('2025-01-06T23:59:00Z')), 'Tue 00:00');
    // A week later, the same weekday: still not today.
    assert.equal(describeOpening(d('2025-01-20T09:00:00Z'), 'UTC', d('2025-01-13T18:00:00Z')), 'Mon 09:00');
    // Lord Howe half hours.
    assert.equal(
      describeOpening(d('2025-07-06T22:30:00Z'), 'Australia/Lord_Howe', d('2025-07-05T00:00:00Z')),
      'Mon 09:00',
    );
  });

  it('the local time after a DST change', () => {
    assert.equal(
      describeOpening(d('2025-03-31T07:00:00Z'), 'Europe/Berlin', d('2025-03-28T12:00:00Z')),
      'Mon 09:00',
    );
  });
});

describe('opening hours: validateHours and time zones', () => {
  it('accepts valid weeks: empty, several ranges a day, adjacent ranges, 24:00, 00:00-24:00', () => {
    assert.deepEqual(validateHours([]), []);
    assert.deepEqual(validateHours(weekdays('09:00', '17:00')), []);
    assert.deepEqual(validateHours([r('mon', '09:00', '12:00'), r('mon', '12:00', '17:00')]), []);
    assert.deepEqual(validateHours([r('mon', '13:00', '17:00'), r('mon', '09:00', '12:00')]), []);
    assert.deepEqual(validateHours([r('fri', '22:00', '24:00'), r('sat', '00:00', '02:00')]), []);
    assert.deepEqual(validateHours(DAYS.map((day) => r(day, '00:00', '24:00'))), []);
    assert.deepEqual(validateHours([r('sun', '23:59', '24:00'), r('sun', '00:00', '00:01')]), []);
    // The same range on different days does not overlap.
    assert.deepEqual(validateHours([r('mon', '09:00', '17:00'), r('tue', '09:00', '17:00')]), []);
  });

  it('rejects open >= close', () => {
    assert.ok(
      validateHours([r('mon', '10:00', '10:00')]).some((p) => p.includes('open must be before close')),
    );
    assert.ok(
      validateHours([r('mon', '18:00', '09:00')]).some((p) => p.includes('open must be before close')),
    );
    assert.notDeepEqual(validateHours([r('mon', '22:00', '00:00')]), []);
    assert.notDeepEqual(validateHours([r('mon', '24:00', '24:00')]), []);
  });

  it('rejects bad time formats', () => {
    for (const bad of [
      '25:00',
      '24:01',
      '24:30',
      '9:00',
      '09:60',
      '0900',
      '09:00:00',
      'ab:cd',
      '',
      ' 09:00',
      '-1:00',
    ])
      assert.ok(validateHours([r('mon', bad, '23:00')]).length > 0, `open ${JSON.stringify(bad)}`);
    for (const bad of ['25:00', '24:01', '9:00', '12:5', '12:60', '', 'noon'])
      assert.ok(validateHours([r('mon', '00:00', bad)]).length > 0, `close ${JSON.stringify(bad)}`);
    // 24:00 is only a closing time.
    assert.ok(validateHours([r('mon', '24:00', '24:00')]).some((p) => p.includes('open must be HH:MM')));
    // The problem names the range.
    assert.deepEqual(validateHours([r('mon', '09:00', '10:00'), r('tue', '25:00', '26:00')]), [
      'hours[1].open must be HH:MM (00:00-23:59)',
      'hours[1].close must be HH:MM (00:01-24:00)',
    ]);
  });

  it('rejects unknown days', () => {
    for (const day of ['Mon', 'MON', 'monday', 'mo', '', 'sun ', 'xyz'])
      assert.ok(
        validateHours([{ day: day as Day, open: '09:00', close: '10:00' }]).some((p) =>
          p.includes('day must be'),
        ),
        day,
      );
  });

  it('rejects overlapping ranges on a day (partial, identical, contained)', () => {
    const overlaps = [
      [r('mon', '09:00', '12:00'), r('mon', '11:59', '17:00')],
      [r('mon', '09:00', '12:00'), r('mon', '09:00', '12:00')],
      [r('mon', '09:00', '17:00'), r('mon', '10:00', '11:00')],
      [r('wed', '13:00', '18:00'), r('wed', '00:00', '24:00')],
      [r('fri', '09:00', '17:00'), r('fri', '10:00', '11:00'), r('fri', '12:00', '13:00')],
    ];
    for (const hours of overlaps)
      assert.ok(
        validateHours(hours).some((p) => p.includes('overlap')),
        JSON.stringify(hours),
      );
  });

  it('time zones: IANA names only', () => {
    for (const zone of [
      'Europe/Berlin',
      'America/New_York',
      'Asia/Kolkata',
      'Australia/Lord_Howe',
      'Pacific/Auckland',
      'UTC',
      'Etc/GMT+2',
    ])
      assert.equal(isValidTimeZone(zone), true, zone);
    // UTC offsets are refused on every runtime (Node 24's Intl accepts them as zones, Node 20's does not).
    for (const zone of [
      'Mars/Olympus_Mons',
      'Europe/Atlantis',
      '',
      'Berlin',
      '+25:00',
      '+02:00',
      '-0500',
      '+02',
      '\u221205:00',
    ])
      assert.equal(isValidTimeZone(zone), false, zone);
  });
});

describe('opening hours: properties', () => {
  const HOUR = 3_600_000;
  // Each zone with its 2025 transitions: instants are drawn near them often, where DST bugs live.
  const TRANSITIONS: Record<string, string[]> = {
    'Europe/Berlin': ['2025-03-30T01:00:00Z', '2025-10-26T01:00:00Z'],
    'America/New_York': ['2025-03-09T07:00:00Z', '2025-11-02T06:00:00Z'],
    'Australia/Lord_Howe': ['2025-10-04T15:30:00Z', '2025-04-05T15:00:00Z'],
    'Pacific/Auckland': ['2025-09-27T14:00:00Z', '2025-04-05T14:00:00Z'],
    'Asia/Kolkata': [],
    UTC: [],
  };
  const ANY_TIME = fc.integer({
    min: d('2020-01-01T00:00:00Z').getTime(),
    max: d('2030-12-31T00:00:00Z').getTime(),
  });
  /** A zone and an instant: anywhere in 2020-2030, within days of one of its transitions, or within hours. */
  const zoneAndInstant = fc.constantFrom(...Object.keys(TRANSITIONS)).chain((zone) => {
    const near = TRANSITIONS[zone]!.map((t) => d(t).getTime());
    if (!near.length) return fc.tuple(fc.constant(zone), ANY_TIME);
    const around = (span: number) =>
      fc.tuple(fc.constantFrom(...near), fc.integer({ min: -span, max: span })).map(([t, o]) => t + o);
    return fc.tuple(fc.constant(zone), fc.oneof(ANY_TIME, around(4 * 24 * HOUR), around(4 * HOUR)));
  });

  const hhmm = (m: number) =>
    `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  // Boundaries favour the small hours (where clocks change: 00:00-04:00 in 5-minute steps) and half hours.
  const minute = fc.oneof(
    fc.integer({ min: 0, max: 1440 }),
    fc.integer({ min: 0, max: 48 }).map((h) => h * 30),
    fc.integer({ min: 0, max: 48 }).map((m) => m * 5),
  );
  // Every transition of these zones is on a Sunday: Sundays are drawn more often.
  const day = fc.oneof(fc.constantFrom(...DAYS), fc.constant<Day>('sun'));
  /** A valid week: per day, sorted distinct boundaries paired up (or chained: adjacent ranges). */
  const week = fc
    .array(
      fc.record({
        day,
        bounds: fc.uniqueArray(minute, { minLength: 2, maxLength: 6 }),
        adjacent: fc.boolean(),
      }),
      { maxLength: 7 },
    )
    .map((days) => {
      const seen = new Set<Day>();
      const out: OpeningRange[] = [];
      for (const { day, bounds, adjacent } of days) {
        if (seen.has(day)) continue;
        seen.add(day);
        const b = [...bounds].sort((x, y) => x - y);
        const step = adjacent ? 1 : 2;
        for (let i = 0; i + 1 < b.length; i += step) out.push(r(day, hhmm(b[i]!), hhmm(b[i + 1]!)));
      }
      return out;
    });

  it('generated weeks are valid', () => {
    fc.assert(
      fc.property(week, (hours) => assert.deepEqual(validateHours(hours), [])),
      { numRuns: 1000 },
    );
  });

  it('nextOpening(t) > t, and the business is open then', () => {
    fc.assert(
      fc.property(week, zoneAndInstant, (hours, [zone, t]) => {
        const next = nextOpening(hours, zone, new Date(t));
        if (!hours.length) return assert.equal(next, null);
        assert.ok(next, 'an opening exists');
        assert.ok(next.getTime() > t, `${next.toISOString()} > ${new Date(t).toISOString()}`);
        assert.equal(isOpen(hours, zone, next), true, `open at ${next.toISOString()}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('closed at t: closed just before nextOpening, and at every step until then', () => {
    fc.assert(
      fc.property(week, zoneAndInstant, (hours, [zone, t]) => {
        if (isOpen(hours, zone, new Date(t))) return;
        const next = nextOpening(hours, zone, new Date(t));
        if (!next) return assert.equal(hours.length, 0);
        assert.equal(
          isOpen(hours, zone, new Date(next.getTime() - 1)),
          false,
          `just before ${next.toISOString()}`,
        );
        // Nothing opens between t and nextOpening(t): 10-minute steps over the next 26 hours.
        for (let u = t + 1; u < Math.min(next.getTime(), t + 26 * HOUR); u += 10 * 60_000)
          assert.equal(isOpen(hours, zone, new Date(u)), false, `open at ${new Date(u).toISOString()}`);
      }),
      { numRuns: 800 },
    );
  });
});
