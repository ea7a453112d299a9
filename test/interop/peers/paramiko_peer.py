"""paramiko as an interop peer for Seashell's tests (Debian python3-paramiko).

server HOSTKEY AUTHORIZED_KEYS [REKEY_BYTES]
    Listens on 127.0.0.1, port 0, prints "PORT <n>", serves until stdin closes. Exec commands:
    "cat" copies stdin to stdout until EOF; "echo WORDS" prints WORDS. Public key logins only.
client PORT KEY KNOWN_HOSTS [ROUNDS]
    Logs in as "tester", runs the scenarios and prints one JSON line with what it saw; with
    ROUNDS, only the 8-concurrent-channel scenario, ROUNDS times, each on a new connection.
"""
import hashlib
import json
import socket
import sys
import threading
import time

import paramiko

MiB = 1024 * 1024


def load_key(path):
    with open(path) as f:
        first = f.readline()
    if 'OPENSSH' in first:
        for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
            try:
                return cls.from_private_key_file(path)
            except Exception:
                continue
    return paramiko.RSAKey.from_private_key_file(path)


class Server(paramiko.ServerInterface):
    def __init__(self, authorized):
        self.authorized = authorized

    def get_allowed_auths(self, username):
        return 'publickey'

    def check_auth_publickey(self, username, key):
        ok = username == 'tester' and key.get_base64() in self.authorized
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        if kind == 'session':
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        threading.Thread(target=run_command, args=(channel, command.decode()), daemon=True).start()
        return True


def run_command(channel, command):
    try:
        if command == 'cat':
            while True:
                data = channel.recv(256 * 1024)
                if not data:
                    break
                channel.sendall(data)
            channel.send_exit_status(0)
        elif command.startswith('echo '):
            channel.sendall((command[5:] + '\n').encode())
            channel.send_exit_status(0)
        else:
            channel.sendall_stderr(b'unknown command\n')
            channel.send_exit_status(127)
    finally:
        channel.shutdown_write()
        channel.close()


def serve(host_key_path, authorized_path, rekey_bytes):
    if rekey_bytes:
        paramiko.packet.Packetizer.REKEY_BYTES = rekey_bytes
    host_key = load_key(host_key_path)
    with open(authorized_path) as f:
        authorized = {line.split()[1] for line in f if line.strip()}
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(64)
    print('PORT %d' % listener.getsockname()[1], flush=True)

    def accept_loop():
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            t = paramiko.Transport(sock)
            t.add_server_key(host_key)
            t.start_server(server=Server(authorized))

    threading.Thread(target=accept_loop, daemon=True).start()
    sys.stdin.read()
    listener.close()


def connect(port, key, known_hosts):
    c = paramiko.SSHClient()
    c.load_host_keys(known_hosts)
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    c.connect('127.0.0.1', port, username='tester', pkey=load_key(key), look_for_keys=False,
              allow_agent=False, timeout=20, banner_timeout=20, auth_timeout=20)
    return c


def cat_round_trip(transport, total, seed, midway=None):
    block = hashlib.sha256(seed.encode()).digest() * (MiB // 32)
    ch = transport.open_session(timeout=20)
    ch.settimeout(60)
    ch.exec_command('cat')
    sent = hashlib.sha256()
    got = hashlib.sha256()
    result = {}

    def writer():
        left = total
        while left > 0:
            piece = block[:min(left, len(block))]
            sent.update(piece)
            ch.sendall(piece)
            left -= len(piece)
            if midway and left <= total // 2 and not result.get('midway'):
                result['midway'] = True
                midway()
        ch.shutdown_write()

    w = threading.Thread(target=writer)
    w.start()
    received = 0
    while True:
        data = ch.recv(256 * 1024)
        if not data:
            break
        got.update(data)
        received += len(data)
    w.join()
    status = ch.recv_exit_status()
    ch.close()
    return {'sent': total, 'received': received, 'same': sent.hexdigest() == got.hexdigest(),
            'exit': status}


def concurrent(transport):
    results = [None] * 8

    def one(i):
        try:
            results[i] = cat_round_trip(transport, 512 * 1024, 'ch%d' % i)
        except Exception as e:
            results[i] = {'error': repr(e)}

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return results


def client(port, key, known_hosts, rounds):
    if rounds:
        failures = []
        for r in range(rounds):
            try:
                c = connect(port, key, known_hosts)
                res = concurrent(c.get_transport())
                c.close()
                bad = [x for x in res if not x or 'error' in x or not x['same']]
                if bad:
                    failures.append({'round': r, 'bad': bad})
            except Exception as e:
                failures.append({'round': r, 'error': repr(e)})
        print(json.dumps({'rounds': rounds, 'failures': failures}), flush=True)
        return
    c = connect(port, key, known_hosts)
    t = c.get_transport()
    out = {}
    _, stdout, _ = c.exec_command('echo hello from paramiko')
    out['exec'] = {'stdout': stdout.read().decode(), 'exit': stdout.channel.recv_exit_status()}
    out['concurrent'] = concurrent(t)
    rekeyed = []

    def rekey():
        start = time.time()
        t.renegotiate_keys()
        rekeyed.append(time.time() - start)

    out['big'] = cat_round_trip(t, 16 * MiB, 'big', midway=rekey)
    out['rekeys'] = len(rekeyed)
    c.close()
    print(json.dumps(out), flush=True)


def main():
    if sys.argv[1] == 'server':
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    else:
        client(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 0)


if __name__ == '__main__':
    main()
