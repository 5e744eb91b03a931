import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

/**
 * A real webhook endpoint on loopback for delivery tests: every request's signature is checked
 * with the Standard Webhooks reference verifier (the `standardwebhooks` package), not with the
 * service's own signing code, so a test passes only if a third-party consumer would accept what
 * the service sends. The receiver can answer with errors, hang, redirect, reset the connection,
 * or go down and come back on the same port.
 */

export interface ReceivedDelivery {
  /** `webhook-id` header. */
  id: string;
  /** `webhook-timestamp` header, seconds. */
  timestamp: number;
  /** `webhook-signature` header split on ' '. */
  signatures: string[];
  /** The parsed JSON body. */
  body: { type: string; timestamp: string; data: any };
  raw: string;
  /** Which of the receiver's secrets verified it (index into secrets), every one that did. */
  verifiedBy: number[];
  /** Date.now() when the body had arrived. */
  receivedAt: number;
  /** The W3C `traceparent` header, if one came. */
  traceparent: string | undefined;
}

export type ReceiverMode =
  /** Answer `status` (default 204) at once. */
  | { kind: 'ok'; status?: number }
  /** Answer `status`, with a Retry-After header if `retryAfter` is given and `body` if given. */
  | { kind: 'fail'; status: number; retryAfter?: string; body?: string }
  /** Never answer: the socket stays open until stop() or close(). */
  | { kind: 'hang' }
  /** 302 to `location`. */
  | { kind: 'redirect'; location: string }
  /** Destroy the socket without answering. */
  | { kind: 'reset' };

export interface RejectedRequest {
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  reason: string;
}

export interface Receiver {
  /** http://127.0.0.1:<port><path> (path defaults to /hook). */
  url: string;
  port: number;
  /**
   * Every request received, in arrival order, including ones answered with errors (the mode
   * decides the answer after the request is recorded). Only requests whose signature verified
   * under at least one secret are recorded here; others go to `rejected`.
   */
  received: ReceivedDelivery[];
  /**
   * Requests answered 401 because no secret verified them (missing headers, no matching
   * signature, timestamp outside the verifier's 5-minute tolerance), and the few that could not be
   * deliveries at all: another path (404), another method than POST (405), a verified body that
   * is not JSON (400). The mode does not apply to them.
   */
  rejected: RejectedRequest[];
  /** Secrets to verify with (whsec_...); replace with setSecrets. */
  setSecrets(secrets: string[]): void;
  setMode(mode: ReceiverMode): void;
  /**
   * Mode for the next `count` requests only, then back to the current mode. Only recorded
   * (verified) requests use them up; calls queue one after another.
   */
  nextRequests(count: number, mode: ReceiverMode): void;
  /**
   * Resolves once `predicate(received)` holds (checked on every request and at once), or rejects
   * after timeoutMs (default 10 000) with a message that says how many were received.
   */
  waitFor(predicate: (received: ReceivedDelivery[]) => boolean, timeoutMs?: number): Promise<void>;
  /**
   * Distinct webhook-ids in first-arrival order, and how many of those ids arrived more than once
   * (an id delivered three times counts once; `received.length - ids.length` is the number of
   * extra copies).
   */
  distinct(): { ids: string[]; duplicates: number };
  /**
   * Stop listening (close and destroy every open socket, hanging ones included); `start()` again
   * on the same port later simulates an outage (receiver down, then up). While stopped,
   * connections are refused.
   */
  stop(): Promise<void>;
  /** Listen again on the same port (no-op if listening). */
  start(): Promise<void>;
  /** stop(), and reject every pending waitFor. */
  close(): Promise<void>;
}

const DEFAULT_WAIT_MS = 10_000;

function headerString(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : value;
}

export async function startReceiver(
  options: { secrets?: string[]; port?: number; path?: string } = {},
): Promise<Receiver> {
  const path = options.path ?? '/hook';
  let verifiers: Webhook[] = [];
  const setSecrets = (secrets: string[]) => {
    verifiers = secrets.map((secret) => new Webhook(secret));
  };
  setSecrets(options.secrets ?? []);

  let mode: ReceiverMode = { kind: 'ok' };
  const queued: ReceiverMode[] = [];
  const received: ReceivedDelivery[] = [];
  const rejected: RejectedRequest[] = [];
  const sockets = new Set<Socket>();

  type Waiter = {
    predicate: (received: ReceivedDelivery[]) => boolean;
    resolve: () => void;
    reject: (error: Error) => void;
    timer: NodeJS.Timeout;
  };
  const waiters = new Set<Waiter>();
  const describe = () => {
    const ids = new Set(received.map((r) => r.id)).size;
    return `${received.length} received (${ids} distinct webhook-ids), ${rejected.length} rejected`;
  };
  const checkWaiters = () => {
    for (const waiter of waiters) {
      let holds: boolean;
      try {
        holds = waiter.predicate(received);
      } catch (error) {
        waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.reject(error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      if (holds) {
        waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve();
      }
    }
  };

  const reject = (req: IncomingMessage, res: ServerResponse, raw: string, status: number, reason: string) => {
    rejected.push({ headers: { ...req.headers }, raw, reason });
    res.statusCode = status;
    res.setHeader('content-type', 'text/plain');
    res.end(reason);
    checkWaiters();
  };

  const answer = (req: IncomingMessage, res: ServerResponse, current: ReceiverMode) => {
    switch (current.kind) {
      case 'ok':
        res.statusCode = current.status ?? 204;
        res.end();
        return;
      case 'fail':
        res.statusCode = current.status;
        if (current.retryAfter !== undefined) res.setHeader('retry-after', current.retryAfter);
        res.end(current.body);
        return;
      case 'hang':
        return; // the socket stays open until stop()/close() destroys it
      case 'redirect':
        res.statusCode = 302;
        res.setHeader('location', current.location);
        res.end();
        return;
      case 'reset':
        req.socket.destroy();
        return;
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => req.socket.destroy());
    req.on('end', () => {
      const bytes = Buffer.concat(chunks);
      const raw = bytes.toString('utf8');
      const requestPath = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      if (requestPath !== path) return reject(req, res, raw, 404, `unexpected path ${requestPath}`);
      if (req.method !== 'POST') return reject(req, res, raw, 405, `unexpected method ${req.method}`);

      const id = headerString(req.headers['webhook-id']);
      const timestampHeader = headerString(req.headers['webhook-timestamp']);
      const signatureHeader = headerString(req.headers['webhook-signature']);
      const headers: Record<string, string> = {};
      if (id !== undefined) headers['webhook-id'] = id;
      if (timestampHeader !== undefined) headers['webhook-timestamp'] = timestampHeader;
      if (signatureHeader !== undefined) headers['webhook-signature'] = signatureHeader;

      // Each secret on its own: verifiedBy lists every one that verifies. The verifier gets the
      // bytes as they arrived (not a re-encoded string) and does not parse them.
      const verifiedBy: number[] = [];
      const failures = new Set<string>();
      verifiers.forEach((verifier, index) => {
        try {
          verifier.verify(bytes, headers, { jsonParse: false });
          verifiedBy.push(index);
        } catch (error) {
          failures.add(error instanceof Error ? error.message : String(error));
        }
      });
      if (verifiedBy.length === 0) {
        const reason = verifiers.length === 0 ? 'no secrets configured' : [...failures].join('; ');
        return reject(req, res, raw, 401, `signature not verified: ${reason}`);
      }

      let body: ReceivedDelivery['body'];
      try {
        body = JSON.parse(raw);
      } catch {
        return reject(req, res, raw, 400, 'signature verified but the body is not JSON');
      }

      received.push({
        id: id!,
        timestamp: Number(timestampHeader),
        signatures: signatureHeader!.split(' '),
        body,
        raw,
        verifiedBy,
        receivedAt: Date.now(),
        traceparent: headerString(req.headers.traceparent),
      });
      const current = queued.length > 0 ? queued.shift()! : mode;
      answer(req, res, current);
      checkWaiters();
    });
  };

  const newServer = () => {
    const created = createServer(onRequest);
    created.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    created.on('clientError', (_error, socket) => socket.destroy());
    return created;
  };

  let server: Server = newServer();
  const listen = (port: number) =>
    new Promise<number>((resolve, rejectListen) => {
      server.once('error', rejectListen);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', rejectListen);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  const port = await listen(options.port ?? 0);

  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    received,
    rejected,
    setSecrets,
    setMode(next) {
      mode = next;
    },
    nextRequests(count, next) {
      for (let i = 0; i < count; i++) queued.push(next);
    },
    waitFor(predicate, timeoutMs = DEFAULT_WAIT_MS) {
      return new Promise<void>((resolve, rejectWait) => {
        const waiter: Waiter = {
          predicate,
          resolve,
          reject: rejectWait,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            rejectWait(new Error(`webhook receiver: condition not met within ${timeoutMs} ms: ${describe()}`));
          }, timeoutMs),
        };
        waiters.add(waiter);
        checkWaiters();
      });
    },
    distinct() {
      const counts = new Map<string, number>();
      for (const delivery of received) counts.set(delivery.id, (counts.get(delivery.id) ?? 0) + 1);
      let duplicates = 0;
      for (const count of counts.values()) if (count > 1) duplicates++;
      return { ids: [...counts.keys()], duplicates };
    },
    stop,
    async start() {
      if (server.listening) return;
      server = newServer();
      await listen(port);
    },
    async close() {
      await stop();
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error(`webhook receiver closed while waiting: ${describe()}`));
      }
      waiters.clear();
    },
  };
}
