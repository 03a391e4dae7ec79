import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkAdd,
  checkNewGroup,
  checkRemove,
  checkRoleChange,
  MAX_GROUP_PARTICIPANTS,
  nextOwner,
  type PolicyVerdict,
} from './group-policy';
import type { ParticipantRole } from './conversation.types';

const code = (v: PolicyVerdict) => (v.ok ? 'ok' : v.code);

describe('group policy', () => {
  describe('checkNewGroup', () => {
    it('needs one other participant and allows 8 in all, the creator included', () => {
      assert.equal(MAX_GROUP_PARTICIPANTS, 8);
      assert.equal(code(checkNewGroup('me', [])), 'VALIDATION_FAILED');
      assert.equal(code(checkNewGroup('me', ['me'])), 'VALIDATION_FAILED');
      assert.equal(code(checkNewGroup('me', ['a'])), 'ok');
      const seven = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
      assert.equal(code(checkNewGroup('me', seven)), 'ok');
      assert.equal(code(checkNewGroup('me', [...seven, 'h'])), 'LIMIT_EXCEEDED');
      assert.equal(code(checkNewGroup('me', [...seven, 'me'])), 'ok', 'the creator counts once');
      assert.equal(code(checkNewGroup('me', [...seven, 'a', 'b'])), 'ok', 'duplicates count once');
    });
  });

  describe('checkAdd', () => {
    it('owner and admin add members; only the owner adds admins', () => {
      assert.equal(code(checkAdd('owner', 'member', 3, false)), 'ok');
      assert.equal(code(checkAdd('owner', 'admin', 3, false)), 'ok');
      assert.equal(code(checkAdd('admin', 'member', 3, false)), 'ok');
      assert.equal(code(checkAdd('admin', 'admin', 3, false)), 'FORBIDDEN');
      for (const actor of ['member', 'customer', 'agent'] as ParticipantRole[])
        assert.equal(code(checkAdd(actor, 'member', 3, false)), 'FORBIDDEN', actor);
    });

    it('refuses other roles, existing participants and a 9th participant', () => {
      assert.equal(code(checkAdd('owner', 'owner', 3, false)), 'VALIDATION_FAILED');
      assert.equal(code(checkAdd('owner', 'agent', 3, false)), 'VALIDATION_FAILED');
      assert.equal(code(checkAdd('owner', 'member', 3, true)), 'CONFLICT');
      assert.equal(code(checkAdd('owner', 'member', 7, false)), 'ok');
      assert.equal(code(checkAdd('owner', 'member', 8, false)), 'LIMIT_EXCEEDED');
      assert.equal(code(checkAdd('admin', 'member', 8, false)), 'LIMIT_EXCEEDED');
      // Permission is decided before the limit: a member learns nothing about the group's size.
      assert.equal(code(checkAdd('member', 'member', 8, false)), 'FORBIDDEN');
    });
  });

  describe('checkRemove', () => {
    it('anyone may leave', () => {
      for (const role of ['owner', 'admin', 'member'] as ParticipantRole[])
        assert.equal(code(checkRemove('u', role, 'u', role)), 'ok', role);
    });

    it('the owner removes anyone; an admin removes members only; a member no one', () => {
      assert.equal(code(checkRemove('o', 'owner', 'a', 'admin')), 'ok');
      assert.equal(code(checkRemove('o', 'owner', 'm', 'member')), 'ok');
      assert.equal(code(checkRemove('a', 'admin', 'm', 'member')), 'ok');
      assert.equal(code(checkRemove('a', 'admin', 'o', 'owner')), 'FORBIDDEN');
      assert.equal(code(checkRemove('a', 'admin', 'a2', 'admin')), 'FORBIDDEN');
      assert.equal(code(checkRemove('m', 'member', 'm2', 'member')), 'FORBIDDEN');
      assert.equal(code(checkRemove('m', 'member', 'o', 'owner')), 'FORBIDDEN');
    });
  });

  describe('checkRoleChange', () => {
    it('only the owner changes roles, never their own, to admin or member only', () => {
      assert.equal(code(checkRoleChange('o', 'owner', 'm', 'admin')), 'ok');
      assert.equal(code(checkRoleChange('o', 'owner', 'a', 'member')), 'ok');
      assert.equal(code(checkRoleChange('o', 'owner', 'o', 'member')), 'FORBIDDEN');
      assert.equal(code(checkRoleChange('a', 'admin', 'm', 'admin')), 'FORBIDDEN');
      assert.equal(code(checkRoleChange('m', 'member', 'm2', 'admin')), 'FORBIDDEN');
      assert.equal(code(checkRoleChange('o', 'owner', 'm', 'owner')), 'VALIDATION_FAILED');
    });
  });

  describe('nextOwner', () => {
    it('is the longest-standing admin, else the longest-standing participant, else nobody', () => {
      assert.equal(
        nextOwner([
          { userId: 'm1', role: 'member' },
          { userId: 'a1', role: 'admin' },
          { userId: 'a2', role: 'admin' },
        ]),
        'a1',
      );
      assert.equal(
        nextOwner([
          { userId: 'm1', role: 'member' },
          { userId: 'm2', role: 'member' },
        ]),
        'm1',
      );
      assert.equal(nextOwner([]), undefined);
    });
  });
});
