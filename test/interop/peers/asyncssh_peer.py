"""asyncssh as an interop peer for Seashell's tests (Debian python3-asyncssh).

server HOSTKEY AUTHORIZED_KEYS [REKEY_BYTES]
    Listens on 127.0.0.1, port 0, prints "PORT <n>", serves until stdin closes. Exec commands:
    "cat" copies stdin to stdout until EOF; "echo WORDS" prints WORDS. Public key logins only.
client PORT KEY KNOWN_HOSTS [REKEY_BYTES]
    Logs in as "tester", runs the scenarios and prints one JSON line with what it saw.
"""
import asyncio
import hashlib
import json
import logging
import os
import sys

import asyncssh

MiB = 1024 * 1024


class KexCounter(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.completed = 0

    def emit(self, record):
        if 'Completed key exchange' in record.getMessage():
            self.completed += 1


async def handle(process):
    cmd = process.command or ''
    if cmd == 'cat':
        while True:
            data = await process.stdin.read(256 * 1024)
            if not data:
                break
            process.stdout.write(data)
            await process.stdout.drain()
        process.exit(0)
    elif cmd.startswith('echo '):
        process.stdout.write((cmd[5:] + '\n').encode())
        process.exit(0)
    else:
        process.stderr.write(b'unknown command\n')
        process.exit(127)


async def serve(host_key, authorized, rekey_bytes):
    server = await asyncssh.create_server(
        asyncssh.SSHServer, '127.0.0.1', 0,
        server_host_keys=[host_key], authorized_client_keys=authorized,
        process_factory=handle, encoding=None, rekey_bytes=rekey_bytes)
    print('PORT %d' % server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


async def cat_round_trip(conn, total, seed):
    block = hashlib.sha256(seed.encode()).digest() * (MiB // 32)
    sent = hashlib.sha256()
    got = hashlib.sha256()
    process = await conn.create_process('cat', encoding=None)

    async def reader():
        n = 0
        while True:
            data = await process.stdout.read(256 * 1024)
            if not data:
                return n
            got.update(data)
            n += len(data)

    task = asyncio.ensure_future(reader())
    left = total
    while left > 0:
        piece = block[:min(left, len(block))]
        sent.update(piece)
        process.stdin.write(piece)
        await process.stdin.drain()
        left -= len(piece)
    process.stdin.write_eof()
    received = await task
    await process.wait()
    return {'sent': total, 'received': received, 'same': sent.hexdigest() == got.hexdigest(),
            'exit': process.exit_status}


async def client(port, key, known_hosts, rekey_bytes):
    counter = KexCounter()
    log = logging.getLogger('asyncssh')
    log.setLevel(logging.DEBUG)
    log.addHandler(counter)
    asyncssh.set_debug_level(1)
    out = {}
    async with asyncssh.connect('127.0.0.1', port, username='tester', client_keys=[key],
                                known_hosts=known_hosts, rekey_bytes=rekey_bytes) as conn:
        r = await conn.run('echo hello from asyncssh', encoding=None)
        out['exec'] = {'stdout': r.stdout.decode(), 'exit': r.exit_status}
        out['concurrent'] = await asyncio.gather(
            *[cat_round_trip(conn, 512 * 1024, 'ch%d' % i) for i in range(8)])
        before = counter.completed
        out['big'] = await cat_round_trip(conn, 16 * MiB, 'big')
        out['rekeys'] = counter.completed - before
    print(json.dumps(out), flush=True)


def main():
    mode = sys.argv[1]
    if mode == 'server':
        rekey = int(sys.argv[4]) if len(sys.argv) > 4 else None
        asyncio.run(serve(sys.argv[2], sys.argv[3], rekey or (1 << 30)))
    else:
        rekey = int(sys.argv[5]) if len(sys.argv) > 5 else (1 << 30)
        asyncio.run(asyncio.wait_for(client(int(sys.argv[2]), sys.argv[3], sys.argv[4], rekey), 120))


if __name__ == '__main__':
    main()
