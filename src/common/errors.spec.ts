import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUnavailableError } from './errors';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
const named = (name: string, message: string) => Object.assign(new Error(message), { name });

describe('isUnavailableError', () => {
  it('recognises a dependency that is down, restarting, refusing or out of connections', () => {
    for (const err of [
      withCode('57P01', 'terminating connection due to administrator command'),
      withCode('57P03', 'the database system is starting up'),
      withCode('53300', 'sorry, too many clients already'),
      withCode('55000', 'database "chat" is not currently accepting connections'),
      withCode('ECONNREFUSED'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Connection terminated due to connection timeout'),
      named('QueryRunnerAlreadyReleasedError', 'Query runner already released. Cannot run queries anymore.'),
      Object.assign(new Error('query failed'), { driverError: withCode('08006') }),
    ])
      assert.equal(isUnavailableError(err), true, err.message);
  });

  it('does not excuse errors of the request or of the code', () => {
    for (const err of [
      withCode('23505', 'duplicate key value violates unique constraint'),
      withCode('22P02', 'invalid input syntax for type uuid'),
      withCode('55000', 'cannot execute something in the wrong state'),
      new TypeError("Cannot read properties of undefined (reading 'id')"),
      'a string',
      undefined,
    ])
      assert.equal(isUnavailableError(err), false, String(err));
  });
});
