// A TCP proxy of our own in front of one host:port, for fault-injection tests: cut the link
// (every open connection destroyed, new ones refused or left hanging) and restore it, with
// the real PostgreSQL or Temporal server behind it untouched.

import net from 'node:net';

export type CutMode =
  /** New connections are accepted and closed at once (the peer sees ECONNRESET / EOF). */
  | 'refuse'
  /** New connections are accepted and never forwarded nor answered (the peer sees a timeout). */
  | 'hang';

export interface TcpProxy {
  /** Where clients connect: 127.0.0.1 on a free port. */
  readonly address: { host: string; port: number };
  /** `host:port` of `address`. */
  readonly hostPort: string;
  /** Whether the link is cut now. */
  readonly isCut: boolean;
  /** How many connections were forwarded since the start (or the last `restore`). */
  readonly forwarded: number;
  /** Destroy every open connection, and treat new ones by `mode` until `restore()`. */
  cut(mode?: CutMode): void;
  /** Forward new connections again (hung ones from the cut are destroyed). */
  restore(): void;
  /** Stop listening and destroy every connection. */
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number } | string): Promise<TcpProxy> {
  const upstream = typeof target === 'string' ? parseHostPort(target) : target;
  const open = new Set<net.Socket>();
  let mode: CutMode | undefined;
  let forwarded = 0;

  const track = (socket: net.Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
  };

  const server = net.createServer((client) => {
    track(client);
    if (mode === 'refuse') {
      client.destroy();
      return;
    }
    if (mode === 'hang') {
      client.pause();
      return;
    }
    forwarded += 1;
    client.pause();
    const remote = net.connect({ host: upstream.host, port: upstream.port });
    track(remote);
    remote.setNoDelay(true);
    client.setNoDelay(true);
    remote.on('connect', () => {
      client.pipe(remote);
      remote.pipe(client);
      client.resume();
    });
    client.on('close', () => remote.destroy());
    remote.on('close', () => client.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  const destroyAll = () => {
    for (const socket of [...open]) socket.destroy();
    open.clear();
  };

  return {
    address: { host: '127.0.0.1', port },
    hostPort: `127.0.0.1:${port}`,
    get isCut() {
      return mode !== undefined;
    },
    get forwarded() {
      return forwarded;
    },
    cut(how: CutMode = 'refuse') {
      mode = how;
      destroyAll();
    },
    restore() {
      if (mode === 'hang') destroyAll();
      mode = undefined;
    },
    async close() {
      mode = 'refuse';
      destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function parseHostPort(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value.trim());
  if (!match) throw new Error(`not a host:port: ${value}`);
  return { host: match[1] ?? match[2], port: Number(match[3]) };
}

/** A PostgreSQL URL that reaches the same database through `proxy`. */
export function throughProxy(databaseUrl: string, proxy: TcpProxy): string {
  const url = new URL(databaseUrl);
  url.hostname = proxy.address.host;
  url.port = String(proxy.address.port);
  return url.toString();
}
