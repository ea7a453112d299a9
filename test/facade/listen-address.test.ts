import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listenAddressMatches } from '../../src/ssh.js';

test('stopDaemon/stopListener address matching: the wildcard names, loopback and mapped IPv4', () => {
  for (const name of ['any', '0.0.0.0', '::']) {
    assert.equal(listenAddressMatches(name, '::'), true, `${name} finds a daemon on ::`);
    assert.equal(listenAddressMatches(name, '0.0.0.0'), true, `${name} finds a daemon on 0.0.0.0`);
    assert.equal(listenAddressMatches(name, '127.0.0.1'), false, `${name} does not find a loopback daemon`);
  }
  assert.equal(listenAddressMatches('loopback', '127.0.0.1'), true);
  assert.equal(listenAddressMatches('localhost', '127.0.0.1'), true);
  assert.equal(listenAddressMatches('127.0.0.1', '::ffff:127.0.0.1'), true);
  assert.equal(listenAddressMatches('127.0.0.1', '::'), false, 'an address is not the wildcard listener');
  assert.equal(listenAddressMatches('10.0.0.1', '127.0.0.1'), false);
});
