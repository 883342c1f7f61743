// The CNI error codes (https://github.com/containernetworking/cni/blob/main/SPEC.md#error). Codes 0-99 carry their spec meaning only;
// 999 is what the dispatcher wraps any untyped failure in, as the Go skel does.
export const Code = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnv: 4,
  IOFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  NotAvailableDegraded: 51,
  Internal: 999,
} as const;

export type CniErrorCode = number;

export interface CniErrorJson {
  cniVersion?: string;
  code: number;
  msg: string;
  details?: string;
}

export class CniError extends Error {
  readonly code: CniErrorCode;
  readonly details?: string;

  constructor(code: CniErrorCode, msg: string, details?: string, options?: { cause?: unknown }) {
    super(msg, options);
    this.name = 'CniError';
    this.code = code;
    if (details) this.details = details;
  }

  toJSON(cniVersion?: string): CniErrorJson {
    const out: CniErrorJson = cniVersion ? { cniVersion, code: this.code, msg: this.message } : { code: this.code, msg: this.message };
    if (this.details) out.details = this.details;
    return out;
  }
}

/** Prefix a message while keeping the code, as Go's fmt.Errorf("...: %w") would. */
export function wrapError(err: unknown, prefix: string, fallbackCode: CniErrorCode = Code.Internal): CniError {
  if (err instanceof CniError) return new CniError(err.code, `${prefix}: ${err.message}`, err.details, { cause: err });
  return new CniError(fallbackCode, `${prefix}: ${errorText(err)}`, undefined, { cause: err });
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}


/**
 * The failures of a call that goes on past them (DEL, GC: the spec asks both to do all
 * they can), thrown together at the end. One failure keeps its own code (11 for a busy
 * IPAM lock, so the runtime retries); several become one 999 naming them all.
 */
export class Failures {
  private readonly errors: CniError[] = [];

  /** Keep `err`, its message prefixed with `what` when given. */
  add(err: unknown, what?: string): void {
    this.errors.push(what ? wrapError(err, what) : err instanceof CniError ? err : new CniError(Code.Internal, errorText(err), undefined, { cause: err }));
  }

  /** Run `step`; a failure is kept and the call goes on. */
  attempt<T>(step: () => T, what?: string): T | undefined {
    try {
      return step();
    } catch (err) {
      this.add(err, what);
      return undefined;
    }
  }

  throwIfAny(summary: string): void {
    if (this.errors.length === 1) throw this.errors[0];
    if (this.errors.length > 1) throw new CniError(Code.Internal, `${summary} failed in ${this.errors.length} places: ${this.errors.map((e) => e.message).join('; ')}`);
  }
}
