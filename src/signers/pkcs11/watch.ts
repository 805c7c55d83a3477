/**
 * Notices a token leaving its slot. One poller per module serves all its
 * signers: each tick drains C_WaitForSlotEvent (non-blocking, where the
 * module supports it), re-reads the slot list, and checks every watched slot
 * with C_GetSlotInfo (CKF_TOKEN_PRESENT) and C_GetTokenInfo (the same token
 * label and serial). A blocking C_WaitForSlotEvent is not used: pkcs11js
 * would run it on the main thread.
 *
 * SoftHSM never reports slot events and keeps CKF_TOKEN_PRESENT set when its
 * token directory is deleted, but C_GetTokenInfo then fails
 * (CKR_GENERAL_ERROR): that is what makes removal visible there.
 *
 * @internal
 * @module
 */
import type { Module } from 'graphene-pk11';
import { CKF_DONT_BLOCK, CKF_TOKEN_PRESENT, CKR, CKR_GONE, ckrName, ckrOf } from './constants.js';

/** The default polling interval in milliseconds. */
export const DEFAULT_POLL_INTERVAL_MS = 1000;

/** How long the module's last look at its readers counts as fresh for {@link SlotWatcher.goneNow}, in ms. */
export const FRESH_MS = 250;

interface Registration {
  readonly slot: Buffer;
  readonly label: string;
  readonly serial: string;
  readonly intervalMs: number;
  readonly onGone: (reason: string) => void;
}

/**
 * Whether the module at a path reports slot events, once learnt (true: it
 * reported one; false: C_WaitForSlotEvent is not supported): a library's
 * property, kept across its C_Finalize and C_Initialize (an open + sign +
 * close finalizes the module each time). SoftHSM answers CKR_NO_EVENT and
 * never reports one, not even for a deleted token: it stays unknown.
 */
const slotEventSupport = new Map<string, boolean>();

/** Return values of C_GetTokenInfo that mean the token is no longer usable. */
const TOKEN_INFO_GONE = new Set([...CKR_GONE, CKR.GENERAL_ERROR, CKR.DEVICE_ERROR, CKR.CRYPTOKI_NOT_INITIALIZED]);

/** Watches slots of one module for their token leaving. */
export class SlotWatcher {
  readonly #module: Module;
  readonly #regs = new Set<Registration>();
  #timer: NodeJS.Timeout | undefined;
  #intervalMs = Infinity;
  /** Whether the module reports slot events (see slotEventSupport); undefined while unknown. */
  #events: boolean | undefined;
  readonly #path: string;
  /** True once this watcher asked C_WaitForSlotEvent (whatever the answer). */
  #askedEvents = false;
  /** When the module last looked at its readers (performance.now()). */
  #refreshedAt = -Infinity;
  /** Slots (handle as hex) the module reported an event for that no token check has looked at since. */
  readonly #changed = new Set<string>();

  /** `path` names the module's library, for what is learnt about it. */
  constructor(module: Module, path = '') {
    this.#module = module;
    this.#path = path;
    this.#events = slotEventSupport.get(path);
  }

  /**
   * Calls `onGone` once when the token with `label` and `serial` is no longer
   * in `slot`. `intervalMs` <= 0 registers without polling (only
   * {@link SlotWatcher.checkSlot} then notices). Returns an unsubscribe
   * function.
   */
  watch(slot: Buffer, label: string, serial: string, intervalMs: number, onGone: (reason: string) => void): () => void {
    const reg: Registration = { slot, label, serial, intervalMs, onGone };
    this.#regs.add(reg);
    this.#reschedule();
    return () => {
      if (this.#regs.delete(reg)) this.#reschedule();
    };
  }

  /** Checks the registrations on `slot` now (for example after a failed signature). */
  checkSlot(slot: Buffer): void {
    for (const reg of [...this.#regs]) if (reg.slot.equals(slot)) this.#check(reg);
  }

  /**
   * Why the token with `label` and `serial` is no longer usable in `slot`
   * (undefined: it is there), for the signer's check right before each
   * signature. When the module's last look at its readers is older than
   * {@link FRESH_MS} ms, it looks again (C_WaitForSlotEvent, non-blocking:
   * OpenSC asks PC/SC there) and C_GetTokenInfo checks the token; within
   * that time the token is checked only when the module reported an event
   * for its slot. A module without slot events (SoftHSM) is checked once per
   * that time, not per signature (its C_GetTokenInfo cost half a signature). No call otherwise: a
   * removal PC/SC has noticed since then fails the signature in 1-2 ms with
   * CKR_DEVICE_REMOVED (the signer reports ERR_TOKEN_REMOVED), and one it has
   * not noticed no client check can see. (OpenSC's reader look costs 3-20 ms
   * through pcscd, its C_GetTokenInfo a card round trip: both cost more than a
   * P-256 signature.)
   */
  goneNow(slot: Buffer, label: string, serial: string): string | undefined {
    // Only a module seen reporting slot events is trusted to report its tokens' removal; ask it once.
    if (performance.now() - this.#refreshedAt > FRESH_MS || (this.#events === undefined && !this.#askedEvents)) this.#refresh();
    else if (this.#events !== true || !this.#changed.has(slot.toString('hex'))) return undefined;
    return this.#tokenGone({ slot, label, serial });
  }

  /**
   * Tells the watcher that the module has just looked at its readers and the
   * tokens were read (a discovery's C_GetSlotList(true) and C_GetTokenInfo):
   * a signature right after an open needs no look of its own. Events that
   * look raised stay queued in the module for the next one.
   */
  noteRefreshed(): void {
    this.#refreshedAt = performance.now();
  }

  /** Stops polling and drops every registration. */
  stop(): void {
    this.#regs.clear();
    this.#reschedule();
  }

  #reschedule(): void {
    const wanted = Math.min(...[...this.#regs].map((r) => (r.intervalMs > 0 ? r.intervalMs : Infinity)));
    if (wanted === this.#intervalMs) return;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#intervalMs = wanted;
    if (Number.isFinite(wanted)) {
      this.#timer = setInterval(() => this.#tick(), wanted);
      this.#timer.unref();
    }
  }

  /** Drains the slot events (non-blocking): OpenSC refreshes every reader's card state there. */
  #refresh(): void {
    if (this.#events !== false) {
      this.#askedEvents = true;
      try {
        for (let i = 0; i < 16; i++) {
          const slot = this.#module.lib.C_WaitForSlotEvent(CKF_DONT_BLOCK);
          if (slot === null) break;
          this.#changed.add(slot.toString('hex'));
          this.#events = true;
        }
      } catch (e) {
        if (ckrOf(e) === CKR.FUNCTION_NOT_SUPPORTED) this.#events = false;
      }
      if (this.#events !== undefined) slotEventSupport.set(this.#path, this.#events);
    }
    this.#refreshedAt = performance.now();
  }

  #tick(): void {
    const lib = this.#module.lib;
    this.#refresh();
    // A module without slot events may refresh its view of the readers here. (OpenSC refreshed it in
    // C_WaitForSlotEvent; its C_GetSlotList, which also looks for new readers, costs 15-20 ms of this thread.)
    if (this.#events === false) {
      try {
        lib.C_GetSlotList(true);
      } catch {
        /* the per-slot checks below decide */
      }
    }
    for (const reg of [...this.#regs]) if (reg.intervalMs > 0) this.#check(reg);
  }

  #check(reg: Registration): void {
    const reason = this.#whyGone(reg);
    if (reason === undefined || !this.#regs.delete(reg)) return;
    this.#reschedule();
    reg.onGone(reason);
  }

  #whyGone(reg: Pick<Registration, 'slot' | 'label' | 'serial'>): string | undefined {
    // With slot events the tick's C_WaitForSlotEvent refreshed the module's state and C_GetTokenInfo answers
    // from it; OpenSC's C_GetSlotInfo would ask PC/SC again (about 10 ms of this thread per slot, per tick).
    if (this.#events !== false) return this.#tokenGone(reg);
    const lib = this.#module.lib;
    try {
      if ((lib.C_GetSlotInfo(reg.slot).flags & CKF_TOKEN_PRESENT) === 0) return 'the token left its slot';
    } catch (e) {
      const rv = ckrOf(e);
      if (rv !== undefined && TOKEN_INFO_GONE.has(rv)) return `the slot is gone (${ckrName(e)})`;
      return undefined;
    }
    return this.#tokenGone(reg);
  }

  /** Why C_GetTokenInfo says the token is gone or another one (undefined: it is there). */
  #tokenGone(reg: Pick<Registration, 'slot' | 'label' | 'serial'>): string | undefined {
    const lib = this.#module.lib;
    this.#changed.delete(reg.slot.toString('hex'));
    try {
      const t = lib.C_GetTokenInfo(reg.slot);
      if (t.label.trimEnd() !== reg.label || t.serialNumber.trimEnd() !== reg.serial) return 'another token is now in the slot';
    } catch (e) {
      const rv = ckrOf(e);
      if (rv !== undefined && TOKEN_INFO_GONE.has(rv)) return `the token is no longer available (${ckrName(e)})`;
    }
    return undefined;
  }
}
