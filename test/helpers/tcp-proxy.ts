import { type Server, type Socket, createServer, connect } from 'node:net';

/**
 * A TCP proxy in front of a server (PostgreSQL here) that a test can take down, bring back on the
 * same port, or use to cut a connection at a chosen moment: the store outages of production
 * (server stopped, network dropped, connection lost mid-commit) without touching the server
 * other tests share.
 */
export interface TcpProxy {
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string;
  /**
   * The next client chunk matching `pattern` is not forwarded: both ends of its connection are
   * destroyed instead (e.g. /commit/i: the transaction dies before the server sees COMMIT).
   */
  cutOnNext(pattern: RegExp): void;
  /** Whether the armed cut has happened. */
  readonly cut: boolean;
  /** Refuses new connections and destroys open ones, as a stopped server does. */
  down(): Promise<void>;
  /**
   * Drops every byte in both directions and never answers new connections, keeping them all
   * open: a network that silently loses packets (no reset, no refusal). `restore()` ends it.
   */
  blackhole(): void;
  restore(): void;
  /** Accepts connections again, on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cutPattern: RegExp | null = null;
  let cut = false;
  let dropping = false;

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };

  const onConnection = (client: Socket) => {
    track(client);
    if (dropping) return; // accepted, never answered
    const upstream = connect(target.port, target.host);
    track(upstream);
    const destroyBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', destroyBoth);
    upstream.on('close', destroyBoth);
    client.on('data', (chunk: Buffer) => {
      if (dropping) return;
      if (cutPattern?.test(chunk.toString('latin1'))) {
        cutPattern = null;
        cut = true;
        destroyBoth();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!dropping) client.write(chunk);
    });
  };

  let server: Server = createServer(onConnection);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  const port = await listen(0);

  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  return {
    port,
    urlFor(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    cutOnNext(pattern) {
      cut = false;
      cutPattern = pattern;
    },
    get cut() {
      return cut;
    },
    down: stop,
    blackhole() {
      dropping = true;
    },
    restore() {
      dropping = false;
    },
    async up() {
      if (server.listening) return;
      server = createServer(onConnection);
      await listen(port);
    },
    close: stop,
  };
}
