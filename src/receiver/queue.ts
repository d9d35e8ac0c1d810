/**
 * A bounded work queue: at most `concurrency` tasks run at once and at most `capacity` more wait
 * for a slot; accept() waits while the queue is full, so a producer (the MQTT subscription, the
 * store listing) is held back instead of piling work up in memory.
 */
export class WorkQueue {
  private active = 0;
  private accepted = 0;
  private readonly ready: (() => void)[] = [];
  private readonly roomWaiters: (() => void)[] = [];

  constructor(
    readonly concurrency: number,
    readonly capacity: number,
  ) {}

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }

  /** Resolves once `task` is queued; `done` settles with its outcome. */
  async accept<T>(task: () => Promise<T>): Promise<{ done: Promise<T> }> {
    while (this.accepted >= this.concurrency + this.capacity) await new Promise<void>((r) => this.roomWaiters.push(r));
    this.accepted++;
    const done = new Promise<T>((resolve, reject) => {
      this.ready.push(() => {
        this.active++;
        Promise.resolve()
          .then(task)
          .then(resolve, reject)
          .finally(() => {
            this.active--;
            this.accepted--;
            this.roomWaiters.shift()?.();
            this.pump();
          });
      });
    });
    this.pump();
    return { done };
  }

  private pump(): void {
    while (this.active < this.concurrency && this.ready.length > 0) this.ready.shift()!();
  }
}
