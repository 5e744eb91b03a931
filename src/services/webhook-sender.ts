import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { type WebhookTargetPolicy, WebhookTargetError, parseWebhookUrl, resolveWebhookTarget } from './webhook-address-guard.js';
import { formatTraceparent } from '../lib/trace-context.js';
import { signatureHeader } from './webhook-secrets.js';

/** One HTTP call of a delivery: what to send, signed under every secret given. */
export interface WebhookMessage {
  url: string;
  /** The webhook-id header: the event's id (a receiver deduplicates on it). */
  id: string;
  body: string;
  secrets: readonly string[];
  /** The W3C trace id of the request that wrote the event: sent as `traceparent` with a new span id. */
  traceId?: string | null;
}

/** How one attempt went: only `ok` counts as delivered. */
export interface SendResult {
  ok: boolean;
  /** The receiver's status; null when none came (refused, timed out, connection failed). */
  status: number | null;
  latencyMs: number;
  /** Why it failed when there was no 2xx: `timeout after 15000 ms`, `private address 10.0.0.1`, … */
  error: string | null;
  /** At most MAX_STORED_BODY bytes of the answer, as text. */
  body: string | null;
  /** From Retry-After on a 429 or 503: when the receiver asks to be called again. */
  retryAfterMs: number | null;
}

/** Receivers' answers are kept to this many bytes, never more (docs/webhooks.md). */
export const MAX_STORED_BODY = 1024;
const USER_AGENT = 'Arbor-Webhooks/1';

export interface WebhookSenderDeps {
  policy: WebhookTargetPolicy;
  timeoutMs: number;
  now?: () => number;
  /**
   * Told the address a delivery is about to connect to, after every check: tests use it as a
   * tripwire that no packet can leave loopback even if a check under test failed.
   */
  beforeConnect?: (address: string) => void;
}

/** Retry-After as seconds or an HTTP date, in ms from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | null {
  if (value === undefined) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - nowMs);
}

/**
 * Sends webhook messages: SSRF checks right before connecting, to the address they resolved
 * (pinned: no second lookup, so DNS rebinding between check and connect is impossible); a
 * deadline over the whole exchange; no redirects followed; at most 1 KiB of the answer kept.
 * Never throws: every failure is a result.
 */
export function createWebhookSender({ policy, timeoutMs, now = () => Date.now(), beforeConnect }: WebhookSenderDeps) {
  // Keep-alive connections per receiver: a burst to one endpoint reuses them.
  // Idle ones close after 30 s, and there are never more than 256 in all: receivers on many
  // names cannot pile up sockets.
  const agentOptions = { keepAlive: true, maxSockets: 16, maxTotalSockets: 256, timeout: 30_000 };
  const agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };

  async function send(message: WebhookMessage): Promise<SendResult> {
    const started = now();
    const failed = (error: string, status: number | null = null, body: string | null = null, retryAfterMs: number | null = null): SendResult => ({
      ok: false,
      status,
      latencyMs: now() - started,
      error,
      body,
      retryAfterMs,
    });
    let url: URL;
    let address: string;
    // The name's lookup counts towards the deadline: a resolver that never answers fails the attempt in time.
    let lookupTimer: NodeJS.Timeout | undefined;
    const lookupDeadline = new Promise<never>((_, reject) => {
      lookupTimer = setTimeout(() => reject(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      url = parseWebhookUrl(message.url, policy);
      ({ address } = await Promise.race([resolveWebhookTarget(url, policy), lookupDeadline]));
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('timeout')) return failed(`${error.message} (resolving the host)`);
      return failed(error instanceof WebhookTargetError ? `refused: ${error.reason}` : `refused: ${(error as Error).message}`);
    } finally {
      clearTimeout(lookupTimer);
    }
    const remainingMs = Math.max(1, timeoutMs - (now() - started));
    try {
      beforeConnect?.(address);
    } catch (error) {
      return failed(`refused: ${(error as Error).message}`);
    }
    const secure = url.protocol === 'https:';
    const timestamp = Math.floor(now() / 1000);
    return new Promise<SendResult>((resolve) => {
      const request = (secure ? https : http).request({
        method: 'POST',
        host: address,
        port: url.port || (secure ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        // The certificate is checked against the name, while the connection goes to the address checked.
        ...(secure && isIP(url.hostname.replace(/^\[|\]$/g, '')) === 0 ? { servername: url.hostname } : {}),
        agent: secure ? agents.https : agents.http,
        headers: {
          host: url.host,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(message.body),
          'user-agent': USER_AGENT,
          'webhook-id': message.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(message.secrets, message.id, timestamp, message.body),
          // The receiver's trace continues the one of the request that made the change.
          ...(message.traceId ? { traceparent: formatTraceparent(message.traceId) } : {}),
        },
      });
      let timedOut = false;
      const deadline = setTimeout(() => {
        timedOut = true;
        request.destroy(new Error(`timeout after ${timeoutMs} ms`));
      }, remainingMs);
      let settled = false;
      const finish = (result: SendResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(result);
      };
      // Whatever else happened (a body cut off mid-way, a socket destroyed), the attempt ends with the request.
      request.on('close', () => finish(failed(timedOut ? `timeout after ${timeoutMs} ms` : 'connection closed before the answer ended')));
      request.on('error', (error: NodeJS.ErrnoException) => finish(failed(error.message.startsWith('timeout') ? error.message : `${error.code ?? 'error'}: ${error.message}`)));
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        response.on('data', (chunk: Buffer) => {
          if (kept >= MAX_STORED_BODY) return;
          chunks.push(chunk.subarray(0, MAX_STORED_BODY - kept));
          kept += Math.min(chunk.length, MAX_STORED_BODY - kept);
        });
        response.on('error', () => {});
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          // As text a store takes: PostgreSQL refuses NUL in text, and a receiver may answer binary.
          const body = kept > 0 ? Buffer.concat(chunks).toString('utf8').replace(/\0/g, '\uFFFD') : null;
          if (status >= 200 && status < 300) return finish({ ok: true, status, latencyMs: now() - started, error: null, body, retryAfterMs: null });
          const retryAfter = status === 429 || status === 503 ? parseRetryAfter(response.headers['retry-after'], now()) : null;
          // Redirects are not followed: a 3xx is a failure like any other non-2xx.
          return finish(failed(`HTTP ${status}`, status, body, retryAfter));
        });
      });
      request.end(message.body);
    });
  }

  return {
    send,
    close(): void {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

export type WebhookSender = ReturnType<typeof createWebhookSender>;
