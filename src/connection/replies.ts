/** Answers a request: `ok`, and for global requests an optional payload (RFC 4254 §4). */
export type Reply = (ok: boolean, payload?: Buffer) => void;

interface Slot {
  answered: boolean;
  ok: boolean;
  payload: Buffer | undefined;
}

/**
 * The replies owed to a peer's requests that asked for one, sent in the order the requests came
 * (RFC 4254 §4 for global requests, §5.4 for channel requests), whatever order they are answered
 * in: an answer waits until every earlier request has been answered too. Each request is
 * answered exactly once; a second answer is ignored.
 */
export class ReplyQueue {
  private readonly slots: Slot[] = [];

  constructor(
    private readonly send: (ok: boolean, payload: Buffer | undefined) => void,
    /** Called with +1 when a request starts waiting and -1 when its reply has gone out or was dropped. */
    private readonly count: (delta: number) => void,
  ) {}

  /** Requests whose replies have not gone out yet. */
  get pending(): number {
    return this.slots.length;
  }

  /** A request that wants a reply: returns the function that answers it. */
  add(): Reply {
    const slot: Slot = { answered: false, ok: false, payload: undefined };
    this.slots.push(slot);
    this.count(1);
    return (ok, payload) => {
      if (slot.answered) return;
      slot.answered = true;
      slot.ok = ok;
      slot.payload = payload;
      this.flush();
    };
  }

  /** Drops every reply still owed (the channel or connection is gone: nothing may be sent for it). */
  clear(): void {
    const n = this.slots.length;
    if (n === 0) return;
    for (const s of this.slots) s.answered = true; // late answers are ignored
    this.slots.length = 0;
    this.count(-n);
  }

  private flush(): void {
    let sent = 0;
    while (sent < this.slots.length && this.slots[sent]!.answered) {
      const s = this.slots[sent]!;
      this.send(s.ok, s.payload);
      sent++;
    }
    if (sent > 0) {
      this.slots.splice(0, sent);
      this.count(-sent);
    }
  }
}
