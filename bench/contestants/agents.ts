/**
 * Contestants played by agent processes (bench/agents/): the Seashell client and daemon, and ssh2's
 * client and server. A client keeps two agents: one for the operation being measured and, started
 * when first needed, one that produces background load, so that load and measurement run in
 * separate processes as two `ssh` commands would.
 */
import { Agent } from '../lib/agent.js';
import { treeMemory } from '../lib/proc.js';
import type {
  Algorithms,
  ClientHandle,
  ClientId,
  Commands,
  Feature,
  HandshakeBatch,
  Holder,
  Load,
  Missing,
  OpCost,
  Prober,
  ServerHandle,
  ServerId,
} from './types.js';

/** Time allowed for moving `bytes`: generous (2 MiB/s) plus a minute. */
export function transferTimeout(bytes: number): number {
  return 60_000 + (bytes / (2 << 20)) * 1000;
}

export interface AgentSpec {
  script: string;
  args: string[];
  nodeArgs?: string[];
  /** The Node binary that runs the agent (default: the bench's own). */
  node?: string;
}

/** Looks a feature up in the algorithm lists an agent announced in its hello. */
export function supportFromHello(
  hello: Record<string, unknown>,
  f: Feature,
  who: string,
  absent: Missing['status'],
): Missing | undefined {
  if (f.kind === 'kex' || f.kind === 'cipher' || f.kind === 'mac' || f.kind === 'compression') {
    const list = hello[f.kind];
    if (Array.isArray(list) && list.includes(f.name)) return undefined;
    return { status: absent, why: `${who} has no ${f.kind} ${f.name}` };
  }
  return undefined;
}

const SINK_COMMANDS: Commands = {
  sink: (bytes?: number) => (bytes === undefined ? 'sink' : `sink ${bytes}`),
  source: (bytes: number) => `source ${bytes}`,
  true: 'true',
  echo: 'echo x',
};

export class AgentServer implements ServerHandle {
  port = 0;
  readonly commands = SINK_COMMANDS;
  private agent: Agent | undefined;

  constructor(
    readonly id: ServerId,
    readonly label: string,
    private readonly spec: AgentSpec,
    private readonly support: (hello: Record<string, unknown>, f: Feature) => Missing | undefined,
    private readonly description: (hello: Record<string, unknown>) => string,
  ) {}

  get hello(): Record<string, unknown> {
    return this.agent?.hello ?? {};
  }

  async start(): Promise<this> {
    this.agent = await Agent.start(this.label, this.spec.script, this.spec.args, {
      nodeArgs: this.spec.nodeArgs,
      node: this.spec.node,
    });
    this.port = this.agent.hello.port as number;
    return this;
  }

  private get a(): Agent {
    if (!this.agent?.alive) throw new Error(`${this.label} server is not running`);
    return this.agent;
  }

  supports(f: Feature): Missing | undefined {
    return this.support(this.hello, f);
  }

  async cpuSeconds(): Promise<number> {
    return (await this.a.request<{ cpuS: number }>('stats')).cpuS;
  }

  async memory(gc: boolean) {
    const r = await this.a.request<{ memory: NodeJS.MemoryUsage; young: number }>(gc ? 'gc' : 'stats');
    return { ...treeMemory(this.a.pid), heap: r.memory, young: r.young };
  }

  async settle(): Promise<void> {
    await this.a.request('settle');
  }

  describe(): string {
    return this.description(this.hello);
  }

  async stop(): Promise<void> {
    await this.agent?.stop();
  }
}

export class AgentClient implements ClientHandle {
  private main: Agent | undefined;
  private loader: Agent | undefined;

  constructor(
    readonly id: ClientId,
    readonly label: string,
    private readonly spec: AgentSpec,
    private readonly support: (hello: Record<string, unknown>, f: Feature) => Missing | undefined,
    private readonly description: (hello: Record<string, unknown>) => string,
  ) {}

  get hello(): Record<string, unknown> {
    return this.main?.hello ?? {};
  }

  async start(): Promise<this> {
    await this.agent();
    return this;
  }

  /** The main agent, (re)started when it is not running (e.g. after a timed-out request). */
  private async agent(): Promise<Agent> {
    if (!this.main?.alive) {
      this.main = await Agent.start(this.label, this.spec.script, this.spec.args, {
        nodeArgs: this.spec.nodeArgs,
        node: this.spec.node,
      });
    }
    return this.main;
  }

  private async loadAgent(): Promise<Agent> {
    if (!this.loader?.alive) {
      this.loader = await Agent.start(`${this.label} (load)`, this.spec.script, this.spec.args, {
        nodeArgs: this.spec.nodeArgs,
        node: this.spec.node,
      });
    }
    return this.loader;
  }

  supports(f: Feature): Missing | undefined {
    return this.support(this.hello, f);
  }

  async transfer(
    server: ServerHandle,
    direction: 'up' | 'down',
    bytes: number,
    algs: Algorithms,
  ): Promise<OpCost> {
    const command = direction === 'up' ? server.commands.sink(bytes) : server.commands.source(bytes);
    return (await this.agent()).request<OpCost>(
      'transfer',
      { port: server.port, direction, bytes, command, ...algs },
      transferTimeout(bytes),
    );
  }

  async handshakes(server: ServerHandle, count: number, algs: Algorithms): Promise<HandshakeBatch> {
    return (await this.agent()).request<HandshakeBatch>(
      'handshakes',
      { port: server.port, count, command: server.commands.true, ...algs },
      60_000 + count * 2000,
    );
  }

  async sftp(server: ServerHandle, direction: 'put' | 'get', local: string, remote: string): Promise<OpCost> {
    return (await this.agent()).request<OpCost>(
      'sftp',
      { port: server.port, direction, local, remote },
      transferTimeout(256 << 20),
    );
  }

  async hold(server: ServerHandle, count: number, algs: Algorithms): Promise<Holder> {
    const a = await this.agent();
    const r = await a.request<{ held: number }>(
      'hold',
      { port: server.port, count, concurrency: 16, ...algs },
      60_000 + count * 500,
    );
    return { held: r.held, release: async () => void (await a.request('release', {}, 60_000 + count * 100)) };
  }

  async startLoad(server: ServerHandle, count: number, algs: Algorithms): Promise<Load> {
    const a = await this.loadAgent();
    await a.request(
      'loadStart',
      { port: server.port, count, command: server.commands.sink(), ...algs },
      60_000,
    );
    return {
      stop: async () => {
        const r = await a.request<{ bytes: number; error: string | null }>('loadStop', {}, 60_000);
        if (r.error) throw new Error(`the background load failed: ${r.error}`);
        if (r.bytes === 0) throw new Error('the background load sent nothing');
      },
    };
  }

  async openProber(server: ServerHandle, algs: Algorithms): Promise<Prober> {
    const a = await this.agent();
    await a.request('probeOpen', { port: server.port, ...algs }, 60_000);
    return {
      probe: async (count) =>
        (
          await a.request<{ msEach: number[] }>(
            'probe',
            { count, command: server.commands.echo },
            60_000 + count * 1000,
          )
        ).msEach,
      close: async () => void (await a.request('probeClose', {}, 30_000)),
    };
  }

  describe(): string {
    return this.description(this.hello);
  }

  async stop(): Promise<void> {
    await Promise.all([this.main?.stop(), this.loader?.stop()]);
  }
}
