"""asyncssh as a server that asks what OpenSSH's sshd never asks, for Seashell's client tests.

Listens on 127.0.0.1, port 0, prints "PORT <n>", serves until stdin closes, and prints one line
per event ("CHANGED user old new", "KBDINT user answers...", "LOGIN user").

- user "expired", password "old": the password has expired (SSH_MSG_USERAUTH_PASSWD_CHANGEREQ,
  RFC 4252 section 8); a change from "old" to anything but "old" is taken, and that new password
  logs in from then on.
- user "kim": keyboard-interactive in two rounds (RFC 4256): "Name: " (echoed) and "PIN: ",
  answered "kim" and "1234", then "Token: " answered "t0k3n".
"""
import asyncio
import sys

import asyncssh

passwords = {'expired': 'old'}
expired = {'expired'}


def event(*words):
    print(' '.join(words), flush=True)


class Server(asyncssh.SSHServer):
    def connection_made(self, conn):
        self.round = 0

    def begin_auth(self, username):
        return True

    def password_auth_supported(self):
        return True

    def validate_password(self, username, password):
        if passwords.get(username) != password:
            return False
        if username in expired:
            raise asyncssh.PasswordChangeRequired('Your password has expired; choose a new one.')
        event('LOGIN', username)
        return True

    def change_password(self, username, old_password, new_password):
        if passwords.get(username) != old_password or new_password == old_password:
            event('REFUSED-CHANGE', username)
            return False
        passwords[username] = new_password
        expired.discard(username)
        event('CHANGED', username, old_password, new_password)
        return True

    def kbdint_auth_supported(self):
        return True

    def get_kbdint_challenge(self, username, lang, submethods):
        if username != 'kim':
            return False
        self.round = 1
        return ('Two steps', 'Answer both questions', '', [('Name: ', True), ('PIN: ', False)])

    def validate_kbdint_response(self, username, responses):
        event('KBDINT', username, str(self.round), *responses)
        if self.round == 1 and list(responses) == ['kim', '1234']:
            self.round = 2
            return ('Second round', '', '', [('Token: ', False)])
        if self.round == 2 and list(responses) == ['t0k3n']:
            event('LOGIN', username)
            return True
        return False


async def handle(process):
    process.stdout.write('hello %s\n' % process.get_extra_info('username'))
    process.exit(0)


async def main():
    key = asyncssh.generate_private_key('ssh-ed25519')
    server = await asyncssh.create_server(
        Server, '127.0.0.1', 0, server_host_keys=[key], process_factory=handle)
    print('PORT %d' % server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


asyncio.run(main())
