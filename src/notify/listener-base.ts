/**
 * The lifecycle the listeners share: started once, stopped once however often stop() is called,
 * and stop() waiting for a start() in progress so that whatever it opened is closed.
 */
import type { Delivery } from './delivery.js';
import type { ListenerKind, ListenerStatus, NotificationListener } from './types.js';

export abstract class ListenerBase implements NotificationListener {
  abstract readonly kind: ListenerKind;
  protected abstract readonly delivery: Delivery;
  /** The start in progress or done; close() awaits it. */
  protected starting: Promise<void> | undefined;
  protected stopping: Promise<void> | undefined;

  start(): Promise<void> {
    if (this.delivery.state !== 'idle') return Promise.reject(new Error(`cannot start a listener that is ${this.delivery.state}`));
    this.starting = this.begin();
    return this.starting;
  }

  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  status(): ListenerStatus {
    return this.delivery.status();
  }

  /** Open the channel; resolves when notifications can be received. */
  protected abstract begin(): Promise<void>;
  /** Release everything; called once. */
  protected abstract close(): Promise<void>;
}
