import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeTerminalModes,
  encodeTerminalModes,
  TERMINAL_MODE_OPCODES,
  type TerminalMode,
} from '../../src/wire/terminal-modes.js';

describe('encoded terminal modes (RFC 4254 §8)', () => {
  test('opcodes follow RFC 4254 §8', () => {
    const spot: [string, number][] = [
      ['vintr', 1],
      ['vdiscard', 18],
      ['ignpar', 30],
      ['iutf8', 42],
      ['isig', 50],
      ['echo', 53],
      ['pendin', 62],
      ['opost', 70],
      ['onlret', 75],
      ['cs7', 90],
      ['parodd', 93],
      ['tty_op_ispeed', 128],
      ['tty_op_ospeed', 129],
    ];
    for (const [name, code] of spot) assert.equal(TERMINAL_MODE_OPCODES[name], code, name);
  });

  test('each mode is an opcode byte and a uint32, ended by TTY_OP_END', () => {
    const enc = encodeTerminalModes([
      ['echo', 1],
      ['tty_op_ospeed', 38400],
    ]);
    assert.equal(enc.toString('hex'), '35' + '00000001' + '81' + '00009600' + '00');
    assert.deepEqual(encodeTerminalModes([]), Buffer.from([0]));
  });

  test('names and numeric opcodes round-trip; opcodes RFC 4254 does not name stay numbers', () => {
    const modes: TerminalMode[] = [
      ['vintr', 3],
      ['icanon', 1],
      ['echo', 0],
      [100, 7],
      ['tty_op_ispeed', 9600],
    ];
    assert.deepEqual(decodeTerminalModes(encodeTerminalModes(modes)), modes);
    // A numeric opcode RFC 4254 names comes back under its name.
    assert.deepEqual(decodeTerminalModes(encodeTerminalModes([[53, 1]])), [['echo', 1]]);
  });

  test('unknown names and opcodes outside 1..159 are left out when encoding', () => {
    const enc = encodeTerminalModes([
      ['nonsense', 1],
      [0, 1],
      [160, 1],
      [255, 1],
      ['echo', 1],
    ]);
    assert.deepEqual(decodeTerminalModes(enc), [['echo', 1]]);
  });

  test('decoding stops at TTY_OP_END, at opcodes 160 and up, and at a truncated argument', () => {
    const stopAtEnd = Buffer.from('3500000001' + '00' + '3600000001', 'hex');
    assert.deepEqual(decodeTerminalModes(stopAtEnd), [['echo', 1]]);
    const stopAt160 = Buffer.from('3500000001' + 'a0' + '3600000001', 'hex');
    assert.deepEqual(decodeTerminalModes(stopAt160), [['echo', 1]]);
    const truncated = Buffer.from('3500000001' + '36000001', 'hex');
    assert.deepEqual(decodeTerminalModes(truncated), [['echo', 1]]);
    assert.deepEqual(decodeTerminalModes(Buffer.alloc(0)), []);
  });
});
