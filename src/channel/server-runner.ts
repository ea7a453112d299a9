import { TIMEOUT, type ChannelMessage, type HandlerResult, type ServerChannelHandler } from './behaviour.js';
import type { Channel } from './channel.js';

type Item = { kind: 'ssh'; message: ChannelMessage } | { kind: 'msg'; message: unknown };

/**
 * Runs one channel's ServerChannelHandler (the seed's ssh_server_channel behaviour): `init`, then
 * `handleMsg(channelUp)`, then every message in arrival order, one callback at a time. Window for
 * data is given back when `handleSshMsg` returns; `closed` is handled here (the handler's
 * `terminate` runs with 'normal'); a `{stop}` return closes the channel.
 */
export class ServerChannelRunner<S> {
  private state: S | undefined;
  private initialized = false;
  private readonly queue: Item[] = [];
  private running = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly started: Promise<boolean>;

  constructor(
    private readonly channel: Channel,
    private readonly handler: ServerChannelHandler<S>,
    args: unknown[],
  ) {
    this.started = this.init(args);
    channel.setListener((m) => this.post({ kind: 'ssh', message: m }));
    channel.mailbox = (m) => this.post({ kind: 'msg', message: m });
  }

  /** Resolves true once `init` succeeded, false if it stopped or threw (the channel is then closed). */
  get ready(): Promise<boolean> {
    return this.started;
  }

  private async init(args: unknown[]): Promise<boolean> {
    try {
      const r = await this.handler.init(args);
      if ('stop' in r) {
        this.stopped = true;
        void this.channel.close();
        return false;
      }
      this.state = r.ok;
      this.initialized = true;
      this.queue.unshift({
        kind: 'msg',
        message: {
          type: 'channelUp',
          channelId: this.channel.channelId,
          connection: this.channel.connection,
          channel: this.channel,
        },
      });
      this.arm(r.timeout);
      this.kick();
      return true;
    } catch {
      this.stopped = true;
      void this.channel.close();
      return false;
    }
  }

  /** Queues a connection message that did not come through the channel's listener (a session request). */
  postSsh(message: ChannelMessage): void {
    this.post({ kind: 'ssh', message });
  }

  private post(item: Item): void {
    if (this.stopped) return;
    this.queue.push(item);
    this.kick();
  }

  private kick(): void {
    if (this.running || !this.initialized) return;
    void this.run();
  }

  private arm(timeout: number | undefined): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (timeout === undefined || timeout === Infinity) return;
    this.timer = setTimeout(() => this.post({ kind: 'msg', message: TIMEOUT }), timeout);
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const item = this.queue.shift()!;
        if (item.kind === 'ssh' && item.message.type === 'closed') {
          await this.finish('normal');
          return;
        }
        let r: HandlerResult<S>;
        try {
          r =
            item.kind === 'ssh'
              ? await this.handler.handleSshMsg(item.message, this.state as S)
              : await this.handler.handleMsg(item.message, this.state as S);
        } catch (e) {
          await this.finish(e);
          return;
        }
        if (item.kind === 'ssh' && item.message.type === 'data')
          this.channel.adjustWindow(item.message.data.length);
        if ('stop' in r) {
          this.state = r.state;
          await this.finish('normal');
          return;
        }
        this.state = r.ok;
        this.arm(r.timeout);
      }
    } finally {
      this.running = false;
    }
  }

  private async finish(reason: unknown): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.queue.length = 0;
    void this.channel.close();
    try {
      await this.handler.terminate?.(reason, this.state as S);
    } catch {
      // terminate's return value and errors are ignored (seed: "The return value is ignored").
    }
  }
}
