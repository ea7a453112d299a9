import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseKeyOptions } from '../../src/keys/authorized-keys.js';
import { fromAllows, keyRestrictions } from '../../src/keys/key-restrictions.js';
import { isBadKey } from './helpers.js';

const of = (options: string) => keyRestrictions(parseKeyOptions(options));

describe('authorized_keys options as restrictions (sshd(8))', () => {
  it('restrict turns everything off; pty and port-forwarding turn one back on, wherever they stand', () => {
    const r = of('pty,restrict,command="uptime"');
    assert.equal(r.pty, true);
    assert.equal(r.portForwarding, false);
    assert.equal(r.agentForwarding, false);
    assert.equal(r.x11Forwarding, false);
    assert.equal(r.command, 'uptime');
    assert.equal(of('').pty, true);
    assert.equal(of('no-pty,no-agent-forwarding').pty, false);
    assert.equal(of('no-pty,no-agent-forwarding').agentForwarding, false);
    assert.equal(of('no-pty,no-agent-forwarding').portForwarding, true);
  });

  it('reads from=, expiry-time=, environment=, permitopen=, and refuses an option sshd does not know', () => {
    const r = of('from="10.0.0.0/8,!10.1.2.3",expiry-time="20300101",environment="A=b",permitopen="host:80"');
    assert.deepEqual(r.from, ['10.0.0.0/8', '!10.1.2.3']);
    assert.equal(r.expires, new Date(2030, 0, 1).getTime());
    assert.equal(of('expiry-time="203001021230Z"').expires, Date.UTC(2030, 0, 2, 12, 30));
    assert.deepEqual(r.environment, ['A=b']);
    assert.deepEqual(r.permitOpen, ['host:80']);
    assert.throws(() => of('frobnicate'), isBadKey(/unknown authorized_keys option frobnicate/));
    assert.throws(() => of('expiry-time="tomorrow"'), isBadKey(/expiry-time/));
    assert.throws(() => of('command'), isBadKey(/needs a value/));
    assert.throws(() => of('principals="kim"'), isBadKey(/principals on non-CA key/));
    assert.equal(of('cert-authority,principals="kim,lee"').principals, 'kim,lee');
  });

  it('from= patterns: addresses with wildcards, CIDR blocks, negation that wins', () => {
    assert.equal(fromAllows(['10.0.0.0/8', '!10.1.2.3'], '10.9.9.9'), true);
    assert.equal(fromAllows(['10.0.0.0/8', '!10.1.2.3'], '10.1.2.3'), false);
    assert.equal(fromAllows(['10.0.0.0/8'], '192.168.0.1'), false);
    assert.equal(fromAllows(['192.168.*.?'], '192.168.7.5'), true);
    assert.equal(fromAllows(['192.168.*.?'], '192.168.7.55'), false);
    assert.equal(fromAllows(['127.0.0.1'], '::ffff:127.0.0.1'), true);
    assert.equal(fromAllows(['2001:db8::/32'], '2001:db8::1'), true);
    assert.equal(fromAllows(['*.example.com'], '10.0.0.1'), false, 'no DNS: names match nothing');
  });
});
