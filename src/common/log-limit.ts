/**
 * A log line that a failure repeating on every event must not turn into a flood: at most `max` lines
 * per `windowMs`. The calls beyond are counted, and the next line that is written is told how many
 * were left out before it.
 */
export function logLimit(
  max: number,
  windowMs: number,
  now: () => number = Date.now,
): (write: (leftOut: number) => void) => void {
  let windowStart = -Infinity;
  let written = 0;
  let leftOut = 0;
  return (write) => {
    if (now() - windowStart >= windowMs) {
      windowStart = now();
      written = 0;
    }
    if (written >= max) {
      leftOut++;
      return;
    }
    written++;
    write(leftOut);
    leftOut = 0;
  };
}
