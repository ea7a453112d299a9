import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { maxStartupsProblem, Startups } from '../../src/daemon/max-startups.js';
import { PenaltyBox, penaltyOptionProblem } from '../../src/daemon/penalties.js';
import { sourceBlock } from '../../src/daemon/source-address.js';

describe('source blocks', () => {
  test('IPv4, IPv4-mapped IPv6 and IPv6 addresses are grouped by the configured prefix', () => {
    assert.equal(sourceBlock('192.0.2.77', 32, 128), '192.0.2.77/32');
    assert.equal(sourceBlock('192.0.2.77', 24, 128), '192.0.2.0/24');
    assert.equal(sourceBlock('::ffff:192.0.2.77', 24, 128), '192.0.2.0/24');
    assert.equal(sourceBlock('2001:db8::1', 32, 64), '2001:db8:0:0:0:0:0:0/64');
    assert.equal(sourceBlock('2001:db8:1:2:3:4:5:6', 32, 48), '2001:db8:1:0:0:0:0:0/48');
    assert.equal(sourceBlock('::1', 32, 128), '0:0:0:0:0:0:0:1/128');
    assert.equal(sourceBlock('fe80::1%eth0', 32, 128), 'fe80:0:0:0:0:0:0:1/128');
    assert.equal(sourceBlock('::ffff:1.2.3.4', 32, 128), '1.2.3.4/32');
    assert.equal(sourceBlock('not an address', 32, 128), undefined);
  });
});

describe('PenaltyBox (per-source penalties)', () => {
  test('penalties add up; the source is refused once they reach min, until they run out', () => {
    const box = new PenaltyBox();
    const a = '198.51.100.7';
    box.record(a, 'authfail', 0); // 5 s
    box.record(a, 'authfail', 100); // 10 s, of which 9.9 left
    assert.equal(box.refusedFor(a, 200), 0, 'below the 15 s minimum: still allowed');
    box.record(a, 'authfail', 300); // 14.7 s left: time served counts, still allowed
    assert.equal(box.refusedFor(a, 300), 0);
    box.record(a, 'noauth', 300); // 15.7 s left: enforced
    const left = box.refusedFor(a, 400);
    assert.equal(left, 15_600);
    assert.equal(box.refusedFor('198.51.100.8', 400), 0, 'other sources are not affected');
    assert.equal(box.refusedFor(a, 16_000), 0, 'the penalty ran out');
    assert.equal(box.size, 0, 'and was forgotten');
  });

  test('a penalty is capped at max, and old penalties that expired do not count', () => {
    const box = new PenaltyBox({ max: 20_000 });
    const a = '2001:db8::9';
    for (let i = 0; i < 100; i++) box.record(a, 'graceExceeded', 0);
    assert.equal(box.refusedFor(a, 0), 20_000);
    const fresh = new PenaltyBox();
    fresh.record(a, 'authfail', 0);
    fresh.record(a, 'authfail', 6_000); // the first one expired at 5 s
    fresh.record(a, 'authfail', 6_500);
    assert.equal(fresh.refusedFor(a, 6_600), 0, '10 s accumulated since 6 s: below min');
  });

  test('exempt addresses and blocks are never penalised; mapped IPv4 counts as IPv4', () => {
    const box = new PenaltyBox({ exempt: ['127.0.0.0/8', '2001:db8::/32'], min: 1 });
    box.record('127.0.0.1', 'flood', 0);
    box.record('::ffff:127.0.0.5', 'flood', 0);
    box.record('2001:db8::5', 'flood', 0);
    assert.equal(box.size, 0);
    box.record('::ffff:10.0.0.1', 'flood', 0);
    assert.ok(box.refusedFor('10.0.0.1', 1) > 0);
  });

  test('net blocks: one penalty covers the whole block', () => {
    const box = new PenaltyBox({ netBlockSize: [24, 64], min: 1 });
    box.record('203.0.113.5', 'noauth', 0);
    assert.ok(box.refusedFor('203.0.113.200', 1) > 0);
    assert.equal(box.refusedFor('203.0.114.1', 1), 0);
  });

  test('the table is bounded: past maxSources, new sources go unpenalised (permissive)', () => {
    const box = new PenaltyBox({ maxSources: 3, min: 1 });
    for (let i = 0; i < 10; i++) box.record(`192.0.2.${i}`, 'authfail', 0);
    assert.equal(box.size, 3);
    assert.equal(box.refusedFor('192.0.2.9', 1), 0);
    assert.ok(box.refusedFor('192.0.2.0', 1) > 0);
    // Expired entries make room again.
    box.record('192.0.2.9', 'authfail', 10_000);
    assert.ok(box.refusedFor('192.0.2.9', 10_001) > 0);
  });

  test('option checking names what is wrong', () => {
    assert.equal(penaltyOptionProblem(false), undefined);
    assert.equal(penaltyOptionProblem({ authfail: 1, exempt: ['::1', '10.0.0.0/8'] }), undefined);
    assert.match(penaltyOptionProblem({ authfail: -1 })!, /authfail/);
    assert.match(penaltyOptionProblem({ exempt: ['10.0.0.0/33'] })!, /exempt/);
    assert.match(penaltyOptionProblem({ bogus: 1 })!, /bogus/);
    assert.match(penaltyOptionProblem('yes')!, /object/);
  });
});

describe('Startups (MaxStartups and the per-source cap)', () => {
  test('below start every connection is admitted; at full none is', () => {
    const s = new Startups([2, 30, 4], 100);
    assert.equal(s.admit('10.0.0.1', 0), true);
    assert.equal(s.admit('10.0.0.1', 0), true);
    // From start on: refused with probability rate% rising to 100%: random 0.99 passes, 0.0 does not
    // (for a source that already has one; a source's first is spared).
    assert.match(String(s.admit('10.0.0.1', 0.0)), /random early drop/);
    assert.equal(s.admit('10.0.0.3', 0.0), true, "a source's first connection is not dropped at random");
    assert.equal(s.admit('10.0.0.1', 0.99), true);
    assert.match(String(s.admit('10.0.0.5', 0.0)), /too many unauthenticated/, 'full refuses even a first');
    s.done('10.0.0.1');
    assert.equal(s.count, 3);
    assert.equal(s.admit('10.0.0.5', 0.99), true);
  });

  test('the refusal probability rises linearly from rate to 100% between start and full', () => {
    const s = new Startups([10, 30, 20], 1000);
    for (let i = 0; i < 15; i++) assert.equal(s.admit(`10.0.1.${i}`, 0.999), true);
    // 15 counted: p = 30 + 70 * 5/10 = 65%.
    assert.notEqual(s.admit('10.0.1.1', 0.64), true);
    assert.equal(s.admit('10.0.1.1', 0.66), true);
  });

  test('one source cannot hold more than its share; others still get in', () => {
    const s = new Startups([100, 30, 200], 3);
    for (let i = 0; i < 3; i++) assert.equal(s.admit('192.0.2.1', 0.5), true);
    assert.match(String(s.admit('192.0.2.1', 0.5)), /from 192\.0\.2\.1/);
    assert.match(String(s.admit('::ffff:192.0.2.1', 0.5)), /from 192\.0\.2\.1/);
    assert.equal(s.admit('192.0.2.2', 0.5), true);
    s.done('192.0.2.1');
    assert.equal(s.admit('192.0.2.1', 0.5), true);
  });

  test('option checking', () => {
    assert.equal(maxStartupsProblem(10), undefined);
    assert.equal(maxStartupsProblem([10, 30, 100]), undefined);
    assert.ok(maxStartupsProblem([10, 130, 100]));
    assert.ok(maxStartupsProblem([100, 30, 10]));
    assert.ok(maxStartupsProblem(0));
  });
});
