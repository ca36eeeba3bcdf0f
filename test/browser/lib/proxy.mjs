// A TCP proxy on 127.0.0.1 between the browser and the server. It counts the
// bytes that reach the server, so a test can tell a resume from a restart,
// and it outlives server restarts (the page keeps its origin).
import net from 'node:net'

export class Proxy {
  // target is "host:port" of the server.
  constructor(target) {
    this.target = target
    this.bytesUp = 0 // browser-to-server bytes delivered to the server
    this.sockets = new Set()
    this.server = net.createServer((client) => this.#pipe(client))
  }

  get url() {
    const { port } = this.server.address()
    return `http://127.0.0.1:${port}`
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(0, '127.0.0.1', () => resolve(this))
    })
  }

  #pipe(client) {
    const colon = this.target.lastIndexOf(':')
    const upstream = net.connect({ host: this.target.slice(0, colon), port: Number(this.target.slice(colon + 1)) })
    for (const s of [client, upstream]) {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    }
    // Either side going away ends the other: a killed server looks to the
    // browser like a dropped connection.
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    upstream.on('data', (chunk) => client.write(chunk))
    client.on('data', (chunk) => {
      if (upstream.destroyed) return
      upstream.write(chunk)
      this.bytesUp += chunk.length
    })
  }

  close() {
    for (const s of this.sockets) s.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}
