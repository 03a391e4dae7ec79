/* global process */
// Preloaded into a service instance by test/process-errors.test.ts: on SIGWINCH the process gets
// a promise rejection nobody handles, as a bug would leave one (a side effect nobody awaited).
// SIGWINCH, because nothing else listens to it (Nest's shutdown hooks take SIGUSR2, SIGHUP, …).
'use strict';
process.on('SIGWINCH', () => {
  void Promise.reject(new Error('stray rejection from the test'));
});
