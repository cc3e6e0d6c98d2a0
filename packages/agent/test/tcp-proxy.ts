import net from 'node:net';

/**
 * A TCP forwarder between an agent and its broker, to cut the network for real: `cut()` drops
 * every connection at once (both ends see the socket die) and refuses new ones until `restore()`.
 * Counts the bytes each way (the bench reads them).
 */
export class TcpProxy {
  #server: net.Server;
  #sockets = new Set<net.Socket>();
  #cut = false;
  /** Where new connections go (a restarted server has a new broker port). */
  target: { port: number; host: string };
  bytesUp = 0;
  bytesDown = 0;

  private constructor(server: net.Server, target: { port: number; host: string }) {
    this.#server = server;
    this.target = target;
  }

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = new TcpProxy(server, { port: targetPort, host: targetHost });
    server.on('connection', (client) => {
      if (proxy.#cut) {
        client.destroy();
        return;
      }
      const upstream = net.connect(proxy.target.port, proxy.target.host);
      for (const s of [client, upstream]) {
        proxy.#sockets.add(s);
        s.on('close', () => proxy.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('data', (d) => {
        proxy.bytesUp += d.length;
        upstream.write(d);
      });
      upstream.on('data', (d) => {
        proxy.bytesDown += d.length;
        client.write(d);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  get connections(): number {
    return this.#sockets.size / 2;
  }

  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#cut = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
